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

/* The parts of a request that depend only on the label, built once. */
struct prefix {
	struct sr_buf request;     /* {"messages":[system, examples..., */
	struct sr_buf guidelines;  /* the whole `guidelines` member */
};

struct guide {
	const struct sr_guideset *gs;
	unsigned char *selected;   /* per guideline: chosen by --only/--except */
	int refusal_only, few_shot;
	struct prefix prefix[2];   /* [0] harmful, [1] benign */
};

static int append_json_string(struct sr_buf *b, const char *s)
{
	json_t *v = json_string(s);
	char *text = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
	int rc = text ? sr_buf_puts(b, text) : SR_ENOMEM;
	free(text);
	json_decref(v);
	return rc < 0 ? SR_ENOMEM : 0;
}

static int applies(const struct guide *g, size_t i, int benign)
{
	const struct sr_guideline *gl = &g->gs->g[i];
	return g->selected[i] && (benign ? gl->for_benign : gl->for_harmful);
}

/* Replace every {{name}} in tmpl by its value; other text is copied. */
static int render_template(struct sr_buf *out, const char *tmpl, const char *const *names,
                           const char *const *values, size_t n)
{
	const char *p = tmpl;
	while (*p) {
		size_t i;
		int hit = 0;
		if (p[0] == '{' && p[1] == '{') {
			for (i = 0; i < n && !hit; i++) {
				size_t k = strlen(names[i]);
				if (strncmp(p + 2, names[i], k) == 0 && strncmp(p + 2 + k, "}}", 2) == 0) {
					if (sr_buf_puts(out, values[i]) < 0)
						return SR_ENOMEM;
					p += k + 4;
					hit = 1;
				}
			}
		}
		if (!hit && sr_buf_append(out, p++, 1) < 0)
			return SR_ENOMEM;
	}
	return 0;
}

/* The numbered guideline list that replaces {{guidelines}}. */
static int render_guidelines(const struct guide *g, int benign, struct sr_buf *out)
{
	size_t i, k = 0;
	for (i = 0; i < g->gs->n; i++) {
		if (!applies(g, i, benign))
			continue;
		if (sr_buf_printf(out, "%s%zu. %s: %s", k ? "\n" : "", k + 1, g->gs->g[i].title,
		                  g->gs->g[i].instruction) < 0)
			return SR_ENOMEM;
		k++;
	}
	return 0;
}

/* Return whether a line of an example's reasoning is the step of a
 * guideline left out for that example. A step starts with "Title:". */
static int line_left_out(const struct guide *g, const char *line, size_t len, int benign)
{
	size_t i;
	for (i = 0; i < g->gs->n; i++) {
		const char *t = g->gs->g[i].title;
		size_t k = strlen(t);
		if (len > k && strncmp(line, t, k) == 0 && line[k] == ':')
			return !applies(g, i, benign);
	}
	return 0;
}

/* An example's response with the steps of left-out guidelines removed. */
static int filter_response(const struct guide *g, const char *resp, int benign, struct sr_buf *out)
{
	const char *p = resp;
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) + 1 : strlen(p);
		if (!line_left_out(g, p, len, benign) && sr_buf_append(out, p, len) < 0)
			return SR_ENOMEM;
		p += len;
	}
	return 0;
}

static int add_message(struct sr_buf *b, const char *role, const char *content)
{
	if (sr_buf_printf(b, "{\"role\":\"%s\",\"content\":", role) < 0 ||
	    append_json_string(b, content) < 0 || sr_buf_puts(b, "},") < 0)
		return SR_ENOMEM;
	return 0;
}

static int build_prefix(struct guide *g, int benign, struct sr_error *err)
{
	const struct sr_guideset *gs = g->gs;
	struct prefix *px = &g->prefix[benign];
	struct sr_buf list = {0}, sys = {0}, resp = {0};
	json_t *variant = g->refusal_only ? json_object_get(gs->doc, "refusal_only") : gs->doc;
	json_t *examples = json_object_get(variant, "few_shot"), *ex;
	const char *tmpl = json_string_value(json_object_get(variant, "system_prompt"));
	size_t i, k = 0;
	int rc = SR_ENOMEM;

	if (!g->refusal_only && render_guidelines(g, benign, &list) < 0)
		goto out;
	const char *names[] = {"guidelines", "open", "close"};
	const char *values[] = {list.data ? list.data : "", gs->open, gs->close};
	if (render_template(&sys, tmpl, names, values, 3) < 0)
		goto out;
	if (sr_buf_puts(&px->request, "{\"messages\":[") < 0 ||
	    add_message(&px->request, "system", sys.data ? sys.data : "") < 0)
		goto out;
	json_array_foreach(g->few_shot ? examples : NULL, i, ex) {
		const char *q = json_string_value(json_object_get(ex, "query"));
		const char *r = json_string_value(json_object_get(ex, "response"));
		int ex_benign = strcmp(json_string_value(json_object_get(ex, "label")), "benign") == 0;
		sr_buf_reset(&resp);
		if (filter_response(g, r, ex_benign, &resp) < 0 || add_message(&px->request, "user", q) < 0 ||
		    add_message(&px->request, "assistant", resp.data ? resp.data : "") < 0)
			goto out;
	}

	if (sr_buf_puts(&px->guidelines, "{\"set\":") < 0 || append_json_string(&px->guidelines, gs->name) < 0 ||
	    sr_buf_puts(&px->guidelines, ",\"version\":") < 0 ||
	    append_json_string(&px->guidelines, gs->version) < 0 ||
	    sr_buf_puts(&px->guidelines, ",\"ids\":[") < 0)
		goto out;
	for (i = 0; i < gs->n && !g->refusal_only; i++) {
		if (!applies(g, i, benign))
			continue;
		if ((k++ && sr_buf_puts(&px->guidelines, ",") < 0) ||
		    append_json_string(&px->guidelines, gs->g[i].id) < 0)
			goto out;
	}
	if (sr_buf_puts(&px->guidelines, "],\"tags\":{\"open\":") < 0 ||
	    append_json_string(&px->guidelines, gs->open) < 0 ||
	    sr_buf_puts(&px->guidelines, ",\"close\":") < 0 ||
	    append_json_string(&px->guidelines, gs->close) < 0 ||
	    sr_buf_puts(&px->guidelines, g->refusal_only ? "},\"variant\":\"refusal_only\"}" : "}}") < 0)
		goto out;
	rc = 0;
out:
	sr_buf_release(&list);
	sr_buf_release(&sys);
	sr_buf_release(&resp);
	if (rc < 0)
		sr_fail(err, rc, "out of memory");
	return rc;
}

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
 * Write rec with `guidelines` and `request` added at the end (an earlier
 * pair is removed first). The members are spliced onto the serialised
 * record as text, so the input bytes pass unchanged and the long request
 * is never parsed again.
 */
static int guide_record(struct guide *g, struct sr_run *run, struct sr_record *rec,
                        struct sr_buf *out, struct sr_error *err)
{
	const char *label = sr_record_get_str(rec, "label", NULL);
	struct prefix *px = &g->prefix[label && strcmp(label, "benign") == 0];
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
	sr_record_del(rec, "guidelines");
	sr_record_del(rec, "request");
	long n = sr_record_serialize(rec, &out->data, &out->cap);
	if (n < 2) {
		free(qtext);
		return sr_fail(err, SR_ENOMEM, "out of memory");
	}
	/* Drop the closing "}\n"; an empty object needs no comma. */
	out->len = (size_t)n - 2;
	if ((out->len > 1 && sr_buf_puts(out, ",") < 0) ||
	    sr_buf_puts(out, "\"guidelines\":") < 0 ||
	    sr_buf_append(out, px->guidelines.data, px->guidelines.len) < 0 ||
	    sr_buf_puts(out, ",\"request\":") < 0 ||
	    sr_buf_append(out, px->request.data, px->request.len) < 0 ||
	    sr_buf_puts(out, "{\"role\":\"user\",\"content\":") < 0 ||
	    sr_buf_append(out, q, qlen) < 0 || sr_buf_puts(out, "}]}}\n") < 0)
		rc = sr_fail(err, SR_ENOMEM, "out of memory");
	free(qtext);
	if (rc < 0)
		return rc;
	return sr_run_emit_raw(run, out->data, out->len, 1, err);
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
			g->refusal_only = 1;
			break;
		case OPT_NO_FEW_SHOT:
			g->few_shot = 0;
			break;
		case OPT_LIST:
			a->list = 1;
			break;
		default:
			return sr_msg_usage("unknown option");
		}
	}
	if (g->refusal_only && (a->only || a->except))
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
	if (g->refusal_only && !json_object_get((*gs)->doc, "refusal_only")) {
		sr_msg_error("guideline set '%s' (%s) has no refusal_only variant", (*gs)->name, (*gs)->path);
		return SR_EXIT_DATA;
	}
	if ((status = select_guidelines(g, a)) >= 0)
		return status;
	if (build_prefix(g, 0, &err) < 0 || build_prefix(g, 1, &err) < 0) {
		sr_msg_report(&err);
		return SR_EXIT_IO;
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
	g.few_shot = 1;
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
	for (i = 0; i < 2; i++) {
		sr_buf_release(&g.prefix[i].request);
		sr_buf_release(&g.prefix[i].guidelines);
	}
	free(g.selected);
	sr_schema_free(schema);
	sr_guideset_free(gs);
	return status;
}
