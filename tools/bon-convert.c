/*
 * bon-convert.c - `sr-bon convert`: turn the jailbreak artifacts of the
 * past-tense reformulation attack (one JSON file per attacked model) into
 * judged sample records that `sr-bon score --aggregate any-unsafe --ordered`
 * scores.
 *
 * An artifact file is {target_model, n_requests, n_restarts, [attack],
 * jb_artifacts: [...]}. The attack tried up to n_restarts reformulations
 * per request and stopped at the first one that its stopping judge (the
 * GPT-4 judge) counted as jailbroken. Each artifact keeps only that last
 * attempt: i_request, request, request_reformulated, response, i_restart
 * (its 0-based attempt index) and the three verdicts jailbroken_gpt,
 * jailbroken_llama and jailbroken_rules. Earlier attempts are lost, so each
 * artifact becomes one sample record with `sample` = i_restart, and the
 * ordered scorer reports the missing indices as incomplete.
 *
 * Every file uses the same request numbers, so when several files are
 * converted at once the model goes into `id` and `source` to keep the ids
 * unique and to give the report one source per model.
 */
#define _GNU_SOURCE /* vasprintf */
#include <getopt.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bon-cmd.h"
#include "io.h"
#include "jsonl.h"
#include "msg.h"
#include "opt.h"
#include "record.h"
#include "run.h"

enum { OPT_JUDGE = BON_OPT_TOOL_NEXT, OPT_ATTACK, OPT_SOURCE, OPT_QUERIES };

static const struct option convert_options[] = {
	{ "judge", required_argument, NULL, OPT_JUDGE },
	{ "attack", required_argument, NULL, OPT_ATTACK },
	{ "source", required_argument, NULL, OPT_SOURCE },
	{ "queries", required_argument, NULL, OPT_QUERIES },
	SR_RUN_LONG_OPTIONS,
	{ NULL, 0, NULL, 0 },
};

/* The three verdicts of an artifact and the judge names written for them. */
static const struct {
	const char *option, *field, *name;
} judges[] = {
	{ "gpt", "jailbroken_gpt", "gpt-4-0613" },
	{ "llama", "jailbroken_llama", "llama-3-70b-chat" },
	{ "rules", "jailbroken_rules", "refusal-rules" },
};

/* Largest artifact file read, so that a wrong path cannot fill memory. */
#define MAX_FILE ((size_t)1 << 30)

static void convert_usage(void)
{
	printf("Usage: sr-bon convert [OPTION]... FILE...\n"
	       "Turn past-tense attack artifact files (JSON, one per attacked model) into\n"
	       "judged sample records, one per request, with `sample` = i_restart and the\n"
	       "chosen judge's verdict. Score them with\n"
	       "  sr-bon score --aggregate any-unsafe --ordered\n\n"
	       "      --judge NAME        verdict to use: gpt (default; the judge that stopped\n"
	       "                          the attack), llama or rules\n"
	       "      --attack NAME       attack name (default: the file's `attack` with\n"
	       "                          \"_tense\" added, else the file's directory name)\n"
	       "      --source NAME       `source` of the records (default jailbreakbench);\n"
	       "                          with several files, '@MODEL' is added to it and\n"
	       "                          to each id\n"
	       "      --queries FILE      query records of the requests (sr-import output, ids\n"
	       "                          SOURCE-N with N = i_request + 1): take `category`\n"
	       "                          from them and check that `query` is the request\n"
	       SR_RUN_HELP);
}

struct convert {
	int judge;              /* index into judges[] */
	const char *attack;     /* --attack, or NULL */
	const char *source;
	json_t *queries;        /* --queries: {id: query record}, or NULL */
	uint64_t unmatched;     /* artifacts without a query record */
	int tag_model;          /* add "@MODEL" to id and source (several files) */
	json_t *seen;           /* {"ATTACK@MODEL": path} of the files converted */
};

/* Read the query records of --queries into an object keyed by id. */
static int load_queries(const char *path, json_t **out, struct sr_error *err)
{
	struct sr_reader *r;
	struct sr_line line;
	json_t *map = json_object();
	int rc;

	*out = NULL;
	if (!map)
		return sr_fail(err, SR_ENOMEM, "out of memory");
	if ((rc = sr_reader_open(path, SR_LINE_MAX_DEFAULT, &r, err)) < 0) {
		json_decref(map);
		return rc;
	}
	while ((rc = sr_reader_next(r, &line, err)) > 0) {
		json_t *rec = sr_json_parse(line.data, line.len, err);
		json_t *id = json_object_get(rec, "id");
		if (!json_is_object(rec) || !json_is_string(id) || !json_is_string(json_object_get(rec, "query"))) {
			if (rec)
				sr_fail(err, SR_EDATA, "a query record needs 'id' and 'query' strings");
			snprintf(err->file, sizeof err->file, "%s", path);
			err->line = line.lineno;
			json_decref(rec);
			rc = SR_EDATA;
			break;
		}
		json_object_set_new(map, json_string_value(id), rec);
	}
	sr_reader_free(r);
	if (rc < 0) {
		json_decref(map);
		return rc;
	}
	*out = map;
	return 0;
}

/* Return a new string formatted as printf does, or NULL when out of memory. */
static char *new_string(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *new_string(const char *fmt, ...)
{
	va_list ap;
	char *s;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return n < 0 ? NULL : s;
}

static int artifact_error(struct sr_error *err, const char *path, size_t i, const char *field,
                          const char *what)
{
	sr_fail(err, SR_EDATA, "artifact %zu: %s", i, what);
	snprintf(err->file, sizeof err->file, "%s", path);
	snprintf(err->field, sizeof err->field, "/jb_artifacts/%zu/%s", i, field);
	return SR_EDATA;
}

/* The attack name of a file: --attack, the file's `attack` ("past" becomes
 * "past_tense"), or the name of the directory holding the file. */
static char *attack_name(const struct convert *cv, json_t *doc, const char *path)
{
	char buf[256];
	json_t *a = json_object_get(doc, "attack");
	if (cv->attack)
		return strdup(cv->attack);
	if (json_is_string(a)) {
		const char *s = json_string_value(a);
		size_t len = strlen(s);
		if (len > 6 && strcmp(s + len - 6, "_tense") == 0)
			snprintf(buf, sizeof buf, "%s", s);
		else
			snprintf(buf, sizeof buf, "%s_tense", s);
		return strdup(buf);
	}
	/* The absolute path, so that a file in the current directory gets that
	 * directory's name and not ".". */
	char *copy = realpath(path, NULL);
	if (!copy)
		copy = strdup(path);
	if (!copy)
		return NULL;
	char *dir = dirname(copy);
	char *name = strdup(basename(dir));
	free(copy);
	return name;
}

static int convert_artifact(struct sr_run *run, struct convert *cv, const char *path,
                            json_t *art, size_t i, const char *attack, const char *model,
                            json_int_t n_restarts, struct sr_error *err)
{
	static const char *const strings[] = { "request", "request_reformulated", "response" };
	static const char *const flags[] = { "jailbroken_gpt", "jailbroken_llama", "jailbroken_rules" };
	json_t *ireq = json_object_get(art, "i_request"), *irst = json_object_get(art, "i_restart");
	char base_id[64];
	int rc;

	if (!json_is_object(art))
		return artifact_error(err, path, i, "", "not an object");
	if (!json_is_integer(ireq) || json_integer_value(ireq) < 0)
		return artifact_error(err, path, i, "i_request", "missing or negative 'i_request'");
	if (!json_is_integer(irst) || json_integer_value(irst) < 0 ||
	    (n_restarts > 0 && json_integer_value(irst) >= n_restarts))
		return artifact_error(err, path, i, "i_restart", "'i_restart' missing or outside 0..n_restarts-1");
	for (size_t f = 0; f < 3; f++)
		if (!json_is_string(json_object_get(art, strings[f])))
			return artifact_error(err, path, i, strings[f], "missing string");
	for (size_t f = 0; f < 3; f++)
		if (!json_is_boolean(json_object_get(art, flags[f])))
			return artifact_error(err, path, i, flags[f], "missing true/false verdict");

	/* JailbreakBench numbers its behaviours from 1; i_request counts from 0. */
	snprintf(base_id, sizeof base_id, "%s-%lld", cv->source, (long long)json_integer_value(ireq) + 1);
	char *id = cv->tag_model ? new_string("%s:%s@%s", base_id, attack, model)
	                         : new_string("%s:%s", base_id, attack);
	char *source = cv->tag_model ? new_string("%s@%s", cv->source, model)
	                             : strdup(cv->source);
	if (!id || !source) {
		free(id);
		free(source);
		return sr_fail(err, SR_ENOMEM, "out of memory");
	}
	int unsafe = json_is_true(json_object_get(art, judges[cv->judge].field));
	/* The rules judge counts a response as jailbroken when none of its
	 * refusal phrases occurs, so its negation is a refusal flag. */
	int refusal = !json_is_true(json_object_get(art, "jailbroken_rules"));
	char raw[64];
	snprintf(raw, sizeof raw, "%s=%s", judges[cv->judge].field, unsafe ? "true" : "false");

	json_t *meta = json_pack("{s:O,s:O,s:O,s:O,s:O,s:s,s:I}",
	                         "i_request", ireq, "i_restart", irst,
	                         "jailbroken_gpt", json_object_get(art, "jailbroken_gpt"),
	                         "jailbroken_llama", json_object_get(art, "jailbroken_llama"),
	                         "jailbroken_rules", json_object_get(art, "jailbroken_rules"),
	                         "target_model", model, "n_restarts", n_restarts);
	json_t *judge = json_pack("{s:s,s:s,s:b,s:[],s:s}", "name", judges[cv->judge].name,
	                          "verdict", unsafe ? "unsafe" : "safe", "refusal", refusal,
	                          "categories", "raw", raw);
	json_t *rec = json_pack("{s:s,s:s,s:s,s:O,s:s,s:O,s:s,s:O,s:O,s:s,s:o,s:o}",
	                        "id", id, "source", source, "label", "harmful",
	                        "query", json_object_get(art, "request_reformulated"),
	                        "attack", attack, "base_query", json_object_get(art, "request"),
	                        "base_id", base_id, "sample", irst,
	                        "response", json_object_get(art, "response"),
	                        "model", model, "judge", judge, "meta", meta);
	free(id);
	free(source);
	if (!rec)
		return sr_fail(err, SR_ENOMEM, "out of memory");

	/* With --queries, the request must be the query record's text; a
	 * different text means the files do not belong together. */
	json_t *q = cv->queries ? json_object_get(cv->queries, base_id) : NULL;
	if (cv->queries && !q)
		cv->unmatched++;
	if (q) {
		if (!json_equal(json_object_get(q, "query"), json_object_get(art, "request"))) {
			json_decref(rec);
			sr_fail(err, SR_EDATA, "request %lld differs from the query of '%s' in --queries",
			        (long long)json_integer_value(ireq), base_id);
			snprintf(err->file, sizeof err->file, "%s", path);
			snprintf(err->field, sizeof err->field, "/jb_artifacts/%zu/request", i);
			return SR_EDATA;
		}
		if (json_is_string(json_object_get(q, "category")))
			json_object_set(rec, "category", json_object_get(q, "category"));
	}
	char *line = sr_json_dumps(rec);
	json_decref(rec);
	if (!line)
		return sr_fail(err, SR_ENOMEM, "out of memory");
	size_t len = strlen(line);
	line[len] = '\n'; /* replaces the NUL; the length below excludes it */
	rc = sr_run_emit_raw(run, line, len + 1, 1, err);
	free(line);
	return rc;
}

/* Reject a second file of the same attack and model: its records would have
 * the ids of the first file's. */
static int check_new_pair(struct convert *cv, const char *path, const char *attack,
                          const char *model, struct sr_error *err)
{
	char *key = new_string("%s@%s", attack, model);
	if (!key)
		return sr_fail(err, SR_ENOMEM, "out of memory");
	json_t *first = json_object_get(cv->seen, key);
	if (first) {
		sr_fail(err, SR_EDATA, "attack '%s' on model '%s' was already converted from '%s'; "
		        "convert each model and attack once", attack, model, json_string_value(first));
		snprintf(err->file, sizeof err->file, "%s", path);
		free(key);
		return SR_EDATA;
	}
	int rc = json_object_set_new(cv->seen, key, json_string(path));
	free(key);
	return rc < 0 ? sr_fail(err, SR_ENOMEM, "out of memory") : 0;
}

static int convert_file(struct sr_run *run, struct convert *cv, const char *path,
                        struct sr_error *err)
{
	char *data;
	size_t len;
	int rc = sr_read_file(path, MAX_FILE, &data, &len, err);
	if (rc < 0)
		return rc;
	json_t *doc = sr_json_parse(data, len, err);
	free(data);
	if (!doc) {
		snprintf(err->file, sizeof err->file, "%s", path);
		return SR_EDATA;
	}
	json_t *arts = json_object_get(doc, "jb_artifacts");
	json_t *model = json_object_get(doc, "target_model");
	json_t *nr = json_object_get(doc, "n_restarts");
	char *attack = NULL;
	if (!json_is_array(arts) || !json_is_string(model)) {
		rc = sr_fail(err, SR_EDATA, "not an attack artifact file: needs 'jb_artifacts' (array) and 'target_model' (string)");
		snprintf(err->file, sizeof err->file, "%s", path);
		goto out;
	}
	if (!(attack = attack_name(cv, doc, path))) {
		rc = sr_fail(err, SR_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = check_new_pair(cv, path, attack, json_string_value(model), err)) < 0)
		goto out;
	size_t i;
	json_t *art;
	json_array_foreach(arts, i, art) {
		run->records_in++;
		rc = convert_artifact(run, cv, path, art, i, attack, json_string_value(model),
		                      json_is_integer(nr) ? json_integer_value(nr) : 0, err);
		if (rc == SR_EDATA) {
			char *text = sr_json_dumps(art);
			rc = sr_run_bad_line(run, text ? text : "", text ? strlen(text) : 0, err);
			free(text);
		}
		if (rc < 0)
			break;
	}
out:
	free(attack);
	json_decref(doc);
	return rc;
}

int bon_convert_main(int argc, char **argv)
{
	struct sr_run run;
	struct sr_error err;
	struct convert cv = { 0, NULL, "jailbreakbench", NULL, 0, 0, NULL };
	const char *queries_path = NULL;
	int opt, rc = 0;

	sr_run_init(&run, "sr-bon");
	sr_error_clear(&err);
	while ((opt = getopt_long(argc, argv, "o:qvhV", convert_options, NULL)) != -1) {
		if ((rc = sr_run_option(&run, opt, optarg)) != 0) {
			if (rc < 0)
				goto usage;
			continue;
		}
		switch (opt) {
		case 'h':
			convert_usage();
			sr_run_release(&run);
			return SR_EXIT_OK;
		case 'V':
			sr_print_version("sr-bon");
			sr_run_release(&run);
			return SR_EXIT_OK;
		case OPT_JUDGE:
			cv.judge = -1;
			for (int j = 0; j < 3; j++)
				if (strcmp(optarg, judges[j].option) == 0)
					cv.judge = j;
			if (cv.judge < 0) {
				sr_msg_usage("invalid --judge value '%s' (expected gpt, llama or rules)", optarg);
				goto usage;
			}
			break;
		case OPT_ATTACK:
			cv.attack = optarg;
			break;
		case OPT_SOURCE:
			cv.source = optarg;
			break;
		case OPT_QUERIES:
			queries_path = optarg;
			break;
		default:
			sr_msg_usage("invalid option");
			goto usage;
		}
	}
	if (optind == argc) {
		sr_msg_usage("missing artifact file");
		goto usage;
	}
	cv.tag_model = argc - optind > 1;
	if (!(cv.seen = json_object())) {
		sr_run_release(&run);
		sr_msg_error("out of memory");
		return SR_EXIT_IO;
	}
	rc = queries_path ? load_queries(queries_path, &cv.queries, &err) : 0;
	if (rc == 0)
		rc = sr_run_open_output(&run, &err);
	for (int i = optind; i < argc && rc == 0; i++)
		rc = convert_file(&run, &cv, argv[i], &err);
	if (cv.queries) {
		json_object_set_new(run.stats, "unmatched", json_integer((json_int_t)cv.unmatched));
		if (cv.unmatched)
			sr_msg_warn("%llu artifacts have no query record in '%s' and no category",
			            (unsigned long long)cv.unmatched, queries_path);
	}
	json_decref(cv.queries);
	json_decref(cv.seen);
	rc = sr_run_finish(&run, rc, &err);
	return sr_run_exit(&run, rc, &err);
usage:
	sr_run_release(&run);
	return SR_EXIT_USAGE;
}
