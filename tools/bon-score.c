/*
 * bon-score.c - `sr-bon score` (judged samples -> report) and `sr-bon plot`
 * (reports -> SVG).
 */
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bon-cmd.h"
#include "bon.h"
#include "io.h"
#include "jsonl.h"
#include "msg.h"
#include "opt.h"
#include "run.h"

enum {
	OPT_COMPARE = BON_OPT_TOOL_NEXT,
	OPT_TITLE,
};

static const struct option score_options[] = {
	BON_SCORE_LONG_OPTIONS,
	SR_RUN_LONG_OPTIONS,
	{ NULL, 0, NULL, 0 },
};

static void score_usage(void)
{
	printf("Usage: sr-bon score [OPTION]... [FILE]...\n"
	       "Score judged samples (records with id, sample, judge) and write a report:\n"
	       "attack success rate at k per attack, category, source and overall,\n"
	       "over-refusal of benign prompts, and bootstrap intervals over prompts.\n\n"
	       BON_SCORE_HELP
	       SR_RUN_HELP);
}

/* Parse the scoring options shared by score and run; 1 = handled. */
int bon_score_option(struct sr_bon_options *o, int opt, const char *arg)
{
	struct sr_error err;
	uint64_t v;
	double d;

	sr_error_clear(&err);
	switch (opt) {
	case 'k':
		if (sr_bon_parse_k(arg, o, &err) < 0)
			return sr_msg_usage("%s", err.message), -1;
		return 1;
	case BON_OPT_AGGREGATE:
		if (strcmp(arg, "any-safe") == 0)
			o->aggregate = SR_BON_ANY_SAFE;
		else if (strcmp(arg, "any-unsafe") == 0)
			o->aggregate = SR_BON_ANY_UNSAFE;
		else
			return sr_msg_usage("invalid --aggregate value '%s' (expected any-safe or any-unsafe)", arg), -1;
		return 1;
	case BON_OPT_ORDERED:
		o->ordered = 1;
		return 1;
	case BON_OPT_BOOTSTRAP:
		if (sr_parse_u64(arg, 1, &v) < 0 || v > 10000000)
			return sr_msg_usage("invalid --bootstrap value '%s' (expected 0 to 10000000 resamples)", arg), -1;
		o->bootstrap = (unsigned)v;
		return 1;
	case BON_OPT_CONFIDENCE:
		if (sr_parse_double(arg, 0.0, 1.0, &d) < 0 || d <= 0.0 || d >= 1.0)
			return sr_msg_usage("invalid --confidence value '%s' (expected a number between 0 and 1, such as 0.95)", arg), -1;
		o->confidence = d;
		return 1;
	case BON_OPT_SEED:
		if (sr_parse_u64(arg, 0, &v) < 0)
			return sr_msg_usage("invalid --seed value '%s' (expected a non-negative integer)", arg), -1;
		o->seed = v;
		return 1;
	case BON_OPT_LABEL:
		o->label = arg;
		return 1;
	default:
		return 0;
	}
}

/* Read every judged sample of run into b. Records that fail are handled by
 * the --on-error policy. */
int bon_score_read(struct sr_run *run, struct sr_bon *b, struct sr_error *err)
{
	struct sr_record rec;
	int rc;

	sr_record_init(&rec);
	while ((rc = sr_run_next(run, &rec, err)) > 0) {
		if ((rc = sr_bon_add_record(b, &rec, err)) < 0) {
			if (rc != SR_EDATA && rc != SR_ETOOBIG)
				break;
			if ((rc = sr_run_bad_record(run, err)) < 0)
				break;
		}
	}
	sr_record_release(&rec);
	return rc;
}

static int write_file(const char *path, const char *data, size_t len, struct sr_error *err)
{
	struct sr_output *o;
	int flags = path && strcmp(path, "-") != 0 ? SR_OUTPUT_ATOMIC : 0;
	int rc = sr_output_open(path, flags, &o, err);
	if (rc < 0)
		return rc;
	if ((rc = sr_output_write(o, data, len, err)) == 0)
		rc = sr_output_commit(o, err);
	sr_output_free(o);
	return rc;
}

/* Write the report in the requested format to the run's output, and the
 * SVG when svg_path is set. */
int bon_score_write(struct sr_run *run, json_t *report, int table, const char *svg_path,
                    struct sr_error *err)
{
	struct sr_buf buf = {0};
	int rc;

	if (table) {
		rc = sr_bon_format_table(report, &buf, err);
	} else {
		/* 15 significant digits: enough for any rate, and 0.41 stays 0.41. */
		char *text = json_dumps(report, JSON_COMPACT | JSON_REAL_PRECISION(15));
		if (!text)
			return sr_fail(err, SR_ENOMEM, "out of memory");
		rc = sr_buf_puts(&buf, text) < 0 || sr_buf_puts(&buf, "\n") < 0 ? SR_ENOMEM : 0;
		free(text);
		if (rc)
			sr_fail(err, rc, "out of memory");
	}
	if (rc == 0)
		rc = sr_run_emit_raw(run, buf.data, buf.len, table ? 0 : 1, err);
	if (rc == 0 && svg_path) {
		sr_buf_reset(&buf);
		if ((rc = sr_bon_plot(&report, NULL, 1, NULL, &buf, err)) == 0)
			rc = write_file(svg_path, buf.data, buf.len, err);
	}
	sr_buf_release(&buf);
	return rc;
}

int bon_score_main(int argc, char **argv)
{
	struct sr_run run;
	struct sr_error err;
	struct sr_bon_options o;
	struct sr_bon *b = NULL;
	const char *svg_path = NULL;
	int table = 0, opt, rc;

	sr_run_init(&run, "sr-bon");
	sr_error_clear(&err);
	sr_bon_options_init(&o);
	while ((opt = getopt_long(argc, argv, "k:o:qvhV", score_options, NULL)) != -1) {
		if ((rc = sr_run_option(&run, opt, optarg)) != 0) {
			if (rc < 0)
				goto usage;
			continue;
		}
		if ((rc = bon_score_option(&o, opt, optarg)) != 0) {
			if (rc < 0)
				goto usage;
			continue;
		}
		switch (opt) {
		case 'h':
			score_usage();
			sr_run_release(&run);
			return SR_EXIT_OK;
		case 'V':
			sr_print_version("sr-bon");
			sr_run_release(&run);
			return SR_EXIT_OK;
		case BON_OPT_FORMAT:
			if (strcmp(optarg, "table") == 0)
				table = 1;
			else if (strcmp(optarg, "json") != 0) {
				sr_msg_usage("invalid --format value '%s' (expected json or table)", optarg);
				goto usage;
			}
			break;
		case BON_OPT_SVG:
			svg_path = optarg;
			break;
		default:
			sr_msg_usage("invalid option");
			goto usage;
		}
	}

	if ((rc = sr_bon_new(&o, &b, &err)) < 0 ||
	    (rc = sr_run_open(&run, argc - optind, argv + optind, &err)) < 0)
		goto out;
	if ((rc = bon_score_read(&run, b, &err)) < 0)
		goto out;
	json_t *report;
	if ((rc = sr_bon_report(b, &report, &err)) < 0)
		goto out;
	json_t *counts = json_object_get(report, "counts");
	json_object_set(run.stats, "samples_scored", json_object_get(counts, "records"));
	json_object_set(run.stats, "prompts", json_object_get(counts, "prompts"));
	if (json_integer_value(json_object_get(counts, "unjudged")) > 0)
		sr_msg_warn("%lld samples have no verdict (unparseable judge output) and are left out",
		            (long long)json_integer_value(json_object_get(counts, "unjudged")));
	if (json_integer_value(json_object_get(counts, "unlabelled")) > 0)
		sr_msg_notice("%lld samples have no 'label' and count as harmful",
		              (long long)json_integer_value(json_object_get(counts, "unlabelled")));
	rc = bon_score_write(&run, report, table, svg_path, &err);
	json_decref(report);
out:
	sr_bon_free(b);
	rc = sr_run_finish(&run, rc, &err);
	return sr_run_exit(&run, rc, &err);
usage:
	sr_run_release(&run);
	return SR_EXIT_USAGE;
}

/* ---- plot ---- */

static const struct option plot_options[] = {
	{ "compare", no_argument, NULL, OPT_COMPARE },
	{ "title", required_argument, NULL, OPT_TITLE },
	{ "label", required_argument, NULL, BON_OPT_LABEL },
	{ "output", required_argument, NULL, 'o' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static void plot_usage(void)
{
	printf("Usage: sr-bon plot [OPTION]... [REPORT]...\n"
	       "Draw sr-bon reports (JSON Lines, one report per line, from the files or\n"
	       "standard input) as an SVG chart: attack success against k on a log2 axis,\n"
	       "one line per attack, intervals as bands.\n\n"
	       "      --compare           draw two or more reports side by side (needed when\n"
	       "                          the input holds more than one report)\n"
	       "      --label NAME        panel title of the next report, in input order\n"
	       "                          (repeatable; default: the report's label or file)\n"
	       "      --title TEXT        chart title\n"
	       "  -o, --output FILE       write the SVG to FILE (atomically) instead of stdout\n"
	       "  -h, --help              show this help;  -V, --version  show the version\n");
}

#define MAX_REPORTS 16

/* Read every report line of one file, appending to reports/titles. */
static int read_reports(const char *path, json_t **reports, char **titles, size_t *n,
                        struct sr_error *err)
{
	struct sr_reader *r;
	struct sr_line line;
	int rc = sr_reader_open(path, SR_LINE_MAX_DEFAULT, &r, err);
	if (rc < 0)
		return rc;
	while ((rc = sr_reader_next(r, &line, err)) > 0) {
		if (*n == MAX_REPORTS) {
			rc = sr_fail(err, SR_EUSAGE, "more than %d reports to plot", MAX_REPORTS);
			break;
		}
		json_t *rep = sr_json_parse(line.data, line.len, err);
		if (!rep || (rc = sr_bon_check_report(rep, err)) < 0) {
			json_decref(rep);
			snprintf(err->file, sizeof err->file, "%s", sr_reader_name(r));
			err->line = line.lineno;
			rc = SR_EDATA;
			break;
		}
		char *copy = strdup(path ? path : "-");
		titles[*n] = copy ? strdup(basename(copy)) : NULL;
		free(copy);
		reports[(*n)++] = rep;
	}
	sr_reader_free(r);
	return rc;
}

int bon_plot_main(int argc, char **argv)
{
	json_t *reports[MAX_REPORTS];
	char *file_titles[MAX_REPORTS];
	const char *titles[MAX_REPORTS];
	const char *labels[MAX_REPORTS];
	const char *title = NULL, *out_path = NULL;
	size_t n = 0, nlabels = 0;
	int compare = 0, opt, rc = 0;
	struct sr_error err;
	struct sr_buf buf = {0};

	sr_error_clear(&err);
	while ((opt = getopt_long(argc, argv, "o:hV", plot_options, NULL)) != -1) {
		switch (opt) {
		case OPT_COMPARE:
			compare = 1;
			break;
		case OPT_TITLE:
			title = optarg;
			break;
		case BON_OPT_LABEL:
			if (nlabels == MAX_REPORTS)
				return sr_msg_usage("more than %d --label options", MAX_REPORTS);
			labels[nlabels++] = optarg;
			break;
		case 'o':
			out_path = optarg;
			break;
		case 'h':
			plot_usage();
			return SR_EXIT_OK;
		case 'V':
			sr_print_version("sr-bon");
			return SR_EXIT_OK;
		default:
			return sr_msg_usage("invalid option");
		}
	}
	if (optind == argc)
		rc = read_reports(NULL, reports, file_titles, &n, &err);
	for (int i = optind; i < argc && rc == 0; i++)
		rc = read_reports(argv[i], reports, file_titles, &n, &err);
	if (rc == 0 && n == 0)
		rc = sr_fail(&err, SR_EDATA, "no report in the input");
	if (rc == 0 && n > 1 && !compare)
		rc = sr_fail(&err, SR_EUSAGE, "the input holds %zu reports; use --compare to draw them side by side", n);
	if (rc == 0 && compare && n < 2)
		rc = sr_fail(&err, SR_EUSAGE, "--compare needs two or more reports, got %zu", n);
	if (rc == 0 && nlabels > n)
		rc = sr_fail(&err, SR_EUSAGE, "%zu --label options for %zu reports", nlabels, n);
	if (rc == 0) {
		for (size_t i = 0; i < n; i++) {
			json_t *label = json_object_get(reports[i], "label");
			titles[i] = i < nlabels ? labels[i]
			          : json_is_string(label) ? json_string_value(label) : file_titles[i];
		}
		rc = sr_bon_plot(reports, titles, n, title, &buf, &err);
	}
	if (rc == 0)
		rc = write_file(out_path, buf.data, buf.len, &err);
	for (size_t i = 0; i < n; i++) {
		json_decref(reports[i]);
		free(file_titles[i]);
	}
	sr_buf_release(&buf);
	if (rc < 0 && rc != SR_EPIPE) {
		if (rc == SR_EUSAGE)
			return sr_msg_usage("%s", err.message);
		sr_msg_report(&err);
	}
	return sr_exit_status(rc < 0 && rc != SR_EPIPE ? rc : 0);
}
