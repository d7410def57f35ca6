/* sr-attack - write each query record once per disguising transform. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "attack.h"
#include "client.h"
#include "guideset.h"
#include "msg.h"
#include "opt.h"
#include "record.h"
#include "run.h"
#include "util.h"

#define MAX_ATTACKS 64
#define BATCH_DEFAULT 64

enum {
	OPT_ATTACKS = SR_OPT_TOOL_BASE,
	OPT_ALL,
	OPT_LIST,
	OPT_SEED,
	OPT_SHIFT,
	OPT_LANGUAGE,
	OPT_TEMPLATES,
	OPT_ENDPOINT,
	OPT_MODEL,
	OPT_API_KEY_ENV,
	OPT_CONCURRENCY,
	OPT_TEMPERATURE,
	OPT_MAX_TOKENS,
	OPT_CACHE,
	OPT_TIMEOUT,
	OPT_RETRIES,
	OPT_FAILED,
	OPT_BATCH,
	OPT_GUIDELINES,
};

static const struct option long_options[] = {
	{"attacks", required_argument, NULL, OPT_ATTACKS},
	{"all", no_argument, NULL, OPT_ALL},
	{"list", no_argument, NULL, OPT_LIST},
	{"seed", required_argument, NULL, OPT_SEED},
	{"shift", required_argument, NULL, OPT_SHIFT},
	{"language", required_argument, NULL, OPT_LANGUAGE},
	{"templates", required_argument, NULL, OPT_TEMPLATES},
	{"endpoint", required_argument, NULL, OPT_ENDPOINT},
	{"model", required_argument, NULL, OPT_MODEL},
	{"api-key-env", required_argument, NULL, OPT_API_KEY_ENV},
	{"concurrency", required_argument, NULL, OPT_CONCURRENCY},
	{"temperature", required_argument, NULL, OPT_TEMPERATURE},
	{"max-tokens", required_argument, NULL, OPT_MAX_TOKENS},
	{"cache", required_argument, NULL, OPT_CACHE},
	{"timeout", required_argument, NULL, OPT_TIMEOUT},
	{"retries", required_argument, NULL, OPT_RETRIES},
	{"failed", required_argument, NULL, OPT_FAILED},
	{"batch", required_argument, NULL, OPT_BATCH},
	{"guidelines", required_argument, NULL, OPT_GUIDELINES},
	SR_RUN_LONG_OPTIONS,
	{NULL, 0, NULL, 0},
};

static void usage(void)
{
	printf("Usage: sr-attack [OPTION]... [FILE]...\n"
	       "Write each query record once per attack, with the query disguised, id\n"
	       "<base_id>:<attack>, and attack, base_query and base_id set.\n"
	       "\n"
	       "  -a, --attacks LIST      comma-separated attack names (see --list)\n"
	       "      --all               every offline attack; with --endpoint also the\n"
	       "                          model-driven ones (translate only with --language)\n"
	       "      --list              print the attack names with descriptions and exit\n"
	       "      --seed N            seed for template variants and random choices (default 0)\n"
	       "      --shift N           caesar shift, 1 to 25 (default 3)\n"
	       "      --language NAME     target language of translate\n"
	       "      --templates FILE    wording of the attacks (default: templates/attacks.json)\n"
	       "      --endpoint URL      OpenAI-compatible base URL (ending in /v1)\n"
	       "      --model NAME        model for the model-driven attacks\n"
	       "      --api-key-env VAR   environment variable with the API key (OPENAI_API_KEY)\n"
	       "      --concurrency N     requests in flight (default 16)\n"
	       "      --temperature T     sampling temperature (default: the endpoint's)\n"
	       "      --max-tokens N      longest reply in tokens (default: the endpoint's)\n"
	       "      --cache FILE        response cache (default under ~/.cache/srkit; '' = none)\n"
	       "      --timeout SEC       seconds for one request attempt (default 600)\n"
	       "      --retries N         retries after a failed attempt (default 8)\n"
	       "      --failed FILE       write records whose model request failed here\n"
	       "      --batch N           records per batch of model requests (default 64)\n"
	       "      --guidelines SET    drop a leading reasoning block between this guideline\n"
	       "                          set's tags from replies (default <think>, </think>)\n"
	       SR_RUN_HELP);
}

static void list_attacks(void)
{
	size_t n;
	const struct sr_attack_info *a = sr_attack_all(&n);

	for (size_t i = 0; i < n; i++)
		printf("%-17s %s%s\n", a[i].name, a[i].description, a[i].model ? " [model]" : "");
}

struct opts {
	const struct sr_attack_info *attacks[MAX_ATTACKS];
	size_t nattacks;
	int all;
	uint64_t seed;
	struct sr_attack_params params;
	const char *templates_path;
	struct sr_client_config client;
	double temperature;
	long max_tokens;
	const char *failed_path;
	long batch;
	char open[64], close[64];   /* reasoning tags stripped from model replies */
};

/* Take the reasoning tags of guideline set name (a name or a path).
 * Returns 0 or the exit status. */
static int load_tags(struct opts *o, const char *name)
{
	struct sr_guideset *gs;
	struct sr_error err;

	sr_error_clear(&err);
	if (sr_guideset_load(name, &gs, &err) < 0) {
		sr_msg_report(&err);
		/* A set that is missing or invalid is a bad --guidelines value. */
		return err.code == SR_EIO || err.code == SR_ENOMEM ? sr_exit_status(err.code) : SR_EXIT_USAGE;
	}
	int fits = strlen(gs->open) < sizeof o->open && strlen(gs->close) < sizeof o->close;
	if (fits) {
		snprintf(o->open, sizeof o->open, "%s", gs->open);
		snprintf(o->close, sizeof o->close, "%s", gs->close);
	}
	sr_guideset_free(gs);
	if (!fits)
		return sr_msg_usage("the reasoning tags of guideline set '%s' are longer than %zu bytes",
		                    name, sizeof o->open - 1);
	return 0;
}

static int add_attack(struct opts *o, const char *name, size_t n)
{
	char buf[64];
	const struct sr_attack_info *a;

	snprintf(buf, sizeof buf, "%.*s", (int)(n < 63 ? n : 63), name);
	if (!(a = sr_attack_find(buf)))
		return sr_msg_usage("unknown attack '%s' (see 'sr-attack --list')", buf);
	for (size_t i = 0; i < o->nattacks; i++)
		if (o->attacks[i] == a)
			return 0;
	if (o->nattacks == MAX_ATTACKS)
		return sr_msg_usage("too many attacks");
	o->attacks[o->nattacks++] = a;
	return 0;
}

static int parse_number(const char *opt, const char *arg, long min, long max, long *out)
{
	if (sr_parse_int(arg, min, max, out) < 0)
		return sr_msg_usage("invalid %s '%s' (expected %ld to %ld)", opt, arg, min, max);
	return 0;
}

static int parse_options(int argc, char **argv, struct sr_run *run, struct opts *o)
{
	int c, rc;
	long v;

	while ((c = getopt_long(argc, argv, "a:o:qvhV", long_options, NULL)) != -1) {
		rc = 0;
		switch (c) {
		case 'h':
			usage();
			return 1;
		case 'V':
			sr_print_version("sr-attack");
			return 1;
		case OPT_LIST:
			list_attacks();
			return 1;
		case 'a':
		case OPT_ATTACKS:
			for (const char *p = optarg; *p && rc == 0;) {
				size_t n = strcspn(p, ",");
				if (n > 0)
					rc = add_attack(o, p, n);
				p += n + (p[n] == ',');
			}
			break;
		case OPT_ALL:
			o->all = 1;
			break;
		case OPT_SEED:
			if (sr_parse_u64(optarg, 0, &o->seed) < 0)
				rc = sr_msg_usage("invalid --seed '%s' (expected a non-negative integer)", optarg);
			break;
		case OPT_SHIFT:
			if ((rc = parse_number("--shift", optarg, 1, 25, &v)) == 0)
				o->params.shift = (int)v;
			break;
		case OPT_LANGUAGE:
			o->params.language = optarg;
			break;
		case OPT_TEMPLATES:
			o->templates_path = optarg;
			break;
		case OPT_GUIDELINES:
			rc = load_tags(o, optarg);
			break;
		case OPT_ENDPOINT:
			o->client.endpoint = optarg;
			break;
		case OPT_MODEL:
			o->client.model = optarg;
			break;
		case OPT_API_KEY_ENV:
			o->client.api_key_env = optarg;
			break;
		case OPT_CONCURRENCY:
			if ((rc = parse_number("--concurrency", optarg, 1, 4096, &v)) == 0)
				o->client.concurrency = (int)v;
			break;
		case OPT_TEMPERATURE:
			if (sr_parse_double(optarg, 0, 2, &o->temperature) < 0)
				rc = sr_msg_usage("invalid --temperature '%s' (expected 0 to 2)", optarg);
			break;
		case OPT_MAX_TOKENS:
			rc = parse_number("--max-tokens", optarg, 1, 1000000, &o->max_tokens);
			break;
		case OPT_CACHE:
			o->client.cache_path = optarg;
			break;
		case OPT_TIMEOUT:
			if (sr_parse_double(optarg, 0.001, 86400, &o->client.timeout) < 0)
				rc = sr_msg_usage("invalid --timeout '%s' (expected seconds)", optarg);
			break;
		case OPT_RETRIES:
			if ((rc = parse_number("--retries", optarg, 0, 100, &v)) == 0)
				o->client.max_retries = (int)v;
			break;
		case OPT_FAILED:
			o->failed_path = optarg;
			break;
		case OPT_BATCH:
			rc = parse_number("--batch", optarg, 1, 100000, &o->batch);
			break;
		default:
			rc = sr_run_option(run, c, optarg);
			if (rc < 0)
				return SR_EXIT_USAGE;
			rc = rc == 0 ? sr_msg_usage("unknown option") : 0;
		}
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* Fill in --all and check that every chosen attack can run. */
static int resolve_attacks(struct opts *o)
{
	size_t n;
	const struct sr_attack_info *all = sr_attack_all(&n);

	if (o->all)
		for (size_t i = 0; i < n; i++) {
			if (all[i].model && !o->client.endpoint)
				continue;
			if (strcmp(all[i].name, "translate") == 0 && !o->params.language)
				continue;
			if (add_attack(o, all[i].name, strlen(all[i].name)) != 0)
				return SR_EXIT_USAGE;
		}
	if (o->nattacks == 0)
		return sr_msg_usage("no attack chosen: use --attacks LIST or --all (see --list)");
	for (size_t i = 0; i < o->nattacks; i++) {
		const struct sr_attack_info *a = o->attacks[i];
		if (a->model && (!o->client.endpoint || !o->client.model))
			return sr_msg_usage("attack '%s' needs a model: give --endpoint URL and --model NAME%s",
			                    a->name, strcmp(a->name, "past_tense") == 0 ?
			                    ", or use past_tense_rules for the offline rewrite" : "");
		if (strcmp(a->name, "translate") == 0 && !o->params.language)
			return sr_msg_usage("attack 'translate' needs --language NAME");
	}
	return 0;
}

/* One input record and its results, one per attack. */
struct slot {
	struct sr_record rec;       /* owned copy of the input */
	char *base_id;              /* base_id_len bytes, may hold U+0000 */
	size_t base_id_len;
	struct sr_buf out[MAX_ATTACKS];
	int ok[MAX_ATTACKS];
	struct sr_client_error error[MAX_ATTACKS];
};

struct state {
	struct opts *o;
	struct sr_run run;
	struct sr_attack_templates *templates;
	struct sr_client *client;
	struct sr_output *failed;
	struct slot *slots;
	size_t nslots;
	char *buf;
	size_t cap;
	json_t *per_attack;
};

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

/* The JSON Schema name of v's type, for messages. */
static const char *json_type_word(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "object";
	case JSON_ARRAY: return "array";
	case JSON_STRING: return "string";
	case JSON_INTEGER: return "integer";
	case JSON_REAL: return "number";
	case JSON_TRUE:
	case JSON_FALSE: return "boolean";
	default: return "null";
	}
}

/* Take the current record into the batch, or skip it under the bad-input
 * policy. Returns 1 when taken, 0 when skipped, or a negative code. */
static int take_record(struct state *st, struct sr_record *rec, struct sr_error *err)
{
	static const char *const required[] = {"id", "query"};
	size_t n;

	for (size_t i = 0; i < 2; i++) {
		if (sr_record_get_str(rec, required[i], &n))
			continue;
		json_t *v = sr_record_get(rec, required[i]);
		if (v)
			sr_fail(err, SR_EDATA, "expected a string, got %s", json_type_word(v));
		else
			sr_fail(err, SR_EDATA, "missing string field");
		snprintf(err->field, sizeof err->field, "%s", required[i]);
		int rc = sr_run_bad_record(&st->run, err);
		return rc < 0 ? rc : 0;
	}
	struct slot *s = &st->slots[st->nslots];
	sr_record_reset(&s->rec);
	if (sr_record_parse(&s->rec, rec->line, rec->len, err) < 0 || sr_record_own(&s->rec) < 0)
		return sr_fail(err, SR_ENOMEM, "out of memory");
	/* A record that is already an attack keeps its original base. */
	const char *base = sr_record_get_str(&s->rec, "base_id", &n);
	if (!base)
		base = sr_record_get_str(&s->rec, "id", &n);
	free(s->base_id);
	if (!(s->base_id = malloc(n + 1)))
		return sr_fail(err, SR_ENOMEM, "out of memory");
	memcpy(s->base_id, base, n);
	s->base_id[n] = '\0';
	s->base_id_len = n;
	st->nslots++;
	return 1;
}

static int run_offline(struct state *st, struct slot *s, size_t k, struct sr_error *err)
{
	const struct sr_attack_info *a = st->o->attacks[k];
	size_t qlen, n, index;
	const char *query = sr_record_get_str(&s->rec, "query", &qlen);
	const char *id = sr_record_get_str(&s->rec, "id", &n);
	struct sr_rng rng;
	const struct sr_attack_info *all = sr_attack_all(&index);

	/* Seeded by the record's id and the attack, so that a record's result
	 * depends on neither its position nor the other attacks chosen. */
	sr_rng_seed(&rng, sr_hash_mix(st->o->seed, id, (uint64_t)(a - all)));
	int rc = sr_attack_apply(a->name, query, qlen, &st->o->params, &rng, &s->out[k], err);
	s->ok[k] = rc == 0;
	return rc;
}

static int run_models(struct state *st, struct sr_error *err)
{
	json_t **bodies = NULL;
	size_t *where = NULL, count = 0, cap = st->nslots * st->o->nattacks;
	struct sr_client_result **res = NULL;
	int rc = 0;

	bodies = calloc(cap ? cap : 1, sizeof *bodies);
	where = calloc(cap ? cap : 1, sizeof *where);
	if (!bodies || !where) {
		rc = sr_fail(err, SR_ENOMEM, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < st->nslots; i++)
		for (size_t k = 0; k < st->o->nattacks; k++) {
			if (!st->o->attacks[k]->model)
				continue;
			size_t n;
			const char *q = sr_record_get_str(&st->slots[i].rec, "query", &n);
			bodies[count] = sr_attack_model_request(st->o->attacks[k]->name, q, n,
			                                        &st->o->params, st->o->temperature,
			                                        st->o->max_tokens, err);
			if (!bodies[count]) {
				rc = err->code ? err->code : SR_ENOMEM;
				goto done;
			}
			where[count++] = i * MAX_ATTACKS + k;
		}
	if (count == 0)
		goto done;
	rc = sr_client_batch(st->client, bodies, count, 1, &res, err);
	for (size_t j = 0; res && j < count; j++) {
		struct slot *s = &st->slots[where[j] / MAX_ATTACKS];
		size_t k = where[j] % MAX_ATTACKS;
		struct sr_client_sample *sm = res[j] && res[j]->n > 0 ? &res[j]->samples[0] : NULL;
		struct sr_error terr;

		sr_error_clear(&terr);
		if (sm && sm->text && sr_attack_model_text(sm->text, sm->len, st->o->open, st->o->close,
		                                           &s->out[k], &terr) == 0) {
			s->ok[k] = 1;
			continue;
		}
		s->ok[k] = 0;
		memset(&s->error[k], 0, sizeof s->error[k]);
		if (sm && sm->text) {
			snprintf(s->error[k].kind, sizeof s->error[k].kind, "invalid");
			snprintf(s->error[k].message, sizeof s->error[k].message, "%s", terr.message);
			s->error[k].status = sm->status;
			s->error[k].attempts = sm->attempts;
		} else if (sm) {
			s->error[k] = sm->error;
		} else {
			snprintf(s->error[k].kind, sizeof s->error[k].kind, "aborted");
		}
	}
	if (res)
		sr_client_results_free(res, count);
done:
	for (size_t j = 0; j < count; j++)
		json_decref(bodies[j]);
	free(bodies);
	free(where);
	return rc;
}

/* Write one output record: the input with id, query and the attack fields
 * set; every other member passes through byte for byte. */
static int emit(struct state *st, struct slot *s, size_t k, struct sr_error *err)
{
	const struct sr_attack_info *a = st->o->attacks[k];
	struct sr_record rec;
	struct sr_buf name = {0}, id = {0};
	size_t n;
	int rc;

	/* Strings are handled by length, since any of them may hold U+0000. */
	sr_record_init(&rec);
	rc = sr_record_parse(&rec, s->rec.line, s->rec.len, err);
	const char *prev = rc == 0 ? sr_record_get_str(&rec, "attack", &n) : NULL;
	/* A record that is already an attack gets the names chained: "a+b". */
	if (rc == 0 && prev && (sr_buf_append(&name, prev, n) < 0 || sr_buf_append(&name, "+", 1) < 0))
		rc = sr_fail(err, SR_ENOMEM, "out of memory");
	if (rc == 0 && sr_buf_puts(&name, a->name) < 0)
		rc = sr_fail(err, SR_ENOMEM, "out of memory");
	const char *base_query = rc == 0 ? sr_record_get_str(&rec, "base_query", &n) : NULL;
	json_t *bq = base_query ? json_stringn(base_query, n) : NULL;
	if (!bq && rc == 0) {
		const char *q = sr_record_get_str(&rec, "query", &n);
		bq = json_stringn(q, n);
	}
	if (rc == 0 && (sr_buf_append(&id, s->base_id, s->base_id_len) < 0 ||
	                sr_buf_append(&id, ":", 1) < 0 || sr_buf_append(&id, name.data, name.len) < 0))
		rc = sr_fail(err, SR_ENOMEM, "out of memory");
	if (rc == 0 && (!bq ||
	                sr_record_set(&rec, "id", json_stringn(id.data, id.len)) < 0 ||
	                sr_record_set(&rec, "query", json_stringn(s->out[k].data, s->out[k].len)) < 0 ||
	                sr_record_set(&rec, "attack", json_stringn(name.data, name.len)) < 0 ||
	                sr_record_set(&rec, "base_query", json_incref(bq)) < 0 ||
	                sr_record_set(&rec, "base_id", json_stringn(s->base_id, s->base_id_len)) < 0))
		rc = sr_fail(err, SR_ENOMEM, "out of memory");
	json_decref(bq);
	sr_buf_release(&name);
	sr_buf_release(&id);
	if (rc == 0)
		rc = sr_run_emit(&st->run, &rec, err);
	sr_record_release(&rec);
	if (rc == 0) {
		json_t *c = json_object_get(st->per_attack, a->name);
		json_object_set_new(st->per_attack, a->name, json_integer(json_integer_value(c) + 1));
	}
	return rc;
}

/* Report a failed attack (a model request that failed, or a request that
 * cannot take the disguise): to --failed as the input record with attack
 * and error set, or as a warning (the run then exits 3). */
static int emit_failed(struct state *st, struct slot *s, size_t k, struct sr_error *err)
{
	const struct sr_attack_info *a = st->o->attacks[k];
	const struct sr_client_error *e = &s->error[k];
	struct sr_record rec;
	int rc;

	st->run.failed++;
	if (!st->failed) {
		sr_msg_warn("%s: attack '%s' on record '%s' failed: %s: %s", sr_run_file(&st->run),
		            a->name, s->base_id, e->kind, e->message);
		return 0;
	}
	sr_record_init(&rec);
	rc = sr_record_parse(&rec, s->rec.line, s->rec.len, err);
	json_t *error = json_pack("{s:s,s:s,s:i,s:i}", "kind", e->kind, "message", e->message,
	                          "status", (json_int_t)e->status, "attempts", e->attempts);
	if (rc == 0 && (!error || sr_record_set(&rec, "attack", json_string(a->name)) < 0 ||
	                sr_record_set(&rec, "error", json_incref(error)) < 0))
		rc = sr_fail(err, SR_ENOMEM, "out of memory");
	json_decref(error);
	long n = rc == 0 ? sr_record_serialize(&rec, &st->buf, &st->cap) : 0;
	if (n < 0)
		rc = sr_fail(err, SR_ENOMEM, "out of memory");
	if (rc == 0)
		rc = sr_output_write(st->failed, st->buf, (size_t)n, err);
	sr_record_release(&rec);
	return rc;
}

/* Transform the batch and write its records in input order. */
static int flush_batch(struct state *st, struct sr_error *err)
{
	int rc = 0;

	for (size_t i = 0; i < st->nslots; i++)
		for (size_t k = 0; k < st->o->nattacks; k++) {
			st->slots[i].ok[k] = 0;
			if (st->o->attacks[k]->model)
				continue;
			rc = run_offline(st, &st->slots[i], k, err);
			if (rc == SR_EDATA) {
				/* This request cannot take the disguise: a failed attack,
				 * reported like a failed model request. */
				struct sr_client_error *e = &st->slots[i].error[k];
				memset(e, 0, sizeof *e);
				snprintf(e->kind, sizeof e->kind, "invalid");
				snprintf(e->message, sizeof e->message, "%s", err->message);
				sr_error_clear(err);
				rc = 0;
				continue;
			}
			if (rc < 0)
				return rc;
		}
	if (st->client && (rc = run_models(st, err)) < 0)
		return rc;
	for (size_t i = 0; i < st->nslots; i++)
		for (size_t k = 0; k < st->o->nattacks; k++) {
			struct slot *s = &st->slots[i];
			if (s->ok[k])
				rc = emit(st, s, k, err);
			else
				rc = emit_failed(st, s, k, err);
			if (rc < 0)
				return rc;
		}
	st->nslots = 0;
	return 0;
}

static int run_attacks(struct state *st, struct sr_error *err)
{
	struct sr_record rec;
	int rc;

	sr_record_init(&rec);
	while ((rc = sr_run_next(&st->run, &rec, err)) > 0) {
		if ((rc = take_record(st, &rec, err)) < 0)
			break;
		if (st->nslots == (size_t)st->o->batch && (rc = flush_batch(st, err)) < 0)
			break;
	}
	if (rc == 0)
		rc = flush_batch(st, err);
	sr_record_release(&rec);
	return rc;
}

static int open_everything(struct state *st, int argc, char **argv, struct sr_error *err)
{
	struct opts *o = st->o;
	int rc, model = 0;

	for (size_t k = 0; k < o->nattacks; k++)
		model |= o->attacks[k]->model;
	if ((rc = sr_attack_templates_load(o->templates_path, &st->templates, err)) < 0)
		return rc;
	o->params.templates = st->templates;
	st->slots = calloc((size_t)o->batch, sizeof *st->slots);
	st->per_attack = json_object();
	if (!st->slots || !st->per_attack)
		return sr_fail(err, SR_ENOMEM, "out of memory");
	for (long i = 0; i < o->batch; i++)
		sr_record_init(&st->slots[i].rec);
	if (model) {
		o->client.log = client_log;
		if ((rc = sr_client_new(&o->client, &st->client, err)) < 0)
			return rc;
	}
	if ((rc = sr_run_open(&st->run, argc, argv, err)) < 0)
		return rc;
	if (o->failed_path)
		rc = sr_output_open(o->failed_path, strcmp(o->failed_path, "-") ? SR_OUTPUT_ATOMIC : 0,
		                    &st->failed, err);
	return rc;
}

static void release(struct state *st)
{
	for (long i = 0; st->slots && i < st->o->batch; i++) {
		sr_record_release(&st->slots[i].rec);
		free(st->slots[i].base_id);
		for (size_t k = 0; k < MAX_ATTACKS; k++)
			sr_buf_release(&st->slots[i].out[k]);
	}
	free(st->slots);
	free(st->buf);
	json_decref(st->per_attack);
	sr_output_free(st->failed);
	sr_client_free(st->client);
	sr_attack_templates_free(st->templates);
}

int main(int argc, char **argv)
{
	struct opts o;
	struct state st;
	struct sr_error err;
	int rc;

	memset(&o, 0, sizeof o);
	memset(&st, 0, sizeof st);
	o.params.shift = 3;
	o.temperature = -1;
	o.batch = BATCH_DEFAULT;
	snprintf(o.open, sizeof o.open, "<think>");
	snprintf(o.close, sizeof o.close, "</think>");
	sr_client_config_init(&o.client);
	st.o = &o;
	sr_run_init(&st.run, "sr-attack");
	sr_error_clear(&err);

	rc = parse_options(argc, argv, &st.run, &o);
	if (rc == 0)
		rc = resolve_attacks(&o);
	if (rc != 0) {
		sr_run_release(&st.run);
		return rc == 1 ? SR_EXIT_OK : rc;
	}
	st.run.count_failed = 1;

	rc = open_everything(&st, argc - optind, argv + optind, &err);
	if (rc == 0)
		rc = run_attacks(&st, &err);
	if (rc == 0 && st.failed)
		rc = sr_output_commit(st.failed, &err);
	if (rc == 0 && st.run.failed > 0 && !st.failed)
		rc = sr_fail(&err, SR_EENDPOINT, "%llu attack(s) failed; use --failed FILE to keep them",
		             (unsigned long long)st.run.failed);
	json_object_set_new(st.run.stats, "attacks_per_record", json_integer((json_int_t)o.nattacks));
	if (st.per_attack)
		json_object_set(st.run.stats, "per_attack", st.per_attack);
	if (st.client) {
		struct sr_client_stats cs;
		sr_client_get_stats(st.client, &cs);
		json_object_set_new(st.run.stats, "cache_hits", json_integer((json_int_t)cs.cache_hits));
		json_object_set_new(st.run.stats, "http_requests", json_integer((json_int_t)cs.http_requests));
	}
	rc = sr_run_finish(&st.run, rc, &err);
	release(&st);
	return sr_run_exit(&st.run, rc, &err);
}
