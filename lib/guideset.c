/* guideset.c - loading guideline sets, the set cache and completion splitting. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>
#include "guideset.h"
#include "record.h"
#include "schema.h"
#include "util.h"
#include "io.h"

/* A guideline set is a small hand-written file, so a bigger file is
 * rejected as a mistake. */
#define GUIDESET_MAX_BYTES ((size_t)16 << 20)

static int is_path(const char *s)
{
	size_t n = strlen(s);
	return strchr(s, '/') != NULL || (n >= 5 && strcmp(s + n - 5, ".json") == 0);
}

/* A set name becomes part of a file name, so only plain name characters. */
static int valid_name(const char *s)
{
	if (!*s || *s == '.')
		return 0;
	for (; *s; s++) {
		char c = *s;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return 0;
	}
	return 1;
}

static int fail_at(struct sr_error *err, int code, const char *file, const char *field,
                   const char *msg)
{
	sr_fail(err, code, "%s", msg);
	if (err) {
		snprintf(err->file, sizeof err->file, "%s", file);
		snprintf(err->field, sizeof err->field, "%s", field);
	}
	return code;
}

/* Compile one pattern to check it, naming file and field on failure. */
static int check_pattern(const char *pattern, const char *file, const char *field,
                         struct sr_error *err)
{
	PCRE2_UCHAR text[256];
	char msg[400];
	PCRE2_SIZE off;
	int code;
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
	                               PCRE2_UTF, &code, &off, NULL);
	if (re) {
		pcre2_code_free(re);
		return 0;
	}
	pcre2_get_error_message(code, text, sizeof text);
	snprintf(msg, sizeof msg, "invalid pattern at offset %zu: %s", (size_t)off, (char *)text);
	return fail_at(err, SR_EDATA, file, field, msg);
}

/* Check every regular expression in the set compiles: the coverage patterns
 * and the patterns of the built-in teacher's detect block. */
static int check_patterns(const struct sr_guideset *gs, struct sr_error *err)
{
	char field[256];
	size_t i, j;
	json_t *v;
	int rc;

	for (i = 0; i < gs->n; i++) {
		json_array_foreach(gs->g[i].coverage, j, v) {
			snprintf(field, sizeof field, "/guidelines/%zu/coverage/%zu", i, j);
			if ((rc = check_pattern(json_string_value(v), gs->path, field, err)) < 0)
				return rc;
		}
	}
	json_t *detect = json_object_get(gs->doc, "detect");
	static const char *const groups[] = {"framing", "purpose", "tense", "obfuscation"};
	for (i = 0; detect && i < sizeof groups / sizeof groups[0]; i++) {
		json_array_foreach(json_object_get(detect, groups[i]), j, v) {
			const char *p = json_string_value(json_object_get(v, "pattern"));
			snprintf(field, sizeof field, "/detect/%s/%zu/pattern", groups[i], j);
			if (p && (rc = check_pattern(p, gs->path, field, err)) < 0)
				return rc;
		}
	}
	return 0;
}

/* Fill gs->g from the validated document. The schema has checked types and
 * required members, so only the rules it cannot express are checked here. */
static int index_guidelines(struct sr_guideset *gs, struct sr_error *err)
{
	json_t *arr = json_object_get(gs->doc, "guidelines");
	char field[256];
	size_t i, j;
	json_t *g, *label;

	gs->n = json_array_size(arr);
	gs->g = calloc(gs->n ? gs->n : 1, sizeof *gs->g);
	if (!gs->g)
		return sr_fail(err, SR_ENOMEM, "out of memory");
	json_array_foreach(arr, i, g) {
		struct sr_guideline *gl = &gs->g[i];
		gl->id = json_string_value(json_object_get(g, "id"));
		gl->title = json_string_value(json_object_get(g, "title"));
		gl->instruction = json_string_value(json_object_get(g, "instruction"));
		gl->coverage = json_object_get(g, "coverage");
		json_array_foreach(json_object_get(g, "labels"), j, label) {
			if (strcmp(json_string_value(label), "harmful") == 0)
				gl->for_harmful = 1;
			else
				gl->for_benign = 1;
		}
		for (j = 0; j < i; j++) {
			if (strcmp(gs->g[j].id, gl->id) == 0) {
				snprintf(field, sizeof field, "/guidelines/%zu/id", i);
				return fail_at(err, SR_EDATA, gs->path, field,
				               "duplicate guideline id; ids must be unique within a set");
			}
		}
	}
	return 0;
}

static int load_doc(struct sr_guideset *gs, struct sr_error *err)
{
	struct sr_schema *schema = NULL;
	char *data = NULL;
	size_t len;
	int rc;

	if ((rc = sr_read_file(gs->path, GUIDESET_MAX_BYTES, &data, &len, err)) < 0)
		return rc;
	gs->doc = sr_json_parse(data, len, err);
	free(data);
	if (!gs->doc) {
		if (err && !err->file[0])
			snprintf(err->file, sizeof err->file, "%s", gs->path);
		return err ? err->code : SR_EDATA;
	}
	if ((rc = sr_schema_load_named("guidelines", &schema, err)) < 0)
		return rc;
	rc = sr_schema_validate(schema, gs->doc, err);
	sr_schema_free(schema);
	if (rc < 0) {
		if (err)
			snprintf(err->file, sizeof err->file, "%s", gs->path);
		return rc;
	}
	return 0;
}

int sr_guideset_load(const char *name_or_path, struct sr_guideset **out, struct sr_error *err)
{
	struct sr_guideset *gs;
	char path[4096];
	int rc;

	*out = NULL;
	sr_error_clear(err);
	if (!name_or_path || !*name_or_path)
		name_or_path = "default";
	if (is_path(name_or_path)) {
		snprintf(path, sizeof path, "%s", name_or_path);
	} else {
		char rel[512];
		if (!valid_name(name_or_path))
			return sr_fail(err, SR_EUSAGE,
			               "invalid guideline set name '%s': use letters, digits, '-', '_' "
			               "and '.', or give a path", name_or_path);
		snprintf(rel, sizeof rel, "guidelines/%s.json", name_or_path);
		if (sr_data_path(rel, path, sizeof path, err) < 0)
			return sr_fail(err, SR_ENOTFOUND,
			               "guideline set '%s' not found: no guidelines/%s.json in the "
			               "data directories (set SRKIT_DATADIR or give a path)",
			               name_or_path, name_or_path);
	}
	if (!(gs = calloc(1, sizeof *gs)) || !(gs->path = strdup(path))) {
		free(gs);
		return sr_fail(err, SR_ENOMEM, "out of memory");
	}
	if ((rc = load_doc(gs, err)) < 0)
		goto fail;
	gs->name = json_string_value(json_object_get(gs->doc, "name"));
	gs->version = json_string_value(json_object_get(gs->doc, "version"));
	json_t *tags = json_object_get(gs->doc, "tags");
	gs->open = json_string_value(json_object_get(tags, "open"));
	gs->close = json_string_value(json_object_get(tags, "close"));
	if (strstr(gs->open, gs->close) || strstr(gs->close, gs->open)) {
		rc = fail_at(err, SR_EDATA, gs->path, "/tags",
		             "the open and close tags must differ and neither may contain the other");
		goto fail;
	}
	if ((rc = index_guidelines(gs, err)) < 0 || (rc = check_patterns(gs, err)) < 0)
		goto fail;
	*out = gs;
	return 0;
fail:
	sr_guideset_free(gs);
	return rc;
}

void sr_guideset_free(struct sr_guideset *gs)
{
	if (!gs)
		return;
	json_decref(gs->doc);
	free(gs->g);
	free(gs->path);
	free(gs);
}

const struct sr_guideline *sr_guideset_find(const struct sr_guideset *gs, const char *id)
{
	size_t i;
	for (i = 0; i < gs->n; i++)
		if (strcmp(gs->g[i].id, id) == 0)
			return &gs->g[i];
	return NULL;
}

int sr_guideset_check_record(const struct sr_guideset *gs, json_t *guidelines,
                             struct sr_error *err)
{
	const char *set = json_string_value(json_object_get(guidelines, "set"));
	const char *version = json_string_value(json_object_get(guidelines, "version"));
	json_t *tags = json_object_get(guidelines, "tags");
	const char *open = json_string_value(json_object_get(tags, "open"));
	const char *close = json_string_value(json_object_get(tags, "close"));

	if (!json_is_object(guidelines) || !set || !version) {
		sr_fail(err, SR_EDATA, "missing or invalid: expected an object with string members "
		        "'set' and 'version'");
		goto field;
	}
	if (strcmp(set, gs->name) != 0) {
		sr_fail(err, SR_EDATA, "record names guideline set '%s', but '%s' holds "
		        "set '%s'", set, gs->path, gs->name);
		goto field;
	}
	if (strcmp(version, gs->version) != 0) {
		sr_fail(err, SR_EDATA, "record was built with guideline set '%s' version '%s', "
		        "but '%s' has version '%s'", set, version, gs->path, gs->version);
		goto field;
	}
	if ((open && strcmp(open, gs->open) != 0) || (close && strcmp(close, gs->close) != 0)) {
		sr_fail(err, SR_EDATA, "record's reasoning tags differ from those of guideline "
		        "set '%s' version '%s'", set, version);
		goto field;
	}
	return 0;
field:
	if (err)
		snprintf(err->field, sizeof err->field, "guidelines");
	return SR_EDATA;
}

/* The cache is a short list: a pipeline mixes a handful of sets at most. */
struct sr_guideset_cache {
	char *override_path;
	struct sr_guideset **sets;
	size_t n, cap;
};

struct sr_guideset_cache *sr_guideset_cache_new(const char *override_path)
{
	struct sr_guideset_cache *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	if (override_path && !(c->override_path = strdup(override_path))) {
		free(c);
		return NULL;
	}
	return c;
}

static int cache_add(struct sr_guideset_cache *c, struct sr_guideset *gs, struct sr_error *err)
{
	if (c->n == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 4;
		struct sr_guideset **ns = realloc(c->sets, ncap * sizeof *ns);
		if (!ns) {
			sr_guideset_free(gs);
			return sr_fail(err, SR_ENOMEM, "out of memory");
		}
		c->sets = ns;
		c->cap = ncap;
	}
	c->sets[c->n++] = gs;
	return 0;
}

int sr_guideset_cache_get(struct sr_guideset_cache *c, json_t *guidelines,
                          const struct sr_guideset **out, struct sr_error *err)
{
	const char *set = json_string_value(json_object_get(guidelines, "set"));
	struct sr_guideset *gs = NULL;
	size_t i;
	int rc;

	*out = NULL;
	if (!set) {
		sr_fail(err, SR_EDATA, "missing or invalid: expected an object with a string "
		        "member 'set'");
		if (err)
			snprintf(err->field, sizeof err->field, "guidelines");
		return SR_EDATA;
	}
	if (c->override_path) {
		gs = c->n ? c->sets[0] : NULL;
	} else {
		for (i = 0; i < c->n && !gs; i++)
			if (strcmp(c->sets[i]->name, set) == 0)
				gs = c->sets[i];
	}
	if (!gs) {
		if (!c->override_path && is_path(set))
			return sr_fail(err, SR_EDATA, "invalid guideline set name '%s' in record", set);
		if ((rc = sr_guideset_load(c->override_path ? c->override_path : set, &gs, err)) < 0)
			return rc;
		if ((rc = cache_add(c, gs, err)) < 0)
			return rc;
	}
	if ((rc = sr_guideset_check_record(gs, guidelines, err)) < 0)
		return rc;
	*out = gs;
	return 0;
}

void sr_guideset_cache_free(struct sr_guideset_cache *c)
{
	size_t i;
	if (!c)
		return;
	for (i = 0; i < c->n; i++)
		sr_guideset_free(c->sets[i]);
	free(c->sets);
	free(c->override_path);
	free(c);
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static void trim(const char **p, size_t *len)
{
	while (*len && is_space(**p)) {
		(*p)++;
		(*len)--;
	}
	while (*len && is_space((*p)[*len - 1]))
		(*len)--;
}

/* Position of needle in text[from..len), or len when absent. */
static size_t find(const char *text, size_t len, size_t from, const char *needle, size_t nlen)
{
	size_t i;
	if (nlen == 0 || nlen > len)
		return len;
	for (i = from; i + nlen <= len; i++)
		if (text[i] == needle[0] && memcmp(text + i, needle, nlen) == 0)
			return i;
	return len;
}

static size_t count(const char *text, size_t len, const char *needle, size_t nlen)
{
	size_t n = 0, pos = find(text, len, 0, needle, nlen);
	while (pos < len) {
		n++;
		pos = find(text, len, pos + nlen, needle, nlen);
	}
	return n;
}

/*
 * Without a close tag there is no reasoning: the answer is the whole text.
 * Without an open tag before the close tag, the reasoning is everything
 * before the close tag (chat templates often put the open tag into the
 * prompt). With extra tags, the reasoning still ends at the first close
 * tag and the answer is everything after it.
 */
int sr_split_completion(const char *text, size_t len, const char *open, const char *close,
                        const char **reasoning, size_t *rlen,
                        const char **answer, size_t *alen)
{
	size_t olen = strlen(open), clen = strlen(close);
	size_t opens = count(text, len, open, olen), closes = count(text, len, close, clen);
	size_t c = find(text, len, 0, close, clen);
	size_t o = find(text, c, 0, open, olen);
	int flags = 0;

	if (opens > 1 || closes > 1)
		flags |= SR_SPLIT_EXTRA_TAGS;
	if (c == len) {
		flags |= opens ? SR_SPLIT_NO_CLOSE : SR_SPLIT_NO_OPEN | SR_SPLIT_NO_CLOSE;
		*reasoning = text;
		*rlen = 0;
		*answer = text;
		*alen = len;
		trim(answer, alen);
		return flags;
	}
	if (o == c) {
		flags |= SR_SPLIT_NO_OPEN;
		*reasoning = text;
		*rlen = c;
	} else {
		const char *before = text;
		size_t blen = o;
		trim(&before, &blen);
		if (blen)
			flags |= SR_SPLIT_TEXT_BEFORE;
		*reasoning = text + o + olen;
		*rlen = c - o - olen;
	}
	trim(reasoning, rlen);
	*answer = text + c + clen;
	*alen = len - c - clen;
	trim(answer, alen);
	if (*alen == 0)
		flags |= SR_SPLIT_EMPTY_ANSWER;
	return flags;
}

/* ---- teacher requests ---- */

/* Selection and label of one prompt being built. */
struct prompt_ctx {
	const struct sr_guideset *gs;
	const unsigned char *selected;
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

static int applies(const struct prompt_ctx *c, size_t i, int benign)
{
	const struct sr_guideline *gl = &c->gs->g[i];
	return c->selected[i] && (benign ? gl->for_benign : gl->for_harmful);
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
static int render_guidelines(const struct prompt_ctx *c, int benign, struct sr_buf *out)
{
	size_t i, k = 0;
	for (i = 0; i < c->gs->n; i++) {
		if (!applies(c, i, benign))
			continue;
		if (sr_buf_printf(out, "%s%zu. %s: %s", k ? "\n" : "", k + 1, c->gs->g[i].title,
		                  c->gs->g[i].instruction) < 0)
			return SR_ENOMEM;
		k++;
	}
	return 0;
}

/* Return whether a line of an example's reasoning is the step of a
 * guideline left out for that example. A step starts with "Title:". */
static int line_left_out(const struct prompt_ctx *c, const char *line, size_t len, int benign)
{
	size_t i;
	for (i = 0; i < c->gs->n; i++) {
		const char *t = c->gs->g[i].title;
		size_t k = strlen(t);
		if (len > k && strncmp(line, t, k) == 0 && line[k] == ':')
			return !applies(c, i, benign);
	}
	return 0;
}

/* An example's response with the steps of left-out guidelines removed. */
static int filter_response(const struct prompt_ctx *c, const char *resp, int benign,
                           struct sr_buf *out)
{
	const char *p = resp;
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) + 1 : strlen(p);
		if (!line_left_out(c, p, len, benign) && sr_buf_append(out, p, len) < 0)
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

/* The system message and the example turns. */
static int build_request(const struct prompt_ctx *c, json_t *variant, int benign, int flags,
                         struct sr_buf *out)
{
	const struct sr_guideset *gs = c->gs;
	const char *tmpl = json_string_value(json_object_get(variant, "system_prompt"));
	struct sr_buf list = {0}, sys = {0}, resp = {0};
	json_t *ex;
	size_t i;
	int rc = SR_ENOMEM;

	if (!(flags & SR_PROMPT_REFUSAL_ONLY) && render_guidelines(c, benign, &list) < 0)
		goto out;
	const char *names[] = {"guidelines", "open", "close"};
	const char *values[] = {list.data ? list.data : "", gs->open, gs->close};
	if (render_template(&sys, tmpl ? tmpl : "", names, values, 3) < 0 ||
	    sr_buf_puts(out, "{\"messages\":[") < 0 ||
	    add_message(out, "system", sys.data ? sys.data : "") < 0)
		goto out;
	json_array_foreach((flags & SR_PROMPT_NO_FEW_SHOT) ? NULL : json_object_get(variant, "few_shot"), i, ex) {
		const char *q = json_string_value(json_object_get(ex, "query"));
		const char *r = json_string_value(json_object_get(ex, "response"));
		const char *label = json_string_value(json_object_get(ex, "label"));
		int ex_benign = label && strcmp(label, "benign") == 0;
		sr_buf_reset(&resp);
		if (filter_response(c, r ? r : "", ex_benign, &resp) < 0 ||
		    add_message(out, "user", q ? q : "") < 0 ||
		    add_message(out, "assistant", resp.data ? resp.data : "") < 0)
			goto out;
	}
	rc = 0;
out:
	sr_buf_release(&list);
	sr_buf_release(&sys);
	sr_buf_release(&resp);
	return rc;
}

/* The record's `guidelines` member. */
static int build_member(const struct prompt_ctx *c, int benign, int flags, struct sr_buf *out)
{
	const struct sr_guideset *gs = c->gs;
	int refusal_only = flags & SR_PROMPT_REFUSAL_ONLY;
	size_t i, k = 0;

	if (sr_buf_puts(out, "{\"set\":") < 0 || append_json_string(out, gs->name) < 0 ||
	    sr_buf_puts(out, ",\"version\":") < 0 || append_json_string(out, gs->version) < 0 ||
	    sr_buf_puts(out, ",\"ids\":[") < 0)
		return SR_ENOMEM;
	for (i = 0; i < gs->n && !refusal_only; i++) {
		if (!applies(c, i, benign))
			continue;
		if ((k++ && sr_buf_puts(out, ",") < 0) || append_json_string(out, gs->g[i].id) < 0)
			return SR_ENOMEM;
	}
	if (sr_buf_puts(out, "],\"tags\":{\"open\":") < 0 || append_json_string(out, gs->open) < 0 ||
	    sr_buf_puts(out, ",\"close\":") < 0 || append_json_string(out, gs->close) < 0 ||
	    sr_buf_puts(out, refusal_only ? "},\"variant\":\"refusal_only\"}" : "}}") < 0)
		return SR_ENOMEM;
	return 0;
}

int sr_guideset_prompt_build(const struct sr_guideset *gs, const unsigned char *selected,
                             int benign, int flags, struct sr_guideset_prompt *out,
                             struct sr_error *err)
{
	struct prompt_ctx c = {gs, selected};
	json_t *variant = gs->doc;

	memset(out, 0, sizeof *out);
	if (flags & SR_PROMPT_REFUSAL_ONLY) {
		variant = json_object_get(gs->doc, "refusal_only");
		if (!variant)
			return sr_fail(err, SR_EDATA, "guideline set '%s' (%s) has no refusal_only variant",
			               gs->name, gs->path);
	}
	if (build_request(&c, variant, benign, flags, &out->request) < 0 ||
	    build_member(&c, benign, flags, &out->guidelines) < 0) {
		sr_guideset_prompt_release(out);
		return sr_fail(err, SR_ENOMEM, "out of memory");
	}
	return 0;
}

void sr_guideset_prompt_release(struct sr_guideset_prompt *p)
{
	if (!p)
		return;
	sr_buf_release(&p->request);
	sr_buf_release(&p->guidelines);
}
