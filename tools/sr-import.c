/* sr-import - turn CSV, TSV, JSON, JSON Lines or text into query records. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "import.h"
#include "msg.h"
#include "opt.h"
#include "run.h"

#define MAX_MAPS 256

enum {
	OPT_LABEL_FIELD = SR_OPT_TOOL_BASE,
	OPT_LABEL_MAP,
	OPT_CONTEXT,
	OPT_RECORDS,
	OPT_NO_HEADER,
	OPT_NO_META,
};

static const struct option long_options[] = {
	{"format", required_argument, NULL, 'f'},
	{"source", required_argument, NULL, 's'},
	{"label", required_argument, NULL, 'l'},
	{"label-field", required_argument, NULL, OPT_LABEL_FIELD},
	{"label-map", required_argument, NULL, OPT_LABEL_MAP},
	{"map", required_argument, NULL, 'm'},
	{"context", required_argument, NULL, OPT_CONTEXT},
	{"records", required_argument, NULL, OPT_RECORDS},
	{"no-header", no_argument, NULL, OPT_NO_HEADER},
	{"no-meta", no_argument, NULL, OPT_NO_META},
	SR_RUN_LONG_OPTIONS,
	{NULL, 0, NULL, 0},
};

static void usage(void)
{
	printf("Usage: sr-import [OPTION]... [FILE]...\n"
	       "Turn CSV, TSV, JSON, JSON Lines or plain text into query records (JSON Lines).\n"
	       "With no FILE, or when FILE is -, read standard input. Inputs may be zstd-compressed.\n"
	       "\n"
	       "  -f, --format FMT        csv, tsv, json, jsonl or text (default: from the file\n"
	       "                          name, then from the content)\n"
	       "  -s, --source NAME       source name of every record (default: the file's base\n"
	       "                          name without extensions; 'stdin' for standard input)\n"
	       "  -l, --label LABEL       give every record this label: harmful or benign\n"
	       "      --label-field COL   take the label from column COL (default: a column\n"
	       "                          named 'label' when --label is not given)\n"
	       "      --label-map MAP     translate label values: VALUE=LABEL,... where VALUE may\n"
	       "                          be a glob, e.g. safe=benign,'contrast_*'=harmful\n"
	       "  -m, --map FIELD=COL     set record field FIELD from column COL (query, id,\n"
	       "                          category, reference, source or any new field); repeatable\n"
	       "      --context COL       put column COL's text before the query, separated by a\n"
	       "                          line '---' (HarmBench contextual behaviours)\n"
	       "      --records POINTER   JSON: the array of records inside the document, as a\n"
	       "                          JSON Pointer such as /items\n"
	       "      --no-header         CSV/TSV: the first row is data; columns are column_1, ...\n"
	       "      --no-meta           leave unmapped columns out instead of keeping them in meta\n"
	       SR_RUN_HELP
	       "\n"
	       "The query column defaults to the first of query, prompt, forbidden_prompt,\n"
	       "instruction, goal, behavior, question, request, text (any case); an 'id' column\n"
	       "gives the ids, otherwise they are SOURCE-ROW with data rows counted from 1.\n"
	       "Exit status: 0 success, 1 invalid input data (also duplicate ids), 2 usage error,\n"
	       "3 I/O or system failure. See sr-import(1).\n");
}

/* Split "A=B,C=D" into label map entries; the string is modified in place. */
static int parse_label_map(char *s, struct sr_import_label_map *map, size_t *n, size_t cap)
{
	char *save = NULL, *tok;
	for (tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strrchr(tok, '=');
		if (!eq || eq == tok || !eq[1])
			return sr_msg_usage("invalid --label-map entry '%s' (expected VALUE=harmful or "
			                    "VALUE=benign)", tok);
		if (*n == cap)
			return sr_msg_usage("too many --label-map entries (at most %zu)", cap);
		*eq = '\0';
		map[*n].pattern = tok;
		map[(*n)++].label = eq + 1;
	}
	return 0;
}

struct sink_ctx {
	struct sr_run *run;
};

static int emit(void *ctx, const char *line, size_t len, struct sr_error *err)
{
	struct sink_ctx *c = ctx;
	return sr_run_emit_raw(c->run, line, len, 1, err);
}

static int bad(void *ctx, const char *raw, size_t len, struct sr_error *err)
{
	struct sink_ctx *c = ctx;
	return sr_run_bad_line(c->run, raw, len, err);
}

/* Parse the command line into opt. Returns -1 to go on, or the exit status
 * to end with (after --help, --version or a usage error). */
static int parse_args(int argc, char **argv, struct sr_run *run, struct sr_import_options *opt)
{
	static struct sr_import_map maps[MAX_MAPS];
	static struct sr_import_label_map lmap[MAX_MAPS];
	int c;

	opt->maps = maps;
	opt->label_map = lmap;
	while ((c = getopt_long(argc, argv, "f:s:l:m:o:qvhV", long_options, NULL)) != -1) {
		int r = sr_run_option(run, c, optarg);
		if (r < 0)
			return SR_EXIT_USAGE;
		if (r > 0 && c != 'h' && c != 'V')
			continue;
		switch (c) {
		case 'h':
			usage();
			return SR_EXIT_OK;
		case 'V':
			sr_print_version("sr-import");
			return SR_EXIT_OK;
		case 'f':
			if (sr_import_format_parse(optarg, &opt->format) < 0)
				return sr_msg_usage("invalid --format '%s' (expected csv, tsv, json, jsonl "
				                    "or text)", optarg);
			break;
		case 's':
			opt->source = optarg;
			break;
		case 'l':
			opt->label = optarg;
			break;
		case OPT_LABEL_FIELD:
			opt->label_field = optarg;
			break;
		case OPT_LABEL_MAP:
			if (parse_label_map(optarg, lmap, &opt->nlabel_map, MAX_MAPS) != 0)
				return SR_EXIT_USAGE;
			break;
		case 'm': {
			char *eq = strchr(optarg, '=');
			if (!eq || eq == optarg || !eq[1])
				return sr_msg_usage("invalid --map '%s' (expected FIELD=COLUMN)", optarg);
			if (opt->nmaps == MAX_MAPS)
				return sr_msg_usage("too many --map options (at most %d)", MAX_MAPS);
			*eq = '\0';
			maps[opt->nmaps].field = optarg;
			maps[opt->nmaps++].column = eq + 1;
			break;
		}
		case OPT_CONTEXT:
			opt->context_column = optarg;
			break;
		case OPT_RECORDS:
			opt->records_pointer = optarg;
			break;
		case OPT_NO_HEADER:
			opt->no_header = 1;
			break;
		case OPT_NO_META:
			opt->no_meta = 1;
			break;
		default:
			return sr_msg_usage("unknown option");
		}
	}
	opt->max_bytes = run->max_line;
	if (opt->nlabel_map && !opt->label_field && opt->label)
		return sr_msg_usage("--label-map translates a label column; it cannot be used with --label");
	return -1;
}

int main(int argc, char **argv)
{
	struct sr_import_options opt = {0};
	struct sr_importer *imp = NULL;
	struct sr_run run;
	struct sr_error err;
	int rc = 0, i, status;

	sr_error_clear(&err);
	sr_run_init(&run, "sr-import");
	if ((status = parse_args(argc, argv, &run, &opt)) >= 0) {
		sr_run_release(&run);
		return status;
	}
	if ((rc = sr_importer_new(&opt, &imp, &err)) < 0) {
		sr_run_release(&run);
		return sr_msg_usage("%s", err.message);
	}
	if ((rc = sr_run_open_output(&run, &err)) < 0) {
		sr_importer_free(imp);
		if (rc == SR_EUSAGE) {
			sr_run_release(&run);
			return sr_msg_usage("%s", err.message);
		}
		return sr_run_exit(&run, rc, &err);
	}

	struct sink_ctx ctx = {&run};
	struct sr_import_sink sink = {&ctx, emit, bad};
	int nfiles = argc - optind;
	for (i = 0; i < (nfiles > 0 ? nfiles : 1) && rc >= 0; i++) {
		const char *path = nfiles > 0 ? argv[optind + i] : "-";
		rc = sr_importer_run(imp, path, &sink, &err);
		sr_msg_debug("read '%s' as %s", path, sr_import_format_name(sr_importer_last_format(imp)));
	}
	run.records_in = sr_importer_rows(imp);
	run.blank_lines = sr_importer_blank_lines(imp);
	sr_importer_free(imp);
	if (rc == SR_EUSAGE) {
		/* An option that does not fit the input, such as a missing label column. */
		char msg[2048];
		sr_error_format(&err, msg, sizeof msg);
		sr_run_finish(&run, rc, &err);
		sr_run_release(&run);
		return sr_msg_usage("%s", msg);
	}
	rc = sr_run_finish(&run, rc, &err);
	return sr_run_exit(&run, rc, &err);
}
