/* sr-guide - turn query records into prompt records: the teacher request
 * built from a guideline set. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "guideset.h"
#include "msg.h"
#include "opt.h"
#include "record.h"
#include "run.h"
#include "schema.h"
#include "util.h"

enum {
	OPT_ONLY = SR_OPT_TOOL_BASE,
	OPT_EXCEPT,
	OPT_REFUSAL_ONLY,
	OPT_NO_FEW_SHOT,
	OPT_LIST,
};

static const struct option long_options[] = {
	{"guidelines", required_argument, NULL, 'g'},
	{"only", required_argument, NULL, OPT_ONLY},
	{"except", required_argument, NULL, OPT_EXCEPT},
	{"refusal-only", no_argument, NULL, OPT_REFUSAL_ONLY},
	{"no-few-shot", no_argument, NULL, OPT_NO_FEW_SHOT},
	{"list", no_argument, NULL, OPT_LIST},
	SR_RUN_LONG_OPTIONS,
	{NULL, 0, NULL, 0},
};

static void usage(void)
{
	printf("Usage: sr-guide [OPTION]... [FILE]...\n"
	       "Add the teacher request built from a guideline set to query records, making\n"
	       "prompt records. With no FILE, or when FILE is -, read standard input.\n"
	       "\n"
	       "  -g, --guidelines SET    guideline set: a name looked up in the data directory's\n"
	       "                          guidelines/, or a path (default: default)\n"
	       "      --only ID,...       use only these guidelines (ablations)\n"
	       "      --except ID,...     leave these guidelines out\n"
	       "      --refusal-only      use the set's refusal-only prompt: no reasoning, no\n"
	       "                          guidelines (the refusal-training control)\n"
	       "      --no-few-shot       leave the set's example turns out of the request\n"
	       "      --list              list the set's guidelines and exit\n"
	       SR_RUN_HELP
	       "\n"
	       "A guideline whose labels do not include a record's label is left out of that\n"
	       "record's system prompt and ids. Exit status: 0 success, 1 invalid input data,\n"
	       "2 usage error, 3 I/O or system failure. See sr-guide(1).\n");
}

struct guide {
	const struct sr_guideset *gs;
	unsigned char *selected;              /* per guideline: chosen by --only/--except */
	int flags;                            /* SR_PROMPT_* */
	struct sr_guideset_prompt prompt[2];  /* [0] harmful, [1] benign */
};

/* Mark the guidelines named in a comma-separated list; an unknown id is a
 * usage error naming the ids the set has. */
static int mark_ids(const struct sr_guideset *gs, const char *list, unsigned char *mark,
                    const char *option)
{
	char *copy = strdup(list), *save = NULL, *tok;
	int rc = 0;
	if (!copy)
		return SR_ENOMEM;
	for (tok = strtok_r(copy, ",", &save); tok && rc == 0; tok = strtok_r(NULL, ",", &save)) {
		const struct sr_guideline *gl = sr_guideset_find(gs, tok);
		if (!gl) {
			struct sr_buf ids = {0};
			for (size_t i = 0; i < gs->n; i++)
				sr_buf_printf(&ids, "%s%s", i ? ", " : "", gs->g[i].id);
			sr_msg_usage("%s: guideline set '%s' has no guideline '%s' (its ids: %s)", option,
			             gs->name, tok, ids.data ? ids.data : "");
			sr_buf_release(&ids);
			rc = SR_EUSAGE;
		} else {
			mark[gl - gs->g] = 1;
		}
	}
	free(copy);
	return rc;
}

static void list_guidelines(const struct sr_guideset *gs)
{
	size_t i;
	printf("%s %s (%s)\n", gs->name, gs->version, gs->path);
	for (i = 0; i < gs->n; i++)
		printf("  %-16s %-16s %s\n", gs->g[i].id,
		       gs->g[i].for_harmful && gs->g[i].for_benign ? "harmful,benign" :
		       gs->g[i].for_harmful ? "harmful" : "benign", gs->g[i].title);
}

/*
 * Write rec with `guidelines` and `request` set: replaced in place when the
 * record already has them, appended otherwise. Both are set from bytes
 * (sr_record_set_raw), so the input passes unchanged and the long request
 * is never parsed again.
 */
static int guide_record(struct guide *g, struct sr_run *run, struct sr_record *rec,
                        struct sr_buf *out, struct sr_error *err)
{
	const char *label = sr_record_get_str(rec, "label", NULL);
	const struct sr_guideset_prompt *px = &g->prompt[label && strcmp(label, "benign") == 0];
	size_t qlen;
	const char *q = sr_record_raw(rec, "query", &qlen);
	char *qtext = NULL;
	int rc = 0;

	/* The query is copied as it was written, escapes included, unless an
	 * earlier change left only its parsed value. */
	if (!q) {
		json_t *qv = sr_record_get(rec, "query");
		if (!qv || !(qtext = sr_json_dumps(qv)))
			return sr_fail(err, SR_ENOMEM, "out of memory");
		q = qtext;
		qlen = strlen(qtext);
	}
	sr_buf_reset(out);
	if (sr_buf_append(out, px->request.data, px->request.len) < 0 ||
	    sr_buf_puts(out, "{\"role\":\"user\",\"content\":") < 0 ||
	    sr_buf_append(out, q, qlen) < 0 || sr_buf_puts(out, "}]}") < 0)
		rc = sr_fail(err, SR_ENOMEM, "out of memory");
	free(qtext);
	if (rc < 0)
		return rc;
	if (sr_record_set_raw(rec, "guidelines", px->guidelines.data, px->guidelines.len) < 0 ||
	    sr_record_set_raw(rec, "request", out->data, out->len) < 0)
		return sr_fail(err, SR_ENOMEM, "out of memory");
	return sr_run_emit(run, rec, err);
}

struct args {
	const char *set, *only, *except;
	int list;
};

/* Parse the command line. Returns -1 to go on, or the exit status to end
 * with (after --help, --version or a usage error). */
static int parse_args(int argc, char **argv, struct sr_run *run, struct guide *g, struct args *a)
{
	int c;
	while ((c = getopt_long(argc, argv, "g:o:qvhV", long_options, NULL)) != -1) {
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
			sr_print_version("sr-guide");
			return SR_EXIT_OK;
		case 'g':
			a->set = optarg;
			break;
		case OPT_ONLY:
			a->only = optarg;
			break;
		case OPT_EXCEPT:
			a->except = optarg;
			break;
		case OPT_REFUSAL_ONLY:
			g->flags |= SR_PROMPT_REFUSAL_ONLY;
			break;
		case OPT_NO_FEW_SHOT:
			g->flags |= SR_PROMPT_NO_FEW_SHOT;
			break;
		case OPT_LIST:
			a->list = 1;
			break;
		default:
			return sr_msg_usage("unknown option");
		}
	}
	if ((g->flags & SR_PROMPT_REFUSAL_ONLY) && (a->only || a->except))
		return sr_msg_usage("--refusal-only uses no guidelines, so --only and --except do not apply");
	return -1;
}

/* Choose the guidelines by --only and --except. Returns -1 to go on or an
 * exit status. */
static int select_guidelines(struct guide *g, const struct args *a)
{
	const struct sr_guideset *gs = g->gs;
	unsigned char *except_mark;
	size_t i;
	int rc = 0;

	g->selected = calloc(gs->n ? gs->n : 1, 1);
	except_mark = calloc(gs->n ? gs->n : 1, 1);
	if (!g->selected || !except_mark) {
		free(except_mark);
		sr_msg_error("out of memory");
		return SR_EXIT_IO;
	}
	if (a->only)
		rc = mark_ids(gs, a->only, g->selected, "--only");
	else
		memset(g->selected, 1, gs->n);
	if (rc == 0 && a->except && (rc = mark_ids(gs, a->except, except_mark, "--except")) == 0) {
		for (i = 0; i < gs->n; i++)
			if (except_mark[i])
				g->selected[i] = 0;
	}
	free(except_mark);
	if (rc == SR_ENOMEM) {
		sr_msg_error("out of memory");
		return SR_EXIT_IO;
	}
	return rc < 0 ? SR_EXIT_USAGE : -1;
}

/* Load the set and prepare the request parts. Returns -1 to go on or an
 * exit status. */
static int prepare(struct guide *g, const struct args *a, struct sr_guideset **gs)
{
	struct sr_error err;
	int rc, status;

	if ((rc = sr_guideset_load(a->set, gs, &err)) < 0) {
		sr_msg_report(&err);
		return rc == SR_EUSAGE ? SR_EXIT_USAGE : sr_exit_status(rc);
	}
	g->gs = *gs;
	if (a->list) {
		list_guidelines(*gs);
		return SR_EXIT_OK;
	}
	if ((status = select_guidelines(g, a)) >= 0)
		return status;
	if ((rc = sr_guideset_prompt_build(*gs, g->selected, 0, g->flags, &g->prompt[0], &err)) < 0 ||
	    (rc = sr_guideset_prompt_build(*gs, g->selected, 1, g->flags, &g->prompt[1], &err)) < 0) {
		sr_msg_report(&err);
		return sr_exit_status(rc);
	}
	return -1;
}

int main(int argc, char **argv)
{
	struct sr_guideset *gs = NULL;
	struct sr_schema *schema = NULL;
	struct guide g = {0};
	struct args a = {"default", NULL, NULL, 0};
	struct sr_record rec;
	struct sr_buf req = {0};
	struct sr_run run;
	struct sr_error err;
	int rc, status;
	size_t i;

	sr_error_clear(&err);
	sr_record_init(&rec);
	sr_run_init(&run, "sr-guide");
	if ((status = parse_args(argc, argv, &run, &g, &a)) >= 0 ||
	    (status = prepare(&g, &a, &gs)) >= 0) {
		sr_run_release(&run);
		goto cleanup;
	}

	if ((rc = sr_schema_load_named("query", &schema, &err)) < 0)
		goto done;
	run.schema = schema;
	if ((rc = sr_run_open(&run, argc - optind, argv + optind, &err)) < 0) {
		if (rc == SR_EUSAGE) {
			status = sr_msg_usage("%s", err.message);
			sr_run_release(&run);
			goto cleanup;
		}
		goto done;
	}
	while ((rc = sr_run_next(&run, &rec, &err)) > 0) {
		if ((rc = guide_record(&g, &run, &rec, &req, &err)) < 0)
			break;
	}
	if (rc > 0)
		rc = 0;
done:
	rc = sr_run_finish(&run, rc, &err);
	status = sr_run_exit(&run, rc, &err);
cleanup:
	sr_record_release(&rec);
	sr_buf_release(&req);
	for (i = 0; i < 2; i++)
		sr_guideset_prompt_release(&g.prompt[i]);
	free(g.selected);
	sr_schema_free(schema);
	sr_guideset_free(gs);
	return status;
}
