/* sr-filter - rejection sampling: keep the sample records that pass every
 * rule of a rules file, write the others to --rejects with the names of
 * the rules they failed, and count everything. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter-keep.h"
#include "filter-llm.h"
#include "filter-stats.h"
#include "judge.h"
#include "msg.h"
#include "opt.h"
#include "record.h"
#include "rules.h"
#include "run.h"

enum {
	OPT_RULES = SR_OPT_TOOL_BASE,
	OPT_REJECTS,
	OPT_ANNOTATE,
	OPT_KEEP_BEST,
	OPT_LIST_RULES,
	OPT_JUDGE_BASE, /* the LLM judge's options, see filter-llm.h */
};

static const struct option long_options[] = {
	{"rules", required_argument, NULL, OPT_RULES},
	{"rejects", required_argument, NULL, OPT_REJECTS},
	{"annotate", no_argument, NULL, OPT_ANNOTATE},
	{"keep-best", required_argument, NULL, OPT_KEEP_BEST},
	{"guidelines", required_argument, NULL, 'g'},
	{"list-rules", no_argument, NULL, OPT_LIST_RULES},
	LLM_JUDGE_LONG_OPTIONS(OPT_JUDGE_BASE),
	SR_RUN_LONG_OPTIONS,
	{NULL, 0, NULL, 0},
};

static void usage(void)
{
	printf("Usage: sr-filter [OPTION]... [FILE]...\n"
	       "Keep the sample records that pass every rule; drop the rest. With no FILE,\n"
	       "or when FILE is -, read standard input.\n"
	       "\n"
	       "      --rules FILE        rules file, JSON or text (default: the installed\n"
	       "                          rules/default.json); a bare name is looked up there\n"
	       "      --rejects FILE      write every dropped record here with `rejected_by`\n"
	       "      --annotate          keep every record and add `checks` (per-rule results)\n"
	       "      --keep-best K       keep at most K passing samples per prompt id, the best\n"
	       "                          by score; buffers K records (see sr-filter(1))\n"
	       "  -g, --guidelines PATH   load this guideline set for every record instead of\n"
	       "                          the set each record names\n"
	       "      --list-rules        print the rules (name, kind, options) and exit\n"
	       LLM_JUDGE_HELP
	       SR_RUN_HELP
	       "\n"
	       "--stats adds counts per rule, per label and per guideline. records_in =\n"
	       "records_out + skipped + rejected. Exit status: 0 success, 1 invalid input\n"
	       "data, 2 usage error, 3 I/O, system or endpoint failure. See sr-filter(1).\n");
}

/* Records held for the LLM judge, whose requests go out together. */
#define JUDGE_WINDOW 64

struct pending {
	char *line;                /* copy of the input line */
	size_t cap;
	struct sr_record rec;      /* parsed from line */
	struct sr_rules_result res;
};

struct filter {
	struct sr_run run;
	struct sr_rules *rules;
	struct sr_rules_ctx *ctx;
	struct sr_judge *judge;
	struct llm_judge *llm;
	struct keep *keep;
	struct sr_output *rejects;
	int annotate;
	char *buf;                 /* serialised kept record */
	size_t bufcap;
	char *rbuf;                /* serialised rejected record; apart from buf because
	                            * --keep-best evicts while buf holds the new record */
	size_t rbufcap;
	struct sr_record scratch;  /* for records evicted by --keep-best */
	struct pending window[JUDGE_WINDOW];
	size_t nwindow;
	struct filter_stats stats;
};

static int write_reject(struct filter *f, struct sr_record *rec, json_t *failed, struct sr_error *err)
{
	f->run.rejected++;
	if (!f->rejects) {
		json_decref(failed);
		return 0;
	}
	if (sr_record_set(rec, "rejected_by", failed) < 0) /* steals failed */
		return sr_fail(err, SR_ENOMEM, "out of memory");
	long n = sr_record_serialize(rec, &f->rbuf, &f->rbufcap);
	if (n < 0)
		return sr_fail(err, SR_ENOMEM, "out of memory");
	return sr_output_write(f->rejects, f->rbuf, (size_t)n, err);
}

static int keep_emit(void *user, const char *line, size_t len, struct sr_error *err)
{
	struct filter *f = user;
	return sr_run_emit_raw(&f->run, line, len, 1, err);
}

/* A passing record that --keep-best dropped: a reject of rule "keep-best". */
static int keep_evict(void *user, const char *line, size_t len, struct sr_error *err)
{
	struct filter *f = user;
	int rc;
	if (!f->rejects) {
		f->run.rejected++;
		return 0;
	}
	json_t *why = json_pack("[s]", "keep-best");
	if (!why)
		return sr_fail(err, SR_ENOMEM, "out of memory");
	/* The line was serialised by us with its trailing newline. */
	if ((rc = sr_record_parse(&f->scratch, line, len - 1, err)) < 0) {
		json_decref(why);
		return rc;
	}
	return write_reject(f, &f->scratch, why, err);
}

/* Fields the rules read must have the right type when present. */
static int check_fields(struct sr_record *rec, struct sr_error *err)
{
	static const char *const strings[] = {"completion", "reasoning", "answer", "query", "id", NULL};
	for (const char *const *k = strings; *k; k++) {
		json_t *v = sr_record_get(rec, *k);
		if (v && !json_is_string(v)) {
			sr_fail(err, SR_EDATA, "expected a string");
			snprintf(err->field, sizeof err->field, "%s", *k);
			return SR_EDATA;
		}
	}
	json_t *label = sr_record_get(rec, "label");
	if (label && (!json_is_string(label) || (strcmp(json_string_value(label), "harmful") != 0 &&
	                                         strcmp(json_string_value(label), "benign") != 0))) {
		sr_fail(err, SR_EDATA, "expected \"harmful\" or \"benign\"");
		snprintf(err->field, sizeof err->field, "label");
		return SR_EDATA;
	}
	if (!sr_record_has(rec, "completion") && !sr_record_has(rec, "answer")) {
		sr_fail(err, SR_EDATA, "missing: a sample record needs 'completion' or 'answer'");
		snprintf(err->field, sizeof err->field, "completion");
		return SR_EDATA;
	}
	return 0;
}

/* Count, annotate, keep or reject one evaluated record. */
static int finish_record(struct filter *f, struct sr_record *rec, struct sr_rules_result *res,
                         struct sr_error *err)
{
	const char *label = sr_record_get_str(rec, "label", NULL);
	int kept = res->failed == 0;
	filter_stats_count(&f->stats, label, res, kept);

	if (f->annotate) {
		json_t *checks = sr_rules_checks_json(f->rules, res);
		if (!checks || sr_record_set(rec, "checks", checks) < 0)
			return sr_fail(err, SR_ENOMEM, "out of memory");
		return sr_run_emit(&f->run, rec, err);
	}
	if (!kept) {
		json_t *failed = sr_rules_failed_json(f->rules, res);
		if (!failed)
			return sr_fail(err, SR_ENOMEM, "out of memory");
		return write_reject(f, rec, failed, err);
	}
	if (!f->keep)
		return sr_run_emit(&f->run, rec, err);
	const char *id = sr_record_get_str(rec, "id", NULL);
	long n = sr_record_serialize(rec, &f->buf, &f->bufcap);
	if (n < 0)
		return sr_fail(err, SR_ENOMEM, "out of memory");
	return keep_offer(f->keep, id ? id : "", f->buf, (size_t)n, res->score, err);
}

/* Send the window's LLM judge requests together, then finish its records
 * in input order. */
static int flush_window(struct filter *f, struct sr_error *err)
{
	struct sr_record *recs[JUDGE_WINDOW];
	struct sr_rules_result *results[JUDGE_WINDOW];
	int rc = 0;

	for (size_t i = 0; i < f->nwindow; i++) {
		recs[i] = &f->window[i].rec;
		results[i] = &f->window[i].res;
	}
	if (f->nwindow)
		rc = llm_judge_eval(f->llm, f->rules, recs, results, f->nwindow, err);
	for (size_t i = 0; i < f->nwindow; i++) {
		if (rc == 0)
			rc = finish_record(f, &f->window[i].rec, &f->window[i].res, err);
		sr_record_reset(&f->window[i].rec);
		sr_rules_result_release(&f->window[i].res);
	}
	f->nwindow = 0;
	return rc;
}

/* Hold an evaluated record (with its own copy of the line) for the LLM judge. */
static int add_to_window(struct filter *f, struct sr_record *rec, struct sr_rules_result *res,
                         struct sr_error *err)
{
	struct pending *p = &f->window[f->nwindow];
	int rc;
	if (p->cap < rec->len + 1) {
		char *line = realloc(p->line, rec->len + 1);
		if (!line)
			return sr_fail(err, SR_ENOMEM, "out of memory");
		p->line = line;
		p->cap = rec->len + 1;
	}
	memcpy(p->line, rec->line, rec->len);
	p->line[rec->len] = '\0';
	if ((rc = sr_record_parse(&p->rec, p->line, rec->len, err)) < 0)
		return rc;
	p->res = *res; /* the window takes the result's allocations */
	sr_rules_result_init(res);
	if (++f->nwindow == JUDGE_WINDOW)
		return flush_window(f, err);
	return 0;
}

static int filter_record(struct filter *f, struct sr_record *rec, struct sr_rules_result *res,
                         struct sr_error *err)
{
	int rc;
	if ((rc = check_fields(rec, err)) < 0 || (rc = sr_rules_eval(f->ctx, rec, res, err)) < 0) {
		if (rc == SR_ENOMEM)
			return rc;
		if (err->file[0] == '\0')
			snprintf(err->file, sizeof err->file, "%s", sr_run_file(&f->run));
		err->line = sr_run_lineno(&f->run);
		return sr_run_bad_record(&f->run, err);
	}
	/* With the LLM judge every record goes through the window, so that
	 * output keeps input order. */
	if (f->llm)
		return add_to_window(f, rec, res, err);
	return finish_record(f, rec, res, err);
}

static void add_stats(struct filter *f)
{
	filter_stats_add(&f->stats, f->rules, f->run.stats);
	if (f->keep)
		json_object_set_new(f->run.stats, "keep_best",
		                    json_pack("{s:I,s:I}", "dropped", (json_int_t)keep_dropped(f->keep),
		                              "prompt_ids", (json_int_t)keep_ids(f->keep)));
}

static void list_rules(const struct sr_rules *rules)
{
	for (size_t i = 0; i < sr_rules_count(rules); i++) {
		char *opts = json_dumps(sr_rules_rule_options(rules, i), JSON_COMPACT | JSON_PRESERVE_ORDER);
		printf("%-20s %-14s %s\n", sr_rules_rule_name(rules, i),
		       sr_rule_kind_name(sr_rules_rule_kind(rules, i)), opts ? opts : "");
		free(opts);
	}
}

static int parse_options(struct filter *f, int argc, char **argv, const char **rules_path,
                         const char **rejects_path, const char **gpath, size_t *keep_k,
                         int *list, struct llm_judge_options *lo)
{
	int c;
	uint64_t v;
	while ((c = getopt_long(argc, argv, "g:o:qvhV", long_options, NULL)) != -1) {
		int r = sr_run_option(&f->run, c, optarg);
		if (r < 0)
			return SR_EXIT_USAGE;
		if (r > 0 && c != 'h' && c != 'V')
			continue;
		if ((r = llm_judge_option(lo, c - OPT_JUDGE_BASE, optarg)) != 0) {
			if (r < 0)
				return SR_EXIT_USAGE;
			continue;
		}
		switch (c) {
		case 'h':
			usage();
			return -1;
		case 'V':
			sr_print_version("sr-filter");
			return -1;
		case OPT_RULES:
			*rules_path = optarg;
			break;
		case OPT_REJECTS:
			*rejects_path = optarg;
			break;
		case OPT_ANNOTATE:
			f->annotate = 1;
			break;
		case OPT_KEEP_BEST:
			if (sr_parse_u64(optarg, 0, &v) < 0 || v == 0 || v > 1000000)
				return sr_msg_usage("invalid --keep-best value '%s' (expected 1 to 1000000)", optarg);
			*keep_k = (size_t)v;
			break;
		case 'g':
			*gpath = optarg;
			break;
		case OPT_LIST_RULES:
			*list = 1;
			break;
		default:
			return sr_msg_usage("unknown option");
		}
	}
	if (f->annotate && *rejects_path)
		return sr_msg_usage("--annotate keeps every record, so --rejects would stay empty");
	if (f->annotate && *keep_k)
		return sr_msg_usage("--annotate keeps every record; it cannot be combined with --keep-best");
	return 0;
}

int main(int argc, char **argv)
{
	struct filter f;
	struct sr_record rec;
	struct sr_rules_result res;
	struct sr_error err;
	struct llm_judge_options lo;
	const char *rules_path = NULL, *rejects_path = NULL, *gpath = NULL;
	size_t keep_k = 0;
	int rc, list = 0;

	memset(&f, 0, sizeof f);
	sr_error_clear(&err);
	sr_run_init(&f.run, "sr-filter");
	llm_judge_options_init(&lo);
	rc = parse_options(&f, argc, argv, &rules_path, &rejects_path, &gpath, &keep_k, &list, &lo);
	if (rc != 0) {
		sr_run_release(&f.run);
		return rc < 0 ? SR_EXIT_OK : rc;
	}
	f.run.count_rejected = 1;
	sr_record_init(&rec);
	sr_record_init(&f.scratch);
	for (size_t i = 0; i < JUDGE_WINDOW; i++) {
		sr_record_init(&f.window[i].rec);
		sr_rules_result_init(&f.window[i].res);
	}
	sr_rules_result_init(&res);

	if ((rc = sr_rules_load(rules_path, &f.rules, &err)) < 0)
		goto done;
	if (list) {
		list_rules(f.rules);
		goto done;
	}
	if ((rc = sr_judge_new(&f.judge, &err)) < 0 ||
	    (rc = sr_rules_ctx_new(f.rules, gpath, f.judge, &f.ctx, &err)) < 0 ||
	    (rc = llm_judge_new(&lo, f.rules, &f.llm, &err)) < 0)
		goto done;
	if (filter_stats_init(&f.stats, sr_rules_count(f.rules)) < 0) {
		rc = sr_fail(&err, SR_ENOMEM, "out of memory");
		goto done;
	}
	if (keep_k && !(f.keep = keep_new(keep_k, keep_emit, keep_evict, &f))) {
		rc = sr_fail(&err, SR_ENOMEM, "out of memory");
		goto done;
	}
	if ((rc = sr_run_open(&f.run, argc - optind, argv + optind, &err)) < 0)
		goto done;
	if (rejects_path && (rc = sr_output_open(rejects_path, strcmp(rejects_path, "-") ? SR_OUTPUT_ATOMIC : 0,
	                                         &f.rejects, &err)) < 0)
		goto done;
	while ((rc = sr_run_next(&f.run, &rec, &err)) > 0)
		if ((rc = filter_record(&f, &rec, &res, &err)) < 0)
			break;
	if (rc == 0 && f.llm)
		rc = flush_window(&f, &err);
	if (rc == 0 && f.keep)
		rc = keep_flush(f.keep, &err);
	if (rc == 0 && f.rejects)
		rc = sr_output_commit(f.rejects, &err);
	if (f.llm)
		llm_judge_stats(f.llm, f.run.stats);
	add_stats(&f);
done:
	if (rc == SR_EUSAGE) {
		sr_msg_usage("%s", err.message);
		sr_run_release(&f.run);
		rc = SR_EXIT_USAGE;
	} else if (list && rc == 0) {
		sr_run_release(&f.run);
		rc = SR_EXIT_OK;
	} else {
		rc = sr_run_finish(&f.run, rc, &err);
		rc = sr_run_exit(&f.run, rc, &err);
	}
	sr_rules_result_release(&res);
	sr_record_release(&rec);
	for (size_t i = 0; i < JUDGE_WINDOW; i++) {
		sr_record_release(&f.window[i].rec);
		sr_rules_result_release(&f.window[i].res);
		free(f.window[i].line);
	}
	sr_record_release(&f.scratch);
	keep_free(f.keep);
	sr_output_free(f.rejects);
	llm_judge_free(f.llm);
	sr_rules_ctx_free(f.ctx);
	sr_rules_free(f.rules);
	sr_judge_free(f.judge);
	filter_stats_release(&f.stats);
	free(f.buf);
	free(f.rbuf);
	return rc;
}
