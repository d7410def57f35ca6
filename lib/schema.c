/* schema.c - a validator for the JSON Schema subset srkit's schemas use. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <math.h>
#include <stdarg.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "io.h"
#include "schema.h"
#include "util.h"

struct pattern {
	json_t *node;          /* the "pattern" string in the schema (borrowed) */
	pcre2_code *code;
};

/* A property's constraints flattened once at load, for checking raw bytes. */
enum { T_STRING = 1, T_OBJECT = 2, T_ARRAY = 4, T_BOOL = 8, T_NULL = 16, T_NUMBER = 32, T_INTEGER = 64 };
struct rawplan {
	json_t *node;          /* the property schema (borrowed) */
	int usable;            /* 0: needs the parsed value */
	unsigned types;        /* allowed T_* bits; 0 = any */
	int string_only;       /* has string keywords that need the text */
	json_int_t minlen, maxlen;
	pcre2_code *pat;
	json_t *enumv, *constv;
};

struct sr_schema {
	json_t *doc;
	struct rawplan *plans;
	size_t nplans;
	int record_fast;       /* root has only type/required/properties/additionalProperties */
	char name[256];
	struct pattern *pat;
	size_t npat, patcap;
	pcre2_match_data *md;
};

static const char *const ignored_keywords[] = {
	"$schema", "$id", "$comment", "$defs", "title", "description", "default",
	"examples", "deprecated", "readOnly", "writeOnly", "format", NULL
};
static const char *const known_keywords[] = {
	"type", "required", "properties", "additionalProperties", "enum", "const",
	"items", "minItems", "maxItems", "minLength", "maxLength", "minimum",
	"maximum", "pattern", "$ref", NULL
};

static int in_list(const char *k, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(k, *list) == 0)
			return 1;
	return 0;
}

static int add_pattern(struct sr_schema *s, json_t *node, const char *where, struct sr_error *err)
{
	int ec;
	PCRE2_SIZE off;
	pcre2_code *code = pcre2_compile((PCRE2_SPTR)json_string_value(node), json_string_length(node),
	                                 PCRE2_UTF | PCRE2_UCP, &ec, &off, NULL);
	if (!code) {
		PCRE2_UCHAR msg[256];
		pcre2_get_error_message(ec, msg, sizeof msg);
		snprintf(err->field, sizeof err->field, "%s/pattern", where);
		return sr_fail(err, SR_EDATA, "schema '%s': invalid pattern at offset %zu: %s",
		               s->name, (size_t)off, (char *)msg);
	}
	if (s->npat == s->patcap) {
		size_t ncap = s->patcap ? s->patcap * 2 : 8;
		struct pattern *np = realloc(s->pat, ncap * sizeof *np);
		if (!np) {
			pcre2_code_free(code);
			return sr_fail(err, SR_ENOMEM, "out of memory");
		}
		s->pat = np;
		s->patcap = ncap;
	}
	s->pat[s->npat].node = node;
	s->pat[s->npat].code = code;
	s->npat++;
	return 0;
}

/* Walk a schema node: reject keywords outside the subset, compile patterns. */
static int check_node(struct sr_schema *s, json_t *node, const char *where, struct sr_error *err)
{
	const char *k;
	json_t *v;
	char sub[1024];
	int rc;

	if (json_is_boolean(node))
		return 0;
	if (!json_is_object(node)) {
		snprintf(err->field, sizeof err->field, "%s", where[0] ? where : "/");
		return sr_fail(err, SR_EDATA, "schema '%s': a schema must be an object or a boolean", s->name);
	}
	json_object_foreach(node, k, v) {
		if (in_list(k, ignored_keywords) && strcmp(k, "$defs") != 0)
			continue;
		if (!in_list(k, known_keywords) && strcmp(k, "$defs") != 0) {
			snprintf(err->field, sizeof err->field, "%s/%s", where, k);
			return sr_fail(err, SR_EDATA, "schema '%s': keyword '%s' is not supported by this validator",
			               s->name, k);
		}
		if (strcmp(k, "properties") == 0 || strcmp(k, "$defs") == 0) {
			const char *pk;
			json_t *pv;
			if (!json_is_object(v))
				return sr_fail(err, SR_EDATA, "schema '%s': '%s' must be an object", s->name, k);
			json_object_foreach(v, pk, pv) {
				snprintf(sub, sizeof sub, "%s/%s/%s", where, k, pk);
				if ((rc = check_node(s, pv, sub, err)) < 0)
					return rc;
			}
		} else if (strcmp(k, "items") == 0 || strcmp(k, "additionalProperties") == 0) {
			snprintf(sub, sizeof sub, "%s/%s", where, k);
			if ((rc = check_node(s, v, sub, err)) < 0)
				return rc;
		} else if (strcmp(k, "pattern") == 0) {
			if (!json_is_string(v))
				return sr_fail(err, SR_EDATA, "schema '%s': 'pattern' must be a string", s->name);
			if ((rc = add_pattern(s, v, where, err)) < 0)
				return rc;
		}
	}
	return 0;
}

static pcre2_code *find_pattern(const struct sr_schema *s, json_t *node)
{
	for (size_t i = 0; i < s->npat; i++)
		if (s->pat[i].node == node)
			return s->pat[i].code;
	return NULL;
}

static json_t *resolve_ref(const struct sr_schema *s, const char *ref);

static unsigned type_bit(const char *t)
{
	if (!t) return 0;
	if (strcmp(t, "string") == 0) return T_STRING;
	if (strcmp(t, "object") == 0) return T_OBJECT;
	if (strcmp(t, "array") == 0) return T_ARRAY;
	if (strcmp(t, "boolean") == 0) return T_BOOL;
	if (strcmp(t, "null") == 0) return T_NULL;
	if (strcmp(t, "number") == 0) return T_NUMBER | T_INTEGER;
	if (strcmp(t, "integer") == 0) return T_INTEGER;
	return 0;
}

/* Merge node's keywords into plan; returns 0 when the raw path cannot check them. */
static int plan_merge(const struct sr_schema *s, struct rawplan *p, json_t *node, int depth)
{
	const char *key;
	json_t *k;
	if (json_is_true(node))
		return 1;
	if (!json_is_object(node) || depth > 8)
		return 0;
	json_object_foreach(node, key, k) {
		if (in_list(key, ignored_keywords))
			continue;
		if (strcmp(key, "$ref") == 0) {
			json_t *t = resolve_ref(s, json_string_value(k));
			if (!t || !plan_merge(s, p, t, depth + 1))
				return 0;
		} else if (strcmp(key, "type") == 0) {
			unsigned m = 0;
			if (json_is_string(k))
				m = type_bit(json_string_value(k));
			else
				for (size_t i = 0; i < json_array_size(k); i++)
					m |= type_bit(json_string_value(json_array_get(k, i)));
			if (!m)
				return 0;
			p->types = p->types ? (p->types & m) : m;
		} else if (strcmp(key, "minLength") == 0) {
			p->minlen = json_integer_value(k);
			p->string_only = 1;
		} else if (strcmp(key, "maxLength") == 0) {
			p->maxlen = json_integer_value(k);
			p->string_only = 1;
		} else if (strcmp(key, "pattern") == 0) {
			if (p->pat || !(p->pat = find_pattern(s, k)))
				return 0;
			p->string_only = 1;
		} else if (strcmp(key, "enum") == 0 || strcmp(key, "const") == 0) {
			if (p->enumv || p->constv)
				return 0;
			if (key[0] == 'e') {
				for (size_t i = 0; i < json_array_size(k); i++)
					if (!json_is_string(json_array_get(k, i)))
						return 0;
				p->enumv = k;
			} else {
				if (!json_is_string(k))
					return 0;
				p->constv = k;
			}
			p->string_only = 1;
		} else {
			return 0;
		}
	}
	return 1;
}

static void build_plans(struct sr_schema *s)
{
	json_t *root = s->doc, *props, *k;
	const char *key;
	size_t n, i = 0;

	while ((k = json_object_get(root, "$ref"))) {
		json_t *t = resolve_ref(s, json_string_value(k));
		if (!t || t == root)
			return;
		root = t;
	}
	s->record_fast = json_is_object(root);
	json_object_foreach(root, key, k)
		if (!in_list(key, ignored_keywords) && strcmp(key, "type") != 0 &&
		    strcmp(key, "required") != 0 && strcmp(key, "properties") != 0 &&
		    strcmp(key, "additionalProperties") != 0)
			s->record_fast = 0;
	props = json_object_get(root, "properties");
	n = json_object_size(props);
	if (!n || !(s->plans = calloc(n, sizeof *s->plans)))
		return;
	json_object_foreach(props, key, k) {
		struct rawplan *p = &s->plans[i++];
		p->node = k;
		p->minlen = -1;
		p->maxlen = -1;
		p->usable = plan_merge(s, p, k, 0);
	}
	s->nplans = n;
}

int sr_schema_from_json(json_t *doc, const char *name, struct sr_schema **out, struct sr_error *err)
{
	struct sr_schema *s = calloc(1, sizeof *s);
	int rc;
	*out = NULL;
	if (!s)
		return sr_fail(err, SR_ENOMEM, "out of memory");
	snprintf(s->name, sizeof s->name, "%s", name ? name : "schema");
	s->doc = json_incref(doc);
	if ((rc = check_node(s, doc, "", err)) < 0) {
		sr_schema_free(s);
		return rc;
	}
	if (!(s->md = pcre2_match_data_create(4, NULL))) {
		sr_schema_free(s);
		return sr_fail(err, SR_ENOMEM, "out of memory");
	}
	build_plans(s);
	*out = s;
	return 0;
}

int sr_schema_load(const char *path, struct sr_schema **out, struct sr_error *err)
{
	char *text;
	size_t len;
	json_t *doc;
	int rc;

	*out = NULL;
	if ((rc = sr_read_file(path, (size_t)64 << 20, &text, &len, err)) < 0)
		return rc;
	doc = sr_json_parse(text, len, err);
	free(text);
	if (!doc) {
		snprintf(err->file, sizeof err->file, "%s", path);
		return SR_EDATA;
	}
	rc = sr_schema_from_json(doc, path, out, err);
	json_decref(doc);
	return rc;
}

int sr_schema_load_named(const char *name, struct sr_schema **out, struct sr_error *err)
{
	char rel[512], path[4096];
	int rc;
	snprintf(rel, sizeof rel, "schemas/%s.schema.json", name);
	if ((rc = sr_data_path(rel, path, sizeof path, err)) < 0)
		return rc;
	return sr_schema_load(path, out, err);
}

void sr_schema_free(struct sr_schema *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->npat; i++)
		pcre2_code_free(s->pat[i].code);
	free(s->pat);
	pcre2_match_data_free(s->md);
	free(s->plans);
	json_decref(s->doc);
	free(s);
}

/* ---- validation ---- */

struct vctx {
	const struct sr_schema *s;
	struct sr_error *err;
	char path[1024];
	int depth;
};

static const char *type_name(const json_t *v)
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

static int type_matches(const json_t *v, const char *t)
{
	if (strcmp(t, "object") == 0) return json_is_object(v);
	if (strcmp(t, "array") == 0) return json_is_array(v);
	if (strcmp(t, "string") == 0) return json_is_string(v);
	if (strcmp(t, "number") == 0) return json_is_number(v);
	if (strcmp(t, "integer") == 0)
		return json_is_integer(v) ||
		       (json_is_real(v) && floor(json_real_value(v)) == json_real_value(v));
	if (strcmp(t, "boolean") == 0) return json_is_boolean(v);
	if (strcmp(t, "null") == 0) return json_is_null(v);
	return 0;
}

/* JSON Schema equality: numbers compare by value (1 == 1.0). */
static int values_equal(json_t *a, json_t *b)
{
	if (json_is_number(a) && json_is_number(b))
		return json_number_value(a) == json_number_value(b);
	if (json_is_array(a) && json_is_array(b)) {
		if (json_array_size(a) != json_array_size(b))
			return 0;
		for (size_t i = 0; i < json_array_size(a); i++)
			if (!values_equal(json_array_get(a, i), json_array_get(b, i)))
				return 0;
		return 1;
	}
	if (json_is_object(a) && json_is_object(b)) {
		const char *k;
		json_t *v;
		if (json_object_size(a) != json_object_size(b))
			return 0;
		json_object_foreach(a, k, v) {
			json_t *w = json_object_get(b, k);
			if (!w || !values_equal(v, w))
				return 0;
		}
		return 1;
	}
	return json_equal(a, b);
}

static size_t utf8_length(const char *s, size_t n)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		k += ((unsigned char)s[i] & 0xC0) != 0x80;
	return k;
}

static int vfail(struct vctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int vfail(struct vctx *c, const char *fmt, ...)
{
	va_list ap;
	if (c->err) {
		snprintf(c->err->field, sizeof c->err->field, "%s", c->path[0] ? c->path : "/");
		va_start(ap, fmt);
		vsnprintf(c->err->message, sizeof c->err->message, fmt, ap);
		va_end(ap);
		c->err->code = SR_ESCHEMA;
	}
	return SR_ESCHEMA;
}

static json_t *resolve_ref(const struct sr_schema *s, const char *ref)
{
	if (strcmp(ref, "#") == 0)
		return s->doc;
	if (strncmp(ref, "#/$defs/", 8) == 0)
		return json_object_get(json_object_get(s->doc, "$defs"), ref + 8);
	return NULL;
}

static int validate(struct vctx *c, json_t *sch, json_t *v);

/* Append "/key" (JSON Pointer escaped) to the path; returns the old length. */
static size_t push_path(struct vctx *c, const char *key, size_t keylen)
{
	size_t old = strlen(c->path), n = old;
	if (n + 1 < sizeof c->path)
		c->path[n++] = '/';
	for (size_t i = 0; i < keylen && n + 2 < sizeof c->path; i++) {
		if (key[i] == '~') {
			c->path[n++] = '~';
			c->path[n++] = '0';
		} else if (key[i] == '/') {
			c->path[n++] = '~';
			c->path[n++] = '1';
		} else {
			c->path[n++] = key[i];
		}
	}
	c->path[n] = '\0';
	return old;
}

static int validate_member(struct vctx *c, json_t *sch, const char *key, size_t keylen, json_t *v)
{
	size_t old = push_path(c, key, keylen);
	int rc = validate(c, sch, v);
	if (rc == 0)
		c->path[old] = '\0';
	return rc;
}

static int validate_scalar_keywords(struct vctx *c, json_t *sch, json_t *v)
{
	json_t *k;

	if ((k = json_object_get(sch, "type"))) {
		int ok = 0;
		if (json_is_string(k))
			ok = type_matches(v, json_string_value(k));
		else if (json_is_array(k))
			for (size_t i = 0; i < json_array_size(k) && !ok; i++)
				ok = type_matches(v, json_string_value(json_array_get(k, i)));
		if (!ok) {
			char *want = sr_json_dumps(k);
			int rc = vfail(c, "expected type %s, got %s", want ? want : "?", type_name(v));
			free(want);
			return rc;
		}
	}
	if ((k = json_object_get(sch, "const")) && !values_equal(k, v)) {
		char *want = sr_json_dumps(k);
		int rc = vfail(c, "expected the constant %s", want ? want : "?");
		free(want);
		return rc;
	}
	if ((k = json_object_get(sch, "enum"))) {
		int ok = 0;
		for (size_t i = 0; i < json_array_size(k) && !ok; i++)
			ok = values_equal(json_array_get(k, i), v);
		if (!ok) {
			char *want = sr_json_dumps(k);
			int rc = vfail(c, "value is not one of %s", want ? want : "?");
			free(want);
			return rc;
		}
	}
	if (json_is_string(v)) {
		size_t n = utf8_length(json_string_value(v), json_string_length(v));
		if ((k = json_object_get(sch, "minLength")) && (json_int_t)n < json_integer_value(k))
			return vfail(c, "string shorter than %lld characters", (long long)json_integer_value(k));
		if ((k = json_object_get(sch, "maxLength")) && (json_int_t)n > json_integer_value(k))
			return vfail(c, "string longer than %lld characters", (long long)json_integer_value(k));
		if ((k = json_object_get(sch, "pattern"))) {
			for (size_t i = 0; i < c->s->npat; i++)
				if (c->s->pat[i].node == k) {
					int r = pcre2_match(c->s->pat[i].code, (PCRE2_SPTR)json_string_value(v),
					                    json_string_length(v), 0, 0, c->s->md, NULL);
					if (r < 0)
						return vfail(c, "string does not match the pattern %s", json_string_value(k));
					break;
				}
		}
	}
	if (json_is_number(v)) {
		double x = json_number_value(v);
		if ((k = json_object_get(sch, "minimum")) && x < json_number_value(k))
			return vfail(c, "number below the minimum %g", json_number_value(k));
		if ((k = json_object_get(sch, "maximum")) && x > json_number_value(k))
			return vfail(c, "number above the maximum %g", json_number_value(k));
	}
	if (json_is_array(v)) {
		size_t n = json_array_size(v);
		if ((k = json_object_get(sch, "minItems")) && (json_int_t)n < json_integer_value(k))
			return vfail(c, "array has fewer than %lld items", (long long)json_integer_value(k));
		if ((k = json_object_get(sch, "maxItems")) && (json_int_t)n > json_integer_value(k))
			return vfail(c, "array has more than %lld items", (long long)json_integer_value(k));
		if ((k = json_object_get(sch, "items"))) {
			for (size_t i = 0; i < n; i++) {
				char idx[32];
				int len = snprintf(idx, sizeof idx, "%zu", i);
				int rc = validate_member(c, k, idx, (size_t)len, json_array_get(v, i));
				if (rc < 0)
					return rc;
			}
		}
	}
	return 0;
}

static int validate(struct vctx *c, json_t *sch, json_t *v)
{
	json_t *k;
	int rc;

	if (json_is_true(sch))
		return 0;
	if (json_is_false(sch))
		return vfail(c, "no value is allowed here");
	if (++c->depth > 256)
		return vfail(c, "schema recursion deeper than 256 levels");
	if ((k = json_object_get(sch, "$ref"))) {
		json_t *target = resolve_ref(c->s, json_string_value(k));
		if (!target)
			return vfail(c, "schema reference '%s' cannot be resolved", json_string_value(k));
		if ((rc = validate(c, target, v)) < 0)
			return rc;
	}
	if ((rc = validate_scalar_keywords(c, sch, v)) < 0)
		return rc;
	if (json_is_object(v)) {
		json_t *props = json_object_get(sch, "properties");
		json_t *addl = json_object_get(sch, "additionalProperties");
		const char *key;
		json_t *val;
		if ((k = json_object_get(sch, "required")))
			for (size_t i = 0; i < json_array_size(k); i++) {
				const char *name = json_string_value(json_array_get(k, i));
				if (name && !json_object_get(v, name)) {
					size_t old = push_path(c, name, strlen(name));
					(void)old;
					return vfail(c, "required field is missing");
				}
			}
		json_object_foreach(v, key, val) {
			json_t *ps = props ? json_object_get(props, key) : NULL;
			if (ps)
				rc = validate_member(c, ps, key, strlen(key), val);
			else if (addl)
				rc = validate_member(c, addl, key, strlen(key), val);
			else
				rc = 0;
			if (rc < 0)
				return rc;
		}
	}
	c->depth--;
	return 0;
}

int sr_schema_validate(const struct sr_schema *s, json_t *instance, struct sr_error *err)
{
	struct vctx c = { s, err, "", 0 };
	return validate(&c, s->doc, instance);
}

/* Fast path for a member kept as raw bytes: the plan's constraints are
 * checked on the bytes (strings only when they hold no escapes), without
 * building a jansson value. Returns 1 when valid, 0 when the parsed value
 * is needed (including every failure, so the full path words the message). */
static int validate_raw(const struct sr_schema *s, const struct rawplan *p, const char *raw, size_t len)
{
	unsigned t;
	if (!p->usable)
		return 0;
	switch (raw[0]) {
	case '"': t = T_STRING; break;
	case '{': t = T_OBJECT; break;
	case '[': t = T_ARRAY; break;
	case 't': case 'f': t = T_BOOL; break;
	case 'n': t = T_NULL; break;
	default:
		t = memchr(raw, '.', len) || memchr(raw, 'e', len) || memchr(raw, 'E', len)
		    ? T_NUMBER : T_INTEGER;
	}
	if (p->types && !(p->types & t))
		return 0;
	if (t != T_STRING || !p->string_only)
		return 1;
	if (memchr(raw, '\\', len))
		return 0;
	const char *str = raw + 1;
	size_t slen = len - 2;
	if (p->minlen >= 0 || p->maxlen >= 0) {
		json_int_t n = (json_int_t)utf8_length(str, slen);
		if ((p->minlen >= 0 && n < p->minlen) || (p->maxlen >= 0 && n > p->maxlen))
			return 0;
	}
	if (p->pat && pcre2_match(p->pat, (PCRE2_SPTR)str, slen, 0, 0, s->md, NULL) < 0)
		return 0;
	if (p->constv && !(json_string_length(p->constv) == slen &&
	                   memcmp(json_string_value(p->constv), str, slen) == 0))
		return 0;
	if (p->enumv) {
		int ok = 0;
		for (size_t i = 0; i < json_array_size(p->enumv) && !ok; i++) {
			json_t *e = json_array_get(p->enumv, i);
			ok = json_string_length(e) == slen && memcmp(json_string_value(e), str, slen) == 0;
		}
		if (!ok)
			return 0;
	}
	return 1;
}

/* Validate raw bytes against any schema node whose keywords this path
 * knows, recursing into objects and arrays, so that a large nested member
 * (a prompt record's request) needs no jansson tree. Returns 1 when the
 * value is valid, 0 when the parsed value is needed: for a keyword or a
 * string form this path does not check, and for every failure, so the
 * full path words the message. */
static int deep_raw(const struct sr_schema *s, json_t *sch, const char *raw, size_t len, int depth)
{
	const char *key;
	json_t *k, *props = NULL, *addl = NULL, *required = NULL, *items = NULL;
	unsigned t;
	int plain;
	json_int_t min_items = -1, max_items = -1;

	if (json_is_true(sch))
		return 1;
	if (!json_is_object(sch) || depth > 32 || len == 0)
		return 0;
	switch (raw[0]) {
	case '"': t = T_STRING; break;
	case '{': t = T_OBJECT; break;
	case '[': t = T_ARRAY; break;
	case 't': case 'f': t = T_BOOL; break;
	case 'n': t = T_NULL; break;
	default:
		t = memchr(raw, '.', len) || memchr(raw, 'e', len) || memchr(raw, 'E', len)
		    ? T_NUMBER : T_INTEGER;
	}
	plain = t == T_STRING && len >= 2 && !memchr(raw, '\\', len);
	json_object_foreach(sch, key, k) {
		if (in_list(key, ignored_keywords))
			continue;
		if (strcmp(key, "$ref") == 0) {
			json_t *target = resolve_ref(s, json_string_value(k));
			if (!target || deep_raw(s, target, raw, len, depth + 1) != 1)
				return 0;
		} else if (strcmp(key, "type") == 0) {
			unsigned m = 0;
			if (json_is_string(k))
				m = type_bit(json_string_value(k));
			else
				for (size_t i = 0; i < json_array_size(k); i++)
					m |= type_bit(json_string_value(json_array_get(k, i)));
			if (!(m & t))
				return 0;
		} else if (strcmp(key, "minLength") == 0 || strcmp(key, "maxLength") == 0) {
			if (t != T_STRING)
				continue;
			if (!plain)
				return 0;
			json_int_t n = (json_int_t)utf8_length(raw + 1, len - 2);
			if (key[1] == 'i' ? n < json_integer_value(k) : n > json_integer_value(k))
				return 0;
		} else if (strcmp(key, "pattern") == 0) {
			pcre2_code *code = find_pattern(s, k);
			if (t != T_STRING)
				continue;
			if (!plain || !code ||
			    pcre2_match(code, (PCRE2_SPTR)raw + 1, len - 2, 0, 0, s->md, NULL) < 0)
				return 0;
		} else if (strcmp(key, "enum") == 0 || strcmp(key, "const") == 0) {
			int ok = 0;
			if (!plain)
				return 0;
			if (key[0] == 'c')
				ok = json_is_string(k) && json_string_length(k) == len - 2 &&
				     memcmp(json_string_value(k), raw + 1, len - 2) == 0;
			for (size_t i = 0; key[0] == 'e' && i < json_array_size(k) && !ok; i++) {
				json_t *e = json_array_get(k, i);
				ok = json_is_string(e) && json_string_length(e) == len - 2 &&
				     memcmp(json_string_value(e), raw + 1, len - 2) == 0;
			}
			if (!ok)
				return 0;
		} else if (strcmp(key, "minimum") == 0 || strcmp(key, "maximum") == 0) {
			if (t != T_NUMBER && t != T_INTEGER)
				continue;
			char num[64];
			if (len >= sizeof num)
				return 0;
			memcpy(num, raw, len);
			num[len] = '\0';
			double x = strtod(num, NULL);
			if (key[1] == 'i' ? x < json_number_value(k) : x > json_number_value(k))
				return 0;
		} else if (strcmp(key, "minItems") == 0) {
			min_items = json_integer_value(k);
		} else if (strcmp(key, "maxItems") == 0) {
			max_items = json_integer_value(k);
		} else if (strcmp(key, "items") == 0) {
			items = k;
		} else if (strcmp(key, "properties") == 0) {
			props = k;
		} else if (strcmp(key, "additionalProperties") == 0) {
			addl = k;
		} else if (strcmp(key, "required") == 0) {
			required = k;
		} else {
			return 0;
		}
	}

	size_t pos = 0, klen, vlen;
	const char *mkey, *val;
	int esc, r;
	if (t == T_ARRAY) {
		json_int_t n = 0;
		while ((r = sr_json_raw_next(raw, len, &pos, &mkey, &klen, NULL, &val, &vlen)) > 0) {
			n++;
			if (items && deep_raw(s, items, val, vlen, depth + 1) != 1)
				return 0;
		}
		if (r < 0 || (min_items >= 0 && n < min_items) || (max_items >= 0 && n > max_items))
			return 0;
	} else if (t == T_OBJECT) {
		size_t nreq = json_array_size(required);
		uint64_t found = 0;
		if (nreq > 64)
			return 0;
		while ((r = sr_json_raw_next(raw, len, &pos, &mkey, &klen, &esc, &val, &vlen)) > 0) {
			json_t *ps = NULL;
			if (esc)
				return 0;
			for (size_t i = 0; i < nreq; i++) {
				const char *name = json_string_value(json_array_get(required, i));
				if (name && strlen(name) == klen && memcmp(name, mkey, klen) == 0)
					found |= (uint64_t)1 << i;
			}
			if (props)
				ps = json_object_getn(props, mkey, klen);
			if (!ps)
				ps = addl;
			if (ps && deep_raw(s, ps, val, vlen, depth + 1) != 1)
				return 0;
		}
		if (r < 0 || found != (nreq == 64 ? UINT64_MAX : ((uint64_t)1 << nreq) - 1))
			return 0;
	}
	return 1;
}

/* Records: check the top-level keywords member by member so that only the
 * members the schema constrains are parsed. */
int sr_schema_validate_record(const struct sr_schema *s, struct sr_record *rec, struct sr_error *err)
{
	struct vctx c = { s, err, "", 0 };
	json_t *sch = s->doc, *k, *props, *addl;
	const char *key;
	json_t *ps;
	int rc;

	while ((k = json_object_get(sch, "$ref")) && json_object_size(sch) <= 4) {
		json_t *t = resolve_ref(s, json_string_value(k));
		if (!t || t == sch)
			break;
		sch = t;
	}
	if (!s->record_fast) {
		/* Other keywords at the top: validate the whole tree. */
		json_t *tree = sr_record_to_json(rec);
		if (!tree)
			return sr_fail(err, SR_ENOMEM, "out of memory");
		rc = validate(&c, sch, tree);
		json_decref(tree);
		return rc;
	}
	if ((k = json_object_get(sch, "type")) && json_is_string(k) &&
	    strcmp(json_string_value(k), "object") != 0)
		return vfail(&c, "expected type %s, got object", json_string_value(k));
	if ((k = json_object_get(sch, "required")))
		for (size_t i = 0; i < json_array_size(k); i++) {
			const char *name = json_string_value(json_array_get(k, i));
			if (name && !sr_record_has(rec, name)) {
				push_path(&c, name, strlen(name));
				return vfail(&c, "required field is missing");
			}
		}
	props = json_object_get(sch, "properties");
	addl = json_object_get(sch, "additionalProperties");
	if (props)
		json_object_foreach(props, key, ps) {
			size_t rawlen;
			const char *raw = sr_record_raw(rec, key, &rawlen);
			const struct rawplan *plan = NULL;
			for (size_t i = 0; i < s->nplans && !plan; i++)
				if (s->plans[i].node == ps)
					plan = &s->plans[i];
			if (raw && plan && validate_raw(s, plan, raw, rawlen) == 1)
				continue;
			if (raw && plan && !plan->usable && deep_raw(s, ps, raw, rawlen, 0) == 1)
				continue;
			json_t *v = sr_record_get(rec, key);
			if (v && (rc = validate_member(&c, ps, key, strlen(key), v)) < 0)
				return rc;
		}
	if (addl && !json_is_true(addl)) {
		for (size_t i = 0; i < rec->n; i++) {
			struct sr_member *m = &rec->m[i];
			char keybuf[512];
			if (m->deleted)
				continue;
			snprintf(keybuf, sizeof keybuf, "%.*s", (int)m->keylen, m->key);
			if (props && json_object_getn(props, m->key, m->keylen))
				continue;
			json_t *v = sr_record_get(rec, keybuf);
			if (!v)
				v = json_null();
			if ((rc = validate_member(&c, addl, m->key, m->keylen, v)) < 0)
				return rc;
		}
	}
	return 0;
}
