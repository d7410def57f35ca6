/*
 * bon-sample.c - `sr-bon sample`: n samples per prompt (and optionally a
 * greedy one) from a model directory, through the trainer's generation
 * code, or from an OpenAI-compatible endpoint, through the client.
 *
 * Each input record (a prompt: `id`, `query`, ...) gives n output records:
 * the input's members followed by `sample` (0..n-1) and `response`. When
 * the response contains the reasoning close tag, `reasoning` and `answer`
 * follow, and `sampler` records how the sample was drawn. The greedy sample, with --greedy,
 * has `greedy`: true in place of `sample`.
 */
#define _GNU_SOURCE /* memmem */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bon-cmd.h"
#include "bon-judge.h"
#include "bon-sample.h"
#include "chat.h"
#include "client.h"
#include "generate.h"
#include "guideset.h"
#include "model.h"
#include "msg.h"
#include "opt.h"
#include "run.h"

static const struct option sample_options[] = {
	BON_SAMPLE_LONG_OPTIONS,
	{ "endpoint", required_argument, NULL, BON_OPT_ENDPOINT },
	{ "model", required_argument, NULL, BON_OPT_MODEL },
	{ "api-key-env", required_argument, NULL, BON_OPT_API_KEY_ENV },
	{ "concurrency", required_argument, NULL, BON_OPT_CONCURRENCY },
	{ "cache", required_argument, NULL, BON_OPT_CACHE },
	{ "retries", required_argument, NULL, BON_OPT_RETRIES },
	{ "failed", required_argument, NULL, BON_OPT_FAILED },
	{ "guidelines", required_argument, NULL, BON_OPT_TAGS },
	{ "seed", required_argument, NULL, BON_OPT_SEED },
	SR_RUN_LONG_OPTIONS,
	{ NULL, 0, NULL, 0 },
};

static void sample_usage(void)
{
	printf("Usage: sr-bon sample (-m DIR | --endpoint URL --model NAME) [OPTION]... [FILE]...\n"
	       "Sample N responses per prompt record (`id`, `query`) and write one record\n"
	       "per (prompt, sample) with `sample`, `response` and, for reasoning models,\n"
	       "`reasoning` and `answer`.\n\n"
	       "  -m, --model-dir DIR     sample a model directory (config.json,\n"
	       "                          model.safetensors, tokenizer.json)\n"
	       "      --endpoint URL      or sample a chat-completions endpoint (.../v1)\n"
	       "      --model NAME        the model's name at the endpoint\n"
	       BON_SAMPLE_HELP
	       "      --seed N            sampling seed (default 0)\n"
	       "      --guidelines SET    split at this guideline set's reasoning tags\n"
	       "                          (default <think> and </think>)\n"
	       "      --api-key-env VAR   environment variable holding the API key\n"
	       "      --concurrency N     requests in flight (default 16)\n"
	       "      --cache FILE        response cache (default under ~/.cache/srkit; \"\" = none)\n"
	       "      --retries N         HTTP retries per request (default 8)\n"
	       "      --failed FILE       write prompts whose request failed here (without it\n"
	       "                          such a failure stops the run)\n"
	       SR_RUN_HELP);
}

void bon_sample_config_init(struct bon_sample_config *sc)
{
	memset(sc, 0, sizeof *sc);
	sc->n = 1;
	sc->temperature = 1.0;
	sc->top_p = 1.0;
	sc->max_tokens = 256;
	sc->batch = 16;
	sc->open = "<think>";
	sc->close = "</think>";
	sr_client_config_init(&sc->client);
}

int bon_sample_option(struct bon_sample_config *sc, int opt, const char *arg)
{
	long v;
	double d;
	uint64_t u;
	int handled = bon_client_option(&sc->client, opt, arg);

	if (handled != 0)
		return handled;
	switch (opt) {
	case 'm':
		sc->model_dir = arg;
		return 1;
	case 'n':
		if (sr_parse_int(arg, 1, SR_BON_MAX_INDEX + 1l, &v) < 0)
			return sr_msg_usage("invalid -n value '%s' (expected 1 to %u samples)", arg, SR_BON_MAX_INDEX + 1), -1;
		sc->n = (int)v;
		return 1;
	case BON_OPT_TEMPERATURE:
		if (sr_parse_double(arg, 0.0, 100.0, &d) < 0)
			return sr_msg_usage("invalid --temperature value '%s' (expected 0 to 100)", arg), -1;
		sc->temperature = d;
		return 1;
	case BON_OPT_TOP_P:
		if (sr_parse_double(arg, 0.0, 1.0, &d) < 0 || d <= 0.0)
			return sr_msg_usage("invalid --top-p value '%s' (expected more than 0, at most 1)", arg), -1;
		sc->top_p = d;
		return 1;
	case BON_OPT_MAX_TOKENS:
		if (sr_parse_int(arg, 1, 1 << 20, &v) < 0)
			return sr_msg_usage("invalid --max-tokens value '%s' (expected 1 to 1048576)", arg), -1;
		sc->max_tokens = (int)v;
		return 1;
	case BON_OPT_GREEDY:
		sc->greedy = 1;
		return 1;
	case BON_OPT_SYSTEM:
		sc->system = arg;
		return 1;
	case BON_OPT_TEMPLATE:
		sc->template_name = arg;
		return 1;
	case BON_OPT_GEN_BATCH:
		if (sr_parse_int(arg, 1, 4096, &v) < 0)
			return sr_msg_usage("invalid --gen-batch value '%s' (expected 1 to 4096)", arg), -1;
		sc->batch = (int)v;
		return 1;
	case BON_OPT_SEED:
		if (sr_parse_u64(arg, 0, &u) < 0)
			return sr_msg_usage("invalid --seed value '%s' (expected a non-negative integer)", arg), -1;
		sc->seed = u;
		return 1;
	case BON_OPT_FAILED:
		sc->failed_path = arg;
		return 1;
	case BON_OPT_TAGS: {
		struct sr_guideset *gs;
		struct sr_error err;
		if (sr_guideset_load(arg, &gs, &err) < 0) {
			sr_msg_report(&err);
			return -1;
		}
		snprintf(sc->tag_buf[0], sizeof sc->tag_buf[0], "%s", gs->open);
		snprintf(sc->tag_buf[1], sizeof sc->tag_buf[1], "%s", gs->close);
		sc->open = sc->tag_buf[0];
		sc->close = sc->tag_buf[1];
		sr_guideset_free(gs);
		return 1;
	}
	default:
		return 0;
	}
}

static void client_log(void *user, int level, const char *message)
{
	(void)user;
	if (level == SR_CLIENT_LOG_WARN)
		sr_msg_warn("%s", message);
	else if (level == SR_CLIENT_LOG_NOTICE)
		sr_msg_notice("%s", message);
	else
		sr_msg_debug("%s", message);
}

int bon_sampler_open(struct bon_sampler *s, struct bon_sample_config *sc, struct sr_error *err)
{
	int rc;
	memset(s, 0, sizeof *s);
	s->cfg = sc;
	if (!!sc->model_dir == !!sc->client.endpoint)
		return sr_fail(err, SR_EUSAGE, "give either -m DIR or --endpoint URL (with --model NAME)");
	if (sc->model_dir) {
		if ((rc = sr_generator_open(sc->model_dir, sc->template_name, &s->gen, err)) < 0)
			return rc;
	} else {
		if (!sc->client.model)
			return sr_fail(err, SR_EUSAGE, "--endpoint needs --model NAME");
		sc->client.log = client_log;
		if ((rc = sr_client_new(&sc->client, &s->client, err)) < 0)
			return rc;
	}
	if (sc->failed_path && (rc = sr_output_open(sc->failed_path, SR_OUTPUT_ATOMIC, &s->failed, err)) < 0)
		return rc;
	return 0;
}

int bon_sampler_close(struct bon_sampler *s, int rc, struct sr_error *err)
{
	if (rc >= 0 && s->failed)
		rc = sr_output_commit(s->failed, err);
	sr_output_free(s->failed);
	sr_client_free(s->client);
	sr_generator_free(s->gen);
	memset(s, 0, sizeof *s);
	return rc;
}

/* One prompt of a batch and its samples' texts ([n + greedy]). */
struct prompt {
	struct sr_record rec;
	json_t *messages;
	char **texts;
	size_t *text_lens;          /* bytes in texts[k], which may hold U+0000 */
	char **finish;              /* finish reasons, NULL when unknown */
	struct sr_client_error error;
};

static void prompt_release(struct prompt *p, int count)
{
	sr_record_release(&p->rec);
	json_decref(p->messages);
	for (int i = 0; p->texts && i < count; i++)
		free(p->texts[i]);
	for (int i = 0; p->finish && i < count; i++)
		free(p->finish[i]);
	free(p->texts);
	free(p->text_lens);
	free(p->finish);
	memset(p, 0, sizeof *p);
}

/* The conversation of one prompt. query[0..len) is taken whole, a U+0000
 * inside it included. */
static json_t *build_messages(const struct bon_sample_config *sc, const char *query, size_t len)
{
	if (sc->system)
		return json_pack("[{s:s,s:s},{s:s,s:s%}]", "role", "system", "content", sc->system,
		                 "role", "user", "content", query, len);
	return json_pack("[{s:s,s:s%}]", "role", "user", "content", query, len);
}

/* Reject a prompt that fills the model's context, because no position would
 * be left for the reply. It is a fault of that record, so it names the
 * record, falls under --on-error and is never passed to the generator. */
static int check_prompt_length(struct bon_sampler *s, const json_t *messages, const char *id,
                               struct sr_error *err)
{
	struct sr_chat_seq seq;
	memset(&seq, 0, sizeof seq);
	int rc = sr_chat_encode_prompt(sr_generator_chat(s->gen), messages, &seq, err);
	size_t tokens = seq.len;
	sr_chat_seq_release(&seq);
	if (rc < 0)
		return rc;
	int positions = sr_generator_model(s->gen)->cfg.max_position_embeddings;
	if (tokens < (size_t)positions)
		return 0;
	sr_fail(err, SR_EDATA, "record '%s': prompt has %zu tokens, but the model has %d positions, "
	        "which leaves no room for a reply (shorten the query or use a model with a longer context)",
	        id, tokens, positions);
	snprintf(err->field, sizeof err->field, "query");
	return SR_EDATA;
}

/* Seed of one (prompt, sample): the same for a prompt wherever it sits in
 * the input. The greedy sample uses index n. */
static uint64_t sample_seed(const struct bon_sample_config *sc, const char *id, int index)
{
	return sr_hash_mix(sc->seed, id, (uint64_t)index);
}

static int generate_batch(struct bon_sampler *s, struct prompt *ps, size_t np, struct sr_error *err)
{
	const struct bon_sample_config *sc = s->cfg;
	int per = sc->n + sc->greedy;
	size_t total = np * (size_t)sc->n;
	const json_t **msgs = calloc(total ? total : 1, sizeof *msgs);
	uint64_t *seeds = calloc(total ? total : 1, sizeof *seeds);
	char **texts = calloc(total ? total : 1, sizeof *texts);
	enum sr_gen_finish *fin = calloc(total ? total : 1, sizeof *fin);
	int rc = 0;

	if (!msgs || !seeds || !texts || !fin) {
		rc = sr_fail(err, SR_ENOMEM, "out of memory");
		goto out;
	}
	struct sr_gen_params gp;
	sr_gen_params_defaults(&gp);
	gp.max_new_tokens = sc->max_tokens;
	gp.temperature = sc->temperature;
	gp.top_p = sc->top_p;
	gp.seed = sc->seed;

	/* Sampled replies: prompt-major, sample-minor, in chunks of batch. */
	for (size_t i = 0; i < total; i++) {
		msgs[i] = ps[i / sc->n].messages;
		seeds[i] = sample_seed(sc, sr_record_get_str(&ps[i / sc->n].rec, "id", NULL), (int)(i % sc->n));
	}
	for (size_t at = 0; at < total && rc == 0; at += (size_t)sc->batch) {
		size_t cnt = total - at < (size_t)sc->batch ? total - at : (size_t)sc->batch;
		rc = sr_generator_reply(s->gen, msgs + at, cnt, &gp, seeds + at, texts + at, fin + at, err);
	}
	/* NOTE: the generator returns NUL-terminated replies, so a reply that
	 * decodes to a U+0000 ends there. */
	for (size_t i = 0; i < total; i++) {
		ps[i / sc->n].texts[i % sc->n] = texts[i];
		ps[i / sc->n].text_lens[i % sc->n] = texts[i] ? strlen(texts[i]) : 0;
		ps[i / sc->n].finish[i % sc->n] = strdup(fin[i] == SR_GEN_STOP ? "stop" : "length");
	}
	if (rc == 0 && sc->greedy) {
		gp.temperature = 0.0;
		for (size_t at = 0; at < np && rc == 0; at += (size_t)sc->batch) {
			size_t cnt = np - at < (size_t)sc->batch ? np - at : (size_t)sc->batch;
			for (size_t i = 0; i < cnt; i++)
				msgs[i] = ps[at + i].messages;
			rc = sr_generator_reply(s->gen, msgs, cnt, &gp, NULL, texts, fin, err);
			for (size_t i = 0; rc == 0 && i < cnt; i++) {
				ps[at + i].texts[per - 1] = texts[i];
				ps[at + i].text_lens[per - 1] = strlen(texts[i]);
				ps[at + i].finish[per - 1] = strdup(fin[i] == SR_GEN_STOP ? "stop" : "length");
			}
		}
	}
out:
	free(msgs);
	free(seeds);
	free(texts);
	free(fin);
	return rc;
}

static int endpoint_batch(struct bon_sampler *s, struct prompt *ps, size_t np, struct sr_error *err)
{
	const struct bon_sample_config *sc = s->cfg;
	int per = sc->n + sc->greedy;
	json_t **bodies = calloc(np ? np : 1, sizeof *bodies);
	struct sr_client_result **res = NULL;
	int rc = 0;

	if (!bodies)
		return sr_fail(err, SR_ENOMEM, "out of memory");
	for (int pass = 0; pass < 1 + sc->greedy && rc == 0; pass++) {
		int greedy = pass == 1;
		for (size_t i = 0; i < np; i++) {
			bodies[i] = json_pack("{s:O,s:f,s:f,s:i}", "messages", ps[i].messages,
			                      "temperature", greedy ? 0.0 : sc->temperature,
			                      "top_p", greedy ? 1.0 : sc->top_p, "max_tokens", sc->max_tokens);
			if (bodies[i] && !greedy)
				json_object_set_new(bodies[i], "seed",
				                    json_integer((json_int_t)(sample_seed(sc, sr_record_get_str(&ps[i].rec, "id", NULL), 0) >> 1)));
			if (!bodies[i])
				rc = sr_fail(err, SR_ENOMEM, "out of memory");
		}
		if (rc == 0)
			rc = sr_client_batch(s->client, bodies, np, greedy ? 1 : sc->n, &res, err);
		for (size_t i = 0; res && i < np; i++) {
			struct sr_client_result *r = res[i];
			for (int k = 0; k < r->n; k++) {
				int slot = greedy ? per - 1 : k;
				struct sr_client_sample *smp = &r->samples[k];
				if (!smp->text) {
					if (!ps[i].error.kind[0])
						ps[i].error = smp->error;
					continue;
				}
				ps[i].texts[slot] = smp->text;
				ps[i].text_lens[slot] = smp->len;
				smp->text = NULL; /* taken over; the result no longer frees it */
				ps[i].finish[slot] = smp->finish_reason ? strdup(smp->finish_reason) : NULL;
			}
		}
		if (res)
			sr_client_results_free(res, np);
		res = NULL;
		for (size_t i = 0; i < np; i++)
			json_decref(bodies[i]);
	}
	free(bodies);
	return rc;
}

/* Write the records of one prompt: n samples, then the greedy one. */
/* The model's name in records: the directory's last component, so that
 * records do not depend on where the model lies. */
static void model_name(const char *dir, char *buf, size_t cap)
{
	size_t len = strlen(dir);
	while (len > 1 && dir[len - 1] == '/')
		len--;
	size_t start = len;
	while (start > 0 && dir[start - 1] != '/')
		start--;
	snprintf(buf, cap, "%.*s", (int)(len - start), dir + start);
}

static int emit_prompt(struct bon_sampler *s, struct sr_run *run, struct prompt *p, struct sr_error *err)
{
	const struct bon_sample_config *sc = s->cfg;
	int per = sc->n + sc->greedy;
	int rc = 0;
	char name[256];

	if (s->gen)
		model_name(sc->model_dir, name, sizeof name);
	for (int k = 0; k < per && rc == 0; k++) {
		const char *text = p->texts[k];
		size_t text_len = p->text_lens[k];
		int greedy = sc->greedy && k == per - 1;
		json_t *sampler = json_pack("{s:s,s:s,s:f,s:f,s:i,s:I}", "backend",
		                            s->gen ? "model" : "endpoint",
		                            "model", s->gen ? name : sc->client.model,
		                            "temperature", greedy ? 0.0 : sc->temperature,
		                            "top_p", greedy ? 1.0 : sc->top_p, "max_tokens", sc->max_tokens,
		                            "seed", (json_int_t)sc->seed);
		if (!sampler)
			return sr_fail(err, SR_ENOMEM, "out of memory");
		if (s->client)
			json_object_set_new(sampler, "endpoint", json_string(sr_client_host(s->client)));
		json_object_set_new(sampler, "finish_reason", p->finish[k] ? json_string(p->finish[k]) : json_null());

		if (greedy) {
			rc |= sr_record_set(&p->rec, "greedy", json_true());
			sr_record_del(&p->rec, "sample");
		} else {
			sr_record_del(&p->rec, "greedy");
			rc |= sr_record_set(&p->rec, "sample", json_integer(k));
		}
		rc |= sr_record_set(&p->rec, "response", json_stringn(text, text_len));
		const char *r, *a;
		size_t rlen, alen;
		int flags = sr_split_completion(text, text_len, sc->open, sc->close, &r, &rlen, &a, &alen);
		if (!(flags & SR_SPLIT_NO_CLOSE) && memmem(text, text_len, sc->close, strlen(sc->close))) {
			rc |= sr_record_set(&p->rec, "reasoning", json_stringn(r, rlen));
			rc |= sr_record_set(&p->rec, "answer", json_stringn(a, alen));
		} else {
			sr_record_del(&p->rec, "reasoning");
			sr_record_del(&p->rec, "answer");
		}
		rc |= sr_record_set(&p->rec, "sampler", sampler);
		if (rc)
			return sr_fail(err, SR_ENOMEM, "out of memory");
		if ((rc = sr_run_emit(run, &p->rec, err)) < 0)
			return rc;
		s->samples++;
	}
	return rc;
}

static int failed_prompt(struct bon_sampler *s, struct sr_run *run, struct prompt *p, struct sr_error *err)
{
	const char *id = sr_record_get_str(&p->rec, "id", NULL);
	run->failed++;
	if (!s->failed) {
		sr_fail(err, SR_EENDPOINT, "sampling prompt '%s' failed (%s): %s; use --failed FILE to set such "
		        "prompts aside", id ? id : "?", p->error.kind, p->error.message);
		return SR_EENDPOINT;
	}
	json_t *e = json_pack("{s:s,s:s,s:I,s:i}", "kind", p->error.kind, "message", p->error.message,
	                      "status", (json_int_t)p->error.status, "attempts", p->error.attempts);
	if (!e || sr_record_set(&p->rec, "error", e) < 0)
		return sr_fail(err, SR_ENOMEM, "out of memory");
	char *buf = NULL;
	size_t cap = 0;
	long len = sr_record_serialize(&p->rec, &buf, &cap);
	if (len < 0)
		return sr_fail(err, SR_ENOMEM, "out of memory");
	int rc = sr_output_write(s->failed, buf, (size_t)len, err);
	free(buf);
	return rc;
}

static int sample_batch(struct bon_sampler *s, struct sr_run *run, struct prompt *ps, size_t np,
                        struct sr_error *err)
{
	int per = s->cfg->n + s->cfg->greedy;
	int rc = s->gen ? generate_batch(s, ps, np, err) : endpoint_batch(s, ps, np, err);
	for (size_t i = 0; i < np && rc == 0; i++) {
		int complete = 1;
		for (int k = 0; k < per; k++)
			complete &= ps[i].texts[k] != NULL;
		if (!complete && !ps[i].error.kind[0])
			snprintf(ps[i].error.kind, sizeof ps[i].error.kind, "aborted");
		rc = complete ? emit_prompt(s, run, &ps[i], err) : failed_prompt(s, run, &ps[i], err);
	}
	return rc;
}

int bon_sample_stream(struct bon_sampler *s, struct sr_run *run, struct sr_error *err)
{
	const struct bon_sample_config *sc = s->cfg;
	int per = sc->n + sc->greedy;
	/* Prompts per batch: enough to keep the generator or the endpoint busy. */
	size_t cap = s->gen ? (size_t)(sc->batch + sc->n - 1) / (size_t)sc->n + 1 : 64;
	struct prompt *ps = calloc(cap, sizeof *ps);
	struct sr_record rec;
	size_t np = 0;
	int rc;

	if (!ps)
		return sr_fail(err, SR_ENOMEM, "out of memory");
	sr_record_init(&rec);
	while ((rc = sr_run_next(run, &rec, err)) > 0) {
		struct prompt *p = &ps[np];
		const char *id = sr_record_get_str(&rec, "id", NULL);
		size_t query_len;
		const char *query = sr_record_get_str(&rec, "query", &query_len);
		if (!id || !query) {
			sr_fail(err, SR_EDATA, "missing '%s' (a string)", id ? "query" : "id");
			snprintf(err->field, sizeof err->field, "%s", id ? "query" : "id");
			if ((rc = sr_run_bad_record(run, err)) < 0)
				break;
			continue;
		}
		sr_record_init(&p->rec);
		p->texts = calloc((size_t)per, sizeof *p->texts);
		p->text_lens = calloc((size_t)per, sizeof *p->text_lens);
		p->finish = calloc((size_t)per, sizeof *p->finish);
		if (sr_record_parse(&p->rec, rec.line, rec.len, err) < 0 || sr_record_own(&p->rec) < 0 ||
		    !p->texts || !p->text_lens || !p->finish ||
		    !(p->messages = build_messages(sc, query, query_len))) {
			prompt_release(p, per);
			rc = sr_fail(err, SR_ENOMEM, "out of memory");
			break;
		}
		p->rec.file = rec.file;
		p->rec.lineno = rec.lineno;
		if (s->gen && (rc = check_prompt_length(s, p->messages, id, err)) < 0) {
			prompt_release(p, per);
			if (rc != SR_EDATA || (rc = sr_run_bad_record(run, err)) < 0)
				break;
			continue;
		}
		if (++np == cap) {
			rc = sample_batch(s, run, ps, np, err);
			for (size_t i = 0; i < np; i++)
				prompt_release(&ps[i], per);
			np = 0;
			if (rc < 0)
				break;
		}
	}
	if (rc == 0 && np)
		rc = sample_batch(s, run, ps, np, err);
	for (size_t i = 0; i < np; i++)
		prompt_release(&ps[i], per);
	sr_record_release(&rec);
	free(ps);
	return rc;
}

int bon_sample_main(int argc, char **argv)
{
	struct sr_run run;
	struct sr_error err;
	struct bon_sample_config sc;
	struct bon_sampler s = {0};
	int opt, rc;

	sr_run_init(&run, "sr-bon");
	sr_error_clear(&err);
	bon_sample_config_init(&sc);
	while ((opt = getopt_long(argc, argv, "m:n:o:qvhV", sample_options, NULL)) != -1) {
		if ((rc = sr_run_option(&run, opt, optarg)) != 0 || (rc = bon_sample_option(&sc, opt, optarg)) != 0) {
			if (rc < 0)
				goto usage;
			continue;
		}
		switch (opt) {
		case 'h':
			sample_usage();
			sr_run_release(&run);
			return SR_EXIT_OK;
		case 'V':
			sr_print_version("sr-bon");
			sr_run_release(&run);
			return SR_EXIT_OK;
		default:
			sr_msg_usage("invalid option");
			goto usage;
		}
	}
	run.count_failed = 1;
	if ((rc = bon_sampler_open(&s, &sc, &err)) == 0 &&
	    (rc = sr_run_open(&run, argc - optind, argv + optind, &err)) == 0)
		rc = bon_sample_stream(&s, &run, &err);
	json_object_set_new(run.stats, "samples", json_integer((json_int_t)s.samples));
	rc = bon_sampler_close(&s, rc, &err);
	if (rc == SR_EUSAGE) {
		sr_msg_usage("%s", err.message);
		sr_run_release(&run);
		return SR_EXIT_USAGE;
	}
	rc = sr_run_finish(&run, rc, &err);
	return sr_run_exit(&run, rc, &err);
usage:
	sr_run_release(&run);
	return SR_EXIT_USAGE;
}
