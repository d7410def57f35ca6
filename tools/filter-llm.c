/* filter-llm.c - the LLM judge of sr-filter (see filter-llm.h). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "filter-llm.h"
#include "msg.h"
#include "opt.h"
#include "util.h"

/* The reply passes when this matches, unless the rule gives pass_pattern. */
#define DEFAULT_PASS_PATTERN "(?i)\\bverdict\\s*[:=]\\s*\\**\\s*pass\\b"

struct llm_judge {
	struct sr_client *client;
	const char *system;
	double temperature;
	long max_tokens;
	pcre2_code **pass;          /* per rule; NULL for rules of other kinds */
	pcre2_match_data *md;
	size_t nrules;
	uint64_t requests, failed;
};

void llm_judge_options_init(struct llm_judge_options *o)
{
	memset(o, 0, sizeof *o);
	o->concurrency = 4;
	o->timeout = -1;
	o->max_retries = -1;
}

int llm_judge_option(struct llm_judge_options *o, int idx, const char *arg)
{
	double d;
	switch (idx) {
	case 0: o->endpoint = arg; return 1;
	case 1: o->model = arg; return 1;
	case 2: o->api_key_env = arg; return 1;
	case 3: o->cache = arg; return 1;
	case 4: o->cache = ""; return 1;
	case 5:
		if (sr_parse_double(arg, 0.001, 86400, &d) < 0)
			return sr_msg_usage("invalid --judge-timeout value '%s' (expected seconds)", arg), SR_EUSAGE;
		o->timeout = d;
		return 1;
	case 6:
		if (sr_parse_int(arg, 0, 100, &o->max_retries) < 0)
			return sr_msg_usage("invalid --judge-max-retries value '%s' (expected 0 to 100)", arg), SR_EUSAGE;
		return 1;
	case 7:
		if (sr_parse_int(arg, 1, 1024, &o->concurrency) < 0)
			return sr_msg_usage("invalid --judge-concurrency value '%s' (expected 1 to 1024)", arg), SR_EUSAGE;
		return 1;
	default:
		return 0;
	}
}

static void client_log(void *user, int level, const char *message)
{
	if (level == SR_CLIENT_LOG_WARN)
		sr_msg_warn("judge endpoint: %s", message);
	else if (level == SR_CLIENT_LOG_NOTICE)
		sr_msg_notice("judge endpoint: %s", message);
	else
		sr_msg_debug("judge endpoint: %s", message);
}

int llm_judge_new(const struct llm_judge_options *o, const struct sr_rules *rules,
                  struct llm_judge **out, struct sr_error *err)
{
	size_t n = sr_rules_count(rules), nllm = 0;
	json_t *cfgj = sr_rules_judge_config(rules);
	const char *endpoint = o->endpoint ? o->endpoint : getenv("SR_JUDGE_ENDPOINT");
	const char *model = o->model ? o->model : getenv("SR_JUDGE_MODEL");
	struct llm_judge *j;
	int rc;

	*out = NULL;
	for (size_t i = 0; i < n; i++)
		nllm += sr_rules_rule_kind(rules, i) == SR_RULE_LLM;
	if (endpoint && !*endpoint)
		endpoint = NULL;
	if (!endpoint) {
		if (nllm)
			sr_msg_notice("no --judge-endpoint: %zu rule(s) of kind llm are not applied", nllm);
		return 0;
	}
	if (!nllm) {
		sr_msg_warn("--judge-endpoint given, but the rules have no rule of kind llm");
		return 0;
	}
	if (!model)
		model = json_string_value(json_object_get(cfgj, "model"));
	if (!model)
		return sr_fail(err, SR_EUSAGE, "the LLM judge needs a model: --judge-model, "
		               "SR_JUDGE_MODEL or judge.model in the rules file");
	if (!(j = calloc(1, sizeof *j)) || !(j->pass = calloc(n, sizeof *j->pass)) ||
	    !(j->md = pcre2_match_data_create(1, NULL))) {
		llm_judge_free(j);
		return sr_fail(err, SR_ENOMEM, "out of memory");
	}
	j->nrules = n;
	j->system = json_string_value(json_object_get(cfgj, "system"));
	j->temperature = json_is_number(json_object_get(cfgj, "temperature"))
	                 ? json_number_value(json_object_get(cfgj, "temperature")) : 0.0;
	j->max_tokens = json_is_integer(json_object_get(cfgj, "max_tokens"))
	                ? (long)json_integer_value(json_object_get(cfgj, "max_tokens")) : 512;
	for (size_t i = 0; i < n; i++) {
		if (sr_rules_rule_kind(rules, i) != SR_RULE_LLM)
			continue;
		const char *pat = json_string_value(json_object_get(sr_rules_rule_options(rules, i), "pass_pattern"));
		int ec;
		PCRE2_SIZE eo;
		j->pass[i] = pcre2_compile((PCRE2_SPTR)(pat ? pat : DEFAULT_PASS_PATTERN),
		                           PCRE2_ZERO_TERMINATED, PCRE2_UTF, &ec, &eo, NULL);
		if (!j->pass[i]) {
			llm_judge_free(j);
			return sr_fail(err, SR_EDATA, "rule '%s': invalid pass_pattern", sr_rules_rule_name(rules, i));
		}
	}
	struct sr_client_config cfg;
	sr_client_config_init(&cfg);
	cfg.endpoint = endpoint;
	cfg.model = model;
	cfg.api_key_env = o->api_key_env;
	cfg.cache_path = o->cache;
	cfg.concurrency = (int)o->concurrency;
	if (o->timeout > 0)
		cfg.timeout = o->timeout;
	if (o->max_retries >= 0)
		cfg.max_retries = (int)o->max_retries;
	cfg.use_n = 0;
	cfg.log = client_log;
	if ((rc = sr_client_new(&cfg, &j->client, err)) < 0) {
		llm_judge_free(j);
		return rc;
	}
	*out = j;
	return 0;
}

void llm_judge_free(struct llm_judge *j)
{
	if (!j)
		return;
	for (size_t i = 0; j->pass && i < j->nrules; i++)
		pcre2_code_free(j->pass[i]);
	free(j->pass);
	pcre2_match_data_free(j->md);
	sr_client_free(j->client);
	free(j);
}

/* Fill {{name}} placeholders from the record; unknown names stay as written. */
static int fill_prompt(const char *tmpl, struct sr_record *rec, struct sr_buf *out)
{
	const char *p = tmpl;
	sr_buf_reset(out);
	while (*p) {
		const char *open = strstr(p, "{{");
		const char *close = open ? strstr(open + 2, "}}") : NULL;
		if (!open || !close) {
			if (sr_buf_puts(out, p) < 0)
				return SR_ENOMEM;
			break;
		}
		if (sr_buf_append(out, p, (size_t)(open - p)) < 0)
			return SR_ENOMEM;
		char key[64];
		snprintf(key, sizeof key, "%.*s", (int)(close - open - 2), open + 2);
		json_t *v = NULL;
		if (!strcmp(key, "guidelines"))
			v = json_object_get(sr_record_get(rec, "guidelines"), "ids");
		else if (!strcmp(key, "query") || !strcmp(key, "reasoning") || !strcmp(key, "answer") ||
		         !strcmp(key, "label") || !strcmp(key, "completion"))
			v = sr_record_get(rec, key);
		if (json_is_string(v)) {
			if (sr_buf_puts(out, json_string_value(v)) < 0)
				return SR_ENOMEM;
		} else if (v) {
			char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
			int rc = s ? sr_buf_puts(out, s) : SR_ENOMEM;
			free(s);
			if (rc < 0)
				return SR_ENOMEM;
		} else if (!strcmp(key, "guidelines") || !strcmp(key, "query") || !strcmp(key, "reasoning") ||
		           !strcmp(key, "answer") || !strcmp(key, "label") || !strcmp(key, "completion")) {
			/* a known field the record lacks: empty */
		} else if (sr_buf_append(out, open, (size_t)(close + 2 - open)) < 0) {
			return SR_ENOMEM;
		}
		p = close + 2;
	}
	return 0;
}

static int rule_applies(json_t *opts, struct sr_record *rec)
{
	json_t *labels = json_object_get(opts, "labels"), *l;
	const char *label = sr_record_get_str(rec, "label", NULL);
	size_t k;
	if (!labels)
		return 1;
	json_array_foreach(labels, k, l)
		if (label && !strcmp(json_string_value(l), label))
			return 1;
	return 0;
}

static json_t *request_body(const struct llm_judge *j, const char *prompt)
{
	json_t *msgs = json_array();
	if (j->system)
		json_array_append_new(msgs, json_pack("{s:s,s:s}", "role", "system", "content", j->system));
	json_array_append_new(msgs, json_pack("{s:s,s:s}", "role", "user", "content", prompt));
	/* "o" steals msgs */
	return json_pack("{s:o,s:f,s:I}", "messages", msgs, "temperature", j->temperature,
	                 "max_tokens", (json_int_t)j->max_tokens);
}

int llm_judge_eval(struct llm_judge *j, const struct sr_rules *rules, struct sr_record **recs,
                   struct sr_rules_result **results, size_t n, struct sr_error *err)
{
	struct sr_buf prompt = {0};
	size_t cap = n * j->nrules, count = 0;
	json_t **bodies = calloc(cap ? cap : 1, sizeof *bodies);
	size_t *which = calloc(cap ? cap : 1, sizeof *which); /* record * nrules + rule */
	struct sr_client_result **out = NULL;
	int rc = 0;

	if (!bodies || !which) {
		rc = sr_fail(err, SR_ENOMEM, "out of memory");
		goto done;
	}
	for (size_t r = 0; r < n; r++) {
		if (results[r]->failed)
			continue; /* only records that pass every other rule */
		for (size_t i = 0; i < j->nrules; i++) {
			json_t *opts = sr_rules_rule_options(rules, i);
			if (!j->pass[i] || !rule_applies(opts, recs[r]))
				continue;
			if (fill_prompt(json_string_value(json_object_get(opts, "prompt")), recs[r], &prompt) < 0 ||
			    !(bodies[count] = request_body(j, prompt.data))) {
				rc = sr_fail(err, SR_ENOMEM, "out of memory");
				goto done;
			}
			which[count++] = r * j->nrules + i;
		}
	}
	if (count == 0)
		goto done;
	j->requests += count;
	rc = sr_client_batch(j->client, bodies, count, 1, &out, err);
	for (size_t q = 0; rc == 0 && q < count; q++) {
		size_t r = which[q] / j->nrules, i = which[q] % j->nrules;
		const struct sr_client_sample *s = out[q] ? &out[q]->samples[0] : NULL;
		struct sr_check *ck = &results[r]->checks[i];
		if (!s || !s->text) {
			j->failed++;
			rc = sr_fail(err, SR_EENDPOINT, "judge request for rule '%s' failed: %s: %s",
			             sr_rules_rule_name(rules, i), s ? s->error.kind : "?",
			             s ? s->error.message : "no result");
			break;
		}
		int m = pcre2_match(j->pass[i], (PCRE2_SPTR)s->text, s->len, 0, 0, j->md, NULL);
		ck->applies = 1;
		ck->pass = m >= 0;
		snprintf(ck->detail, sizeof ck->detail, "judge replied: %.200s", s->text);
		results[r]->failed += !ck->pass;
	}
done:
	if (out)
		sr_client_results_free(out, count);
	for (size_t q = 0; bodies && q < count; q++)
		json_decref(bodies[q]);
	free(bodies);
	free(which);
	sr_buf_release(&prompt);
	return rc;
}

void llm_judge_stats(const struct llm_judge *j, json_t *stats)
{
	json_object_set_new(stats, "llm_judge", json_pack("{s:I,s:I}", "requests", (json_int_t)j->requests,
	                                                  "failed", (json_int_t)j->failed));
}
