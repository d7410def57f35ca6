/*
 * llmjudge.c - loading LLM judge formats, filling their templates and
 * parsing their output. See llmjudge.h.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "io.h"
#include "llmjudge.h"
#include "record.h"
#include "util.h"

/* Largest judge file read. */
#define MAX_JUDGE_FILE ((size_t)1 << 20)

struct sr_llmjudge {
	json_t *doc;            /* the whole file (owned) */
	const char *name;
	json_t *messages;       /* borrowed from doc */
	json_int_t max_tokens;
	double temperature, retry_temperature;
	pcre2_code *verdict_re, *category_re;
	int caseless;
	json_t *unsafe_values, *safe_values, *category_names; /* borrowed from doc */
};

static const char *const variables[] = { "query", "attacked_query", "response", "category" };

/* The text of variable v and its length in *len. */
static const char *variable_value(const struct sr_llmjudge_input *in, size_t v, size_t *len)
{
	const char *s;
	switch (v) {
	case 0: s = in->query; *len = in->query_len; break;
	case 1: s = in->attacked_query; *len = in->attacked_query_len; break;
	case 2: s = in->response; *len = in->response_len; break;
	default: s = in->category; *len = in->category_len; break;
	}
	if (!s)
		*len = 0;
	return s ? s : "";
}

/* Index of the variable named at p (just after "{{"), or -1. *len is the
 * length of the whole "{{name}}". */
static int variable_at(const char *p, size_t *len)
{
	for (size_t v = 0; v < sizeof variables / sizeof variables[0]; v++) {
		size_t n = strlen(variables[v]);
		if (strncmp(p + 2, variables[v], n) == 0 && strncmp(p + 2 + n, "}}", 2) == 0) {
			*len = n + 4;
			return (int)v;
		}
	}
	return -1;
}

char *sr_llmjudge_fill(const char *tmpl, const struct sr_llmjudge_input *in, size_t *out_len)
{
	struct sr_buf b = {0};
	const char *p = tmpl;
	int rc = 0;
	while (*p && rc == 0) {
		const char *q = strstr(p, "{{");
		size_t len;
		int v;
		if (!q) {
			rc = sr_buf_puts(&b, p);
			break;
		}
		rc = sr_buf_append(&b, p, (size_t)(q - p));
		if (rc == 0 && (v = variable_at(q, &len)) >= 0) {
			size_t vlen;
			const char *value = variable_value(in, (size_t)v, &vlen);
			rc = sr_buf_append(&b, value, vlen);
			p = q + len;
		} else if (rc == 0) {
			rc = sr_buf_append(&b, q, 2);
			p = q + 2;
		}
	}
	if (rc == 0 && !b.data)
		rc = sr_buf_puts(&b, "");
	if (rc < 0) {
		sr_buf_release(&b);
		return NULL;
	}
	*out_len = b.len;
	return b.data;
}

static int load_error(struct sr_error *err, const char *path, const char *field, const char *fmt, const char *detail)
{
	sr_fail(err, SR_EDATA, fmt, detail);
	if (err) {
		snprintf(err->file, sizeof err->file, "%s", path);
		snprintf(err->field, sizeof err->field, "%s", field);
	}
	return SR_EDATA;
}

static pcre2_code *compile(const char *pattern, int caseless, char *msg, size_t cap)
{
	int code;
	PCRE2_SIZE off;
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
	                               PCRE2_UTF | PCRE2_MULTILINE | (caseless ? PCRE2_CASELESS : 0),
	                               &code, &off, NULL);
	if (!re) {
		PCRE2_UCHAR text[256];
		pcre2_get_error_message(code, text, sizeof text);
		snprintf(msg, cap, "'%s' at offset %zu: %s", pattern, (size_t)off, (const char *)text);
	}
	return re;
}

/* Check that a template uses only the known variables. */
static int check_template(const char *tmpl, char *bad, size_t cap)
{
	for (const char *q = strstr(tmpl, "{{"); q; q = strstr(q + 2, "{{")) {
		size_t len;
		if (variable_at(q, &len) < 0) {
			const char *end = strstr(q, "}}");
			snprintf(bad, cap, "%.*s", end ? (int)(end - q + 2) : 16, q);
			return -1;
		}
	}
	return 0;
}

static int is_string_array(json_t *a)
{
	size_t i;
	json_t *v;
	if (!json_is_array(a) || json_array_size(a) == 0)
		return 0;
	json_array_foreach(a, i, v)
		if (!json_is_string(v))
			return 0;
	return 1;
}

static int parse_doc(struct sr_llmjudge *j, const char *path, struct sr_error *err)
{
	json_t *doc = j->doc, *v, *m;
	char msg[512];
	size_t i;

	if (!json_is_object(doc))
		return load_error(err, path, "", "%s", "a judge file must be a JSON object");
	if (!json_is_string(v = json_object_get(doc, "name")) || !*json_string_value(v))
		return load_error(err, path, "name", "%s", "missing judge 'name'");
	j->name = json_string_value(v);

	j->messages = json_object_get(doc, "messages");
	if (!json_is_array(j->messages) || json_array_size(j->messages) == 0)
		return load_error(err, path, "messages", "%s", "'messages' must be a non-empty array");
	json_array_foreach(j->messages, i, m) {
		json_t *role = json_object_get(m, "role"), *content = json_object_get(m, "content");
		if (!json_is_string(role) || !json_is_string(content))
			return load_error(err, path, "messages", "%s", "each message needs 'role' and 'content' strings");
		if (check_template(json_string_value(content), msg, sizeof msg) < 0)
			return load_error(err, path, "messages", "unknown template variable '%s' "
			                  "(known: {{query}}, {{attacked_query}}, {{response}}, {{category}})", msg);
	}

	j->max_tokens = 64;
	if ((v = json_object_get(doc, "max_tokens"))) {
		if (!json_is_integer(v) || json_integer_value(v) < 1)
			return load_error(err, path, "max_tokens", "%s", "'max_tokens' must be a positive integer");
		j->max_tokens = json_integer_value(v);
	}
	j->temperature = 0.0;
	j->retry_temperature = 0.7;
	if ((v = json_object_get(doc, "temperature")) && !json_is_number(v))
		return load_error(err, path, "temperature", "%s", "'temperature' must be a number");
	if (v)
		j->temperature = json_number_value(v);
	if ((v = json_object_get(doc, "retry_temperature")) && !json_is_number(v))
		return load_error(err, path, "retry_temperature", "%s", "'retry_temperature' must be a number");
	if (v)
		j->retry_temperature = json_number_value(v);

	json_t *verdict = json_object_get(doc, "verdict");
	if (!json_is_object(verdict) || !json_is_string(v = json_object_get(verdict, "pattern")))
		return load_error(err, path, "verdict", "%s", "'verdict' needs a 'pattern' string");
	j->caseless = json_is_true(json_object_get(verdict, "caseless"));
	if (!(j->verdict_re = compile(json_string_value(v), j->caseless, msg, sizeof msg)))
		return load_error(err, path, "verdict/pattern", "invalid pattern %s", msg);
	uint32_t groups = 0;
	pcre2_pattern_info(j->verdict_re, PCRE2_INFO_CAPTURECOUNT, &groups);
	if (groups < 1)
		return load_error(err, path, "verdict/pattern", "%s", "the verdict pattern needs a capture group");
	j->unsafe_values = json_object_get(verdict, "unsafe");
	j->safe_values = json_object_get(verdict, "safe");
	if (!is_string_array(j->unsafe_values) || !is_string_array(j->safe_values))
		return load_error(err, path, "verdict", "%s", "'verdict' needs non-empty 'unsafe' and 'safe' string arrays");

	json_t *cats = json_object_get(doc, "categories");
	if (cats) {
		if (!json_is_object(cats) || !json_is_string(v = json_object_get(cats, "pattern")))
			return load_error(err, path, "categories", "%s", "'categories' needs a 'pattern' string");
		if (!(j->category_re = compile(json_string_value(v), j->caseless, msg, sizeof msg)))
			return load_error(err, path, "categories/pattern", "invalid pattern %s", msg);
		j->category_names = json_object_get(cats, "names");
		if (j->category_names && !json_is_object(j->category_names))
			return load_error(err, path, "categories/names", "%s", "'names' must be an object");
	}
	return 0;
}

int sr_llmjudge_load(const char *name_or_path, struct sr_llmjudge **out, struct sr_error *err)
{
	char path[4096];
	char *data;
	size_t len;
	int rc;

	*out = NULL;
	size_t n = strlen(name_or_path);
	if (strchr(name_or_path, '/') || (n > 5 && strcmp(name_or_path + n - 5, ".json") == 0)) {
		snprintf(path, sizeof path, "%s", name_or_path);
	} else {
		char rel[512];
		snprintf(rel, sizeof rel, "judges/%s.json", name_or_path);
		if ((rc = sr_data_path(rel, path, sizeof path, err)) < 0)
			return sr_fail(err, SR_ENOTFOUND, "unknown judge '%s': no judges/%s.json in the data directory",
			               name_or_path, name_or_path);
	}
	if ((rc = sr_read_file(path, MAX_JUDGE_FILE, &data, &len, err)) < 0)
		return rc;
	struct sr_llmjudge *j = calloc(1, sizeof *j);
	if (!j) {
		free(data);
		return sr_fail(err, SR_ENOMEM, "out of memory");
	}
	j->doc = sr_json_parse(data, len, err);
	free(data);
	if (!j->doc) {
		if (err)
			snprintf(err->file, sizeof err->file, "%s", path);
		sr_llmjudge_free(j);
		return SR_EDATA;
	}
	if ((rc = parse_doc(j, path, err)) < 0) {
		sr_llmjudge_free(j);
		return rc;
	}
	*out = j;
	return 0;
}

void sr_llmjudge_free(struct sr_llmjudge *j)
{
	if (!j)
		return;
	pcre2_code_free(j->verdict_re);
	pcre2_code_free(j->category_re);
	json_decref(j->doc);
	free(j);
}

const char *sr_llmjudge_name(const struct sr_llmjudge *j)
{
	return j->name;
}

json_t *sr_llmjudge_request(const struct sr_llmjudge *j, const struct sr_llmjudge_input *in, int attempt)
{
	json_t *msgs = json_array(), *m;
	size_t i;
	if (!msgs)
		return NULL;
	json_array_foreach(j->messages, i, m) {
		size_t len;
		char *content = sr_llmjudge_fill(json_string_value(json_object_get(m, "content")), in, &len);
		json_t *msg = content ? json_pack("{s:O,s:s%}", "role", json_object_get(m, "role"), "content", content, len)
		                      : NULL;
		free(content);
		if (!msg || json_array_append_new(msgs, msg) < 0) {
			json_decref(msgs);
			return NULL;
		}
	}
	json_t *body = json_pack("{s:o,s:I,s:f}", "messages", msgs, "max_tokens", j->max_tokens,
	                         "temperature", attempt ? j->retry_temperature : j->temperature);
	if (body && attempt && json_object_set_new(body, "seed", json_integer(attempt)) < 0) {
		json_decref(body);
		return NULL;
	}
	return body;
}

static int in_values(json_t *values, const char *s, size_t len, int caseless)
{
	size_t i;
	json_t *v;
	json_array_foreach(values, i, v) {
		const char *w = json_string_value(v);
		if (strlen(w) == len && (caseless ? strncasecmp(w, s, len) : strncmp(w, s, len)) == 0)
			return 1;
	}
	return 0;
}

/* Collect the category matches in text[from..len) into a new array. */
static json_t *find_categories(const struct sr_llmjudge *j, const char *text, size_t len, size_t from)
{
	json_t *cats = json_array();
	if (!cats || !j->category_re)
		return cats;
	pcre2_match_data *md = pcre2_match_data_create_from_pattern(j->category_re, NULL);
	if (!md) {
		json_decref(cats);
		return NULL;
	}
	PCRE2_SIZE off = from;
	while (off <= len && pcre2_match(j->category_re, (PCRE2_SPTR)text, len, off, 0, md, NULL) >= 0) {
		PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
		uint32_t n = pcre2_get_ovector_count(md);
		PCRE2_SIZE s = n > 1 && ov[2] != PCRE2_UNSET ? ov[2] : ov[0];
		PCRE2_SIZE e = n > 1 && ov[2] != PCRE2_UNSET ? ov[3] : ov[1];
		char key[128];
		snprintf(key, sizeof key, "%.*s", (int)(e - s), text + s);
		json_t *name = j->category_names ? json_object_get(j->category_names, key) : NULL;
		json_t *item = json_is_string(name) ? json_copy(name) : json_string(key);
		/* Keep each category once, in the order the judge gave them. */
		int seen = 0;
		size_t i;
		json_t *c;
		json_array_foreach(cats, i, c)
			seen |= item && json_equal(c, item);
		if (item && !seen)
			json_array_append(cats, item);
		json_decref(item);
		off = ov[1] > ov[0] ? ov[1] : ov[1] + 1;
	}
	pcre2_match_data_free(md);
	return cats;
}

int sr_llmjudge_parse(const struct sr_llmjudge *j, const char *text, size_t len, int *unsafe,
                      json_t **categories, struct sr_error *err)
{
	*categories = NULL;
	pcre2_match_data *md = pcre2_match_data_create_from_pattern(j->verdict_re, NULL);
	if (!md)
		return sr_fail(err, SR_ENOMEM, "out of memory");
	int rc = pcre2_match(j->verdict_re, (PCRE2_SPTR)text, len, 0, 0, md, NULL);
	PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
	size_t vs = 0, ve = 0, end = 0;
	if (rc >= 2 && ov[2] != PCRE2_UNSET) {
		vs = ov[2];
		ve = ov[3];
		end = ov[1];
	}
	pcre2_match_data_free(md);
	if (rc < 2 || ve == vs)
		return sr_fail(err, SR_EDATA, "no verdict in the output of judge '%s': \"%.60s\"", j->name, text);
	if (in_values(j->unsafe_values, text + vs, ve - vs, j->caseless))
		*unsafe = 1;
	else if (in_values(j->safe_values, text + vs, ve - vs, j->caseless))
		*unsafe = 0;
	else
		return sr_fail(err, SR_EDATA, "unknown verdict \"%.*s\" from judge '%s'", (int)(ve - vs), text + vs, j->name);
	*categories = *unsafe ? find_categories(j, text, len, end) : json_array();
	if (!*categories)
		return sr_fail(err, SR_ENOMEM, "out of memory");
	return 0;
}
