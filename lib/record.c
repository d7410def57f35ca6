/* record.c - strict JSON scanning, records as indexed original bytes, and
 * splicing of changed members on output. */
#include <stdlib.h>
#include <string.h>
#include "record.h"
#include "util.h"

#define MAX_DEPTH 512

/* ---- the scanner ---- */

struct scan {
	const char *s, *p, *end;
	const char *errpos;
	const char *errmsg;
	int depth;
	int top_ws;     /* whitespace seen between top-level tokens */
};

static int scan_value(struct scan *sc);

static int fail_at(struct scan *sc, const char *pos, const char *msg)
{
	if (!sc->errpos) {
		sc->errpos = pos;
		sc->errmsg = msg;
	}
	return -1;
}

static inline void skip_ws(struct scan *sc)
{
	while (sc->p < sc->end && (*sc->p == ' ' || *sc->p == '\t' || *sc->p == '\n' || *sc->p == '\r'))
		sc->p++;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

/* Scan a string starting at the opening quote. Sets *has_escape. */
static int scan_string(struct scan *sc, int *has_escape)
{
	const unsigned char *p = (const unsigned char *)sc->p + 1;
	const unsigned char *end = (const unsigned char *)sc->end;
	int esc = 0;

	for (;;) {
		/* Fast path over plain ASCII. */
		while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
			p++;
		if (p >= end)
			return fail_at(sc, sc->end, "unexpected end of input inside a string");
		unsigned c = *p;
		if (c == '"') {
			sc->p = (const char *)p + 1;
			if (has_escape)
				*has_escape = esc;
			return 0;
		}
		if (c == '\\') {
			esc = 1;
			if (p + 1 >= end)
				return fail_at(sc, (const char *)p, "unterminated escape in string");
			switch (p[1]) {
			case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
				p += 2;
				break;
			case 'u': {
				unsigned cp = 0;
				if (end - p < 6)
					return fail_at(sc, (const char *)p, "truncated \\u escape");
				for (int i = 2; i < 6; i++) {
					int h = hexval(p[i]);
					if (h < 0)
						return fail_at(sc, (const char *)p, "invalid \\u escape");
					cp = cp * 16 + (unsigned)h;
				}
				p += 6;
				if (cp >= 0xD800 && cp <= 0xDBFF) {
					unsigned lo = 0;
					if (end - p < 6 || p[0] != '\\' || p[1] != 'u')
						return fail_at(sc, (const char *)p - 6, "unpaired UTF-16 surrogate in \\u escape");
					for (int i = 2; i < 6; i++) {
						int h = hexval(p[i]);
						if (h < 0)
							return fail_at(sc, (const char *)p, "invalid \\u escape");
						lo = lo * 16 + (unsigned)h;
					}
					if (lo < 0xDC00 || lo > 0xDFFF)
						return fail_at(sc, (const char *)p - 6, "unpaired UTF-16 surrogate in \\u escape");
					p += 6;
				} else if (cp >= 0xDC00 && cp <= 0xDFFF) {
					return fail_at(sc, (const char *)p - 6, "unpaired UTF-16 surrogate in \\u escape");
				}
				break;
			}
			default:
				return fail_at(sc, (const char *)p, "invalid escape in string");
			}
			continue;
		}
		if (c < 0x20)
			return fail_at(sc, (const char *)p, "control character in string (must be escaped)");
		/* Multi-byte UTF-8 sequence. */
		size_t ok = sr_utf8_valid_prefix((const char *)p, (size_t)(end - p) < 4 ? (size_t)(end - p) : 4);
		size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
		if (ok < need)
			return fail_at(sc, (const char *)p, "invalid UTF-8 in string");
		p += need;
	}
}

static int scan_number(struct scan *sc)
{
	const char *p = sc->p, *end = sc->end;
	if (p < end && *p == '-')
		p++;
	if (p >= end)
		return fail_at(sc, sc->p, "invalid number");
	if (*p == '0') {
		p++;
	} else if (*p >= '1' && *p <= '9') {
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	} else {
		return fail_at(sc, sc->p, "invalid number");
	}
	if (p < end && *p == '.') {
		p++;
		if (p >= end || *p < '0' || *p > '9')
			return fail_at(sc, p, "invalid number: digit expected after '.'");
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (p >= end || *p < '0' || *p > '9')
			return fail_at(sc, p, "invalid number: digit expected in exponent");
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	sc->p = p;
	return 0;
}

static int scan_literal(struct scan *sc, const char *word, size_t n)
{
	if ((size_t)(sc->end - sc->p) < n || memcmp(sc->p, word, n) != 0)
		return fail_at(sc, sc->p, "invalid literal");
	sc->p += n;
	return 0;
}

static int scan_container(struct scan *sc, char close)
{
	if (++sc->depth > MAX_DEPTH)
		return fail_at(sc, sc->p, "nesting deeper than 512 levels");
	sc->p++;
	skip_ws(sc);
	if (sc->p < sc->end && *sc->p == close) {
		sc->p++;
		sc->depth--;
		return 0;
	}
	for (;;) {
		if (close == '}') {
			if (sc->p >= sc->end)
				return fail_at(sc, sc->end, "unexpected end of input inside an object");
			if (*sc->p != '"')
				return fail_at(sc, sc->p, "object key (a string) expected");
			if (scan_string(sc, NULL) < 0)
				return -1;
			skip_ws(sc);
			if (sc->p >= sc->end || *sc->p != ':')
				return fail_at(sc, sc->p, "':' expected after object key");
			sc->p++;
			skip_ws(sc);
		}
		if (scan_value(sc) < 0)
			return -1;
		skip_ws(sc);
		if (sc->p >= sc->end)
			return fail_at(sc, sc->end, close == '}' ? "unexpected end of input inside an object"
			                                         : "unexpected end of input inside an array");
		if (*sc->p == ',') {
			sc->p++;
			skip_ws(sc);
			continue;
		}
		if (*sc->p == close) {
			sc->p++;
			sc->depth--;
			return 0;
		}
		return fail_at(sc, sc->p, close == '}' ? "',' or '}' expected" : "',' or ']' expected");
	}
}

static int scan_value(struct scan *sc)
{
	if (sc->p >= sc->end)
		return fail_at(sc, sc->p, "unexpected end of input: value expected");
	switch (*sc->p) {
	case '{': return scan_container(sc, '}');
	case '[': return scan_container(sc, ']');
	case '"': return scan_string(sc, NULL);
	case 't': return scan_literal(sc, "true", 4);
	case 'f': return scan_literal(sc, "false", 5);
	case 'n': return scan_literal(sc, "null", 4);
	default:
		if (*sc->p == '-' || (*sc->p >= '0' && *sc->p <= '9'))
			return scan_number(sc);
		if ((unsigned char)*sc->p >= 0x80 && sr_utf8_valid_prefix(sc->p, (size_t)(sc->end - sc->p) < 4 ? (size_t)(sc->end - sc->p) : 4) == 0)
			return fail_at(sc, sc->p, "invalid UTF-8");
		return fail_at(sc, sc->p, "unexpected character");
	}
}

static void set_scan_error(const struct scan *sc, struct sr_error *err)
{
	if (err) {
		err->code = SR_EDATA;
		err->column = (long)(sc->errpos - sc->s) + 1;
		snprintf(err->message, sizeof err->message, "invalid JSON: %s", sc->errmsg);
	}
}

int sr_json_validate(const char *data, size_t len, struct sr_error *err)
{
	struct scan sc = { data, data, data + len, NULL, NULL, 0, 0 };
	skip_ws(&sc);
	if (scan_value(&sc) < 0) {
		set_scan_error(&sc, err);
		return SR_EDATA;
	}
	skip_ws(&sc);
	if (sc.p != sc.end) {
		fail_at(&sc, sc.p, "unexpected data after the JSON value");
		set_scan_error(&sc, err);
		return SR_EDATA;
	}
	return 0;
}

int sr_json_raw_next(const char *raw, size_t len, size_t *pos, const char **key, size_t *keylen,
                     int *key_escaped, const char **val, size_t *vallen)
{
	struct scan sc = { raw, raw + *pos, raw + len, NULL, NULL, 0, 0 };
	int object;

	if (len < 2 || (raw[0] != '{' && raw[0] != '['))
		return SR_EDATA;
	object = raw[0] == '{';
	if (*pos == 0)
		sc.p = raw + 1;
	skip_ws(&sc);
	if (sc.p < sc.end && *sc.p == ',') {
		sc.p++;
		skip_ws(&sc);
	}
	if (sc.p >= sc.end)
		return SR_EDATA;
	if (*sc.p == (object ? '}' : ']')) {
		*pos = len;
		return 0;
	}
	*key = NULL;
	if (object) {
		const char *k = sc.p;
		int esc = 0;
		if (*sc.p != '"' || scan_string(&sc, &esc) < 0)
			return SR_EDATA;
		*key = k + 1;
		*keylen = (size_t)(sc.p - k) - 2;
		if (key_escaped)
			*key_escaped = esc;
		skip_ws(&sc);
		if (sc.p >= sc.end || *sc.p != ':')
			return SR_EDATA;
		sc.p++;
		skip_ws(&sc);
	}
	*val = sc.p;
	if (scan_value(&sc) < 0)
		return SR_EDATA;
	*vallen = (size_t)(sc.p - *val);
	*pos = (size_t)(sc.p - raw);
	return 1;
}

/* ---- records ---- */

void sr_record_init(struct sr_record *rec)
{
	memset(rec, 0, sizeof *rec);
}

void sr_record_reset(struct sr_record *rec)
{
	for (size_t i = 0; i < rec->n; i++) {
		json_decref(rec->m[i].value);
		free(rec->m[i].rawcopy);
	}
	rec->n = 0;
	rec->keybuf_len = 0;
	rec->changed = 0;
	rec->line = NULL;
	rec->len = 0;
	free(rec->owned);
	rec->owned = NULL;
}

void sr_record_release(struct sr_record *rec)
{
	sr_record_reset(rec);
	free(rec->m);
	free(rec->keybuf);
	memset(rec, 0, sizeof *rec);
}

static struct sr_member *add_member(struct sr_record *rec)
{
	if (rec->n == rec->cap) {
		size_t ncap = rec->cap ? rec->cap * 2 : 16;
		struct sr_member *nm = realloc(rec->m, ncap * sizeof *nm);
		if (!nm)
			return NULL;
		rec->m = nm;
		rec->cap = ncap;
	}
	memset(&rec->m[rec->n], 0, sizeof rec->m[0]);
	return &rec->m[rec->n++];
}

/* Store a key in keybuf; returns its offset or -1. Pointers are fixed up
 * after parsing because keybuf may move. */
static long keybuf_add(struct sr_record *rec, const char *k, size_t n)
{
	if (rec->keybuf_len + n + 1 > rec->keybuf_cap) {
		size_t ncap = rec->keybuf_cap ? rec->keybuf_cap * 2 : 256;
		while (ncap < rec->keybuf_len + n + 1)
			ncap *= 2;
		char *nb = realloc(rec->keybuf, ncap);
		if (!nb)
			return -1;
		rec->keybuf = nb;
		rec->keybuf_cap = ncap;
	}
	long off = (long)rec->keybuf_len;
	memcpy(rec->keybuf + off, k, n);
	rec->keybuf[off + (long)n] = '\0';
	rec->keybuf_len += n + 1;
	return off;
}

static int key_cmp(const void *a, const void *b)
{
	const struct sr_member *x = *(struct sr_member *const *)a, *y = *(struct sr_member *const *)b;
	if (x->keylen != y->keylen)
		return x->keylen < y->keylen ? -1 : 1;
	return memcmp(x->key, y->key, x->keylen);
}

static int check_duplicates(struct sr_record *rec, struct sr_error *err)
{
	if (rec->n <= 32) {
		for (size_t i = 1; i < rec->n; i++)
			for (size_t j = 0; j < i; j++)
				if (rec->m[i].keylen == rec->m[j].keylen &&
				    memcmp(rec->m[i].key, rec->m[j].key, rec->m[i].keylen) == 0) {
					snprintf(err->field, sizeof err->field, "%.*s", (int)rec->m[i].keylen, rec->m[i].key);
					err->column = (long)(rec->m[i].raw - rec->line) + 1;
					return sr_fail(err, SR_EDATA, "duplicate key in object");
				}
		return 0;
	}
	struct sr_member **v = malloc(rec->n * sizeof *v);
	if (!v)
		return sr_fail(err, SR_ENOMEM, "out of memory");
	for (size_t i = 0; i < rec->n; i++)
		v[i] = &rec->m[i];
	qsort(v, rec->n, sizeof *v, key_cmp);
	for (size_t i = 1; i < rec->n; i++)
		if (key_cmp(&v[i - 1], &v[i]) == 0) {
			snprintf(err->field, sizeof err->field, "%.*s", (int)v[i]->keylen, v[i]->key);
			free(v);
			return sr_fail(err, SR_EDATA, "duplicate key in object");
		}
	free(v);
	return 0;
}

int sr_record_parse(struct sr_record *rec, const char *line, size_t len, struct sr_error *err)
{
	struct scan sc = { line, line, line + len, NULL, NULL, 0, 0 };
	struct sr_error dummy;

	if (!err)
		err = &dummy;
	sr_record_reset(rec);
	rec->line = line;
	rec->len = len;

	skip_ws(&sc);
	if (sc.p != line)
		sc.top_ws = 1;
	if (sc.p >= sc.end || *sc.p != '{') {
		if (sc.p < sc.end && scan_value(&sc) < 0) {
			set_scan_error(&sc, err);
			sr_record_reset(rec);
			return SR_EDATA;
		}
		err->column = (long)(sc.p - line) + 1;
		if (sc.p >= sc.end)
			err->column = 1;
		sr_record_reset(rec);
		return sr_fail(err, SR_EDATA, "a record must be a JSON object");
	}
	sc.p++;
	sc.depth = 1;
	if (sc.p < sc.end && *sc.p != '"' && *sc.p != '}')
		sc.top_ws = 1;
	skip_ws(&sc);
	if (sc.p < sc.end && *sc.p == '}') {
		sc.p++;
	} else {
		for (;;) {
			const char *kstart = sc.p;
			int esc = 0;
			if (sc.p >= sc.end) {
				fail_at(&sc, sc.end, "unexpected end of line inside the record's object");
				goto bad;
			}
			if (*sc.p != '"') {
				fail_at(&sc, sc.p, "object key (a string) expected");
				goto bad;
			}
			if (scan_string(&sc, &esc) < 0)
				goto bad;
			struct sr_member *m = add_member(rec);
			if (!m)
				goto nomem;
			m->keylen = (size_t)(sc.p - kstart) - 2;
			if (esc) {
				/* Decode the key through jansson. */
				json_t *k = json_loadb(kstart, (size_t)(sc.p - kstart), JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
				long off;
				if (!k)
					goto nomem;
				m->keylen = json_string_length(k);
				off = keybuf_add(rec, json_string_value(k), m->keylen);
				json_decref(k);
				if (off < 0)
					goto nomem;
				m->key = (const char *)(intptr_t)(off + 1); /* fixed up below */
				m->deleted = -1; /* marker: key lives in keybuf */
			} else {
				m->key = kstart + 1;
			}
			if (sc.p < sc.end && *sc.p != ':')
				sc.top_ws = 1;
			skip_ws(&sc);
			if (sc.p >= sc.end || *sc.p != ':') {
				fail_at(&sc, sc.p, "':' expected after object key");
				goto bad;
			}
			sc.p++;
			if (sc.p < sc.end && (*sc.p == ' ' || *sc.p == '\t' || *sc.p == '\n' || *sc.p == '\r'))
				sc.top_ws = 1;
			skip_ws(&sc);
			m->raw = sc.p;
			if (scan_value(&sc) < 0)
				goto bad;
			m->rawlen = (size_t)(sc.p - m->raw);
			if (sc.p < sc.end && *sc.p != ',' && *sc.p != '}')
				sc.top_ws = 1;
			skip_ws(&sc);
			if (sc.p >= sc.end) {
				fail_at(&sc, sc.end, "unexpected end of line inside the record's object");
				goto bad;
			}
			if (*sc.p == ',') {
				sc.p++;
				if (sc.p < sc.end && *sc.p != '"')
					sc.top_ws = 1;
				skip_ws(&sc);
				continue;
			}
			if (*sc.p == '}') {
				sc.p++;
				break;
			}
			fail_at(&sc, sc.p, "',' or '}' expected");
			goto bad;
		}
	}
	if (sc.p != sc.end)
		sc.top_ws = 1;
	skip_ws(&sc);
	if (sc.p != sc.end) {
		fail_at(&sc, sc.p, "unexpected data after the JSON object");
		goto bad;
	}
	/* Fix up keys stored in keybuf now that it no longer moves. */
	for (size_t i = 0; i < rec->n; i++)
		if (rec->m[i].deleted == -1) {
			rec->m[i].key = rec->keybuf + ((intptr_t)rec->m[i].key - 1);
			rec->m[i].deleted = 0;
		}
	if (check_duplicates(rec, err) < 0) {
		sr_record_reset(rec);
		return SR_EDATA;
	}
	/* An unchanged record whose top level is compact can be copied whole. */
	rec->changed = sc.top_ws ? 2 : 0;
	return 0;
bad:
	set_scan_error(&sc, err);
	sr_record_reset(rec);
	return SR_EDATA;
nomem:
	sr_record_reset(rec);
	return sr_fail(err, SR_ENOMEM, "out of memory");
}

void sr_record_empty(struct sr_record *rec)
{
	sr_record_reset(rec);
	rec->line = "{}";
	rec->len = 2;
	rec->changed = 1;
}

int sr_record_own(struct sr_record *rec)
{
	char *copy;
	if (rec->owned || !rec->line)
		return 0;
	if (!(copy = malloc(rec->len + 1)))
		return SR_ENOMEM;
	memcpy(copy, rec->line, rec->len);
	copy[rec->len] = '\0';
	for (size_t i = 0; i < rec->n; i++) {
		struct sr_member *m = &rec->m[i];
		if (m->raw)
			m->raw = copy + (m->raw - rec->line);
		if (m->key >= rec->line && m->key < rec->line + rec->len)
			m->key = copy + (m->key - rec->line);
	}
	rec->line = copy;
	rec->owned = copy;
	return 0;
}

static struct sr_member *find(const struct sr_record *rec, const char *key)
{
	size_t kl = strlen(key);
	for (size_t i = 0; i < rec->n; i++) {
		struct sr_member *m = &rec->m[i];
		if (!m->deleted && m->keylen == kl && memcmp(m->key, key, kl) == 0)
			return m;
	}
	return NULL;
}

json_t *sr_json_parse(const char *data, size_t len, struct sr_error *err)
{
	json_error_t je;
	json_t *v;
	if (sr_json_validate(data, len, err) < 0)
		return NULL;
	v = json_loadb(data, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
	if (!v) /* an integer beyond json_int_t: keep it as a real */
		v = json_loadb(data, len, JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &je);
	if (!v)
		sr_fail(err, SR_EDATA, "invalid JSON: %s", je.text);
	return v;
}

json_t *sr_record_get(struct sr_record *rec, const char *key)
{
	struct sr_member *m = find(rec, key);
	if (!m)
		return NULL;
	if (!m->value && m->raw) {
		json_error_t je;
		m->value = json_loadb(m->raw, m->rawlen, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
		if (!m->value)
			m->value = json_loadb(m->raw, m->rawlen,
			                      JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &je);
	}
	return m->value;
}

int sr_record_has(const struct sr_record *rec, const char *key)
{
	return find(rec, key) != NULL;
}

const char *sr_record_get_str(struct sr_record *rec, const char *key, size_t *len)
{
	json_t *v = sr_record_get(rec, key);
	if (!json_is_string(v))
		return NULL;
	if (len)
		*len = json_string_length(v);
	return json_string_value(v);
}

const char *sr_record_raw(const struct sr_record *rec, const char *key, size_t *len)
{
	struct sr_member *m = find(rec, key);
	if (!m || !m->raw)
		return NULL;
	if (len)
		*len = m->rawlen;
	return m->raw;
}

int sr_record_set(struct sr_record *rec, const char *key, json_t *value)
{
	struct sr_member *m;
	if (!value)
		return SR_ENOMEM;
	m = find(rec, key);
	if (!m) {
		size_t kl = strlen(key);
		long off;
		char *oldbuf = rec->keybuf;
		size_t oldcap = rec->keybuf_cap;
		if (!(m = add_member(rec)) || (off = keybuf_add(rec, key, kl)) < 0) {
			if (m)
				rec->n--;
			json_decref(value);
			return SR_ENOMEM;
		}
		/* keybuf may have moved: re-point keys stored there. */
		if (oldbuf && rec->keybuf != oldbuf)
			for (size_t i = 0; i + 1 < rec->n; i++)
				if ((uintptr_t)rec->m[i].key >= (uintptr_t)oldbuf &&
				    (uintptr_t)rec->m[i].key < (uintptr_t)oldbuf + oldcap)
					rec->m[i].key = rec->keybuf + (rec->m[i].key - oldbuf);
		m->key = rec->keybuf + off;
		m->keylen = kl;
	}
	json_decref(m->value);
	free(m->rawcopy);
	m->rawcopy = NULL;
	m->value = value;
	m->raw = NULL;
	m->rawlen = 0;
	rec->changed = 1;
	return 0;
}

int sr_record_set_raw(struct sr_record *rec, const char *key, const char *json, size_t len)
{
	char *copy = malloc(len + 1);
	struct sr_member *m;
	int rc;
	if (!copy)
		return SR_ENOMEM;
	memcpy(copy, json, len);
	copy[len] = '\0';
	/* Set a placeholder to find or create the member, then swap in the bytes. */
	if ((rc = sr_record_set(rec, key, json_null())) < 0) {
		free(copy);
		return rc;
	}
	m = find(rec, key);
	json_decref(m->value);
	m->value = NULL;
	m->rawcopy = copy;
	m->raw = copy;
	m->rawlen = len;
	return 0;
}

int sr_record_del(struct sr_record *rec, const char *key)
{
	struct sr_member *m = find(rec, key);
	if (!m)
		return 0;
	m->deleted = 1;
	json_decref(m->value);
	m->value = NULL;
	free(m->rawcopy);
	m->rawcopy = NULL;
	m->raw = NULL;
	rec->changed = 1;
	return 1;
}

size_t sr_record_count(const struct sr_record *rec)
{
	size_t k = 0;
	for (size_t i = 0; i < rec->n; i++)
		k += !rec->m[i].deleted;
	return k;
}

static int grow(char **buf, size_t *cap, size_t need)
{
	if (need <= *cap)
		return 0;
	size_t ncap = *cap ? *cap : 256;
	while (ncap < need)
		ncap *= 2;
	char *nb = realloc(*buf, ncap);
	if (!nb)
		return -1;
	*buf = nb;
	*cap = ncap;
	return 0;
}

struct dump_ctx { char **buf; size_t *len, *cap; int fail; };

static int dump_cb(const char *p, size_t n, void *data)
{
	struct dump_ctx *d = data;
	if (grow(d->buf, d->cap, *d->len + n + 1) < 0) {
		d->fail = 1;
		return -1;
	}
	memcpy(*d->buf + *d->len, p, n);
	*d->len += n;
	return 0;
}

long sr_json_append(const json_t *v, char **buf, size_t *len, size_t *cap)
{
	struct dump_ctx d = { buf, len, cap, 0 };
	if (json_dump_callback(v, dump_cb, &d, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17)) < 0 || d.fail)
		return SR_ENOMEM;
	return (long)*len;
}

char *sr_json_dumps(const json_t *v)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;
	if (sr_json_append(v, &buf, &len, &cap) < 0 || grow(&buf, &cap, len + 1) < 0) {
		free(buf);
		return NULL;
	}
	buf[len] = '\0';
	return buf;
}

static int append_key(const struct sr_member *m, char **buf, size_t *len, size_t *cap)
{
	json_t *k = json_stringn(m->key, m->keylen);
	if (!k)
		return -1;
	long r = sr_json_append(k, buf, len, cap);
	json_decref(k);
	return r < 0 ? -1 : 0;
}

long sr_record_serialize(struct sr_record *rec, char **buf, size_t *cap)
{
	size_t len = 0;
	int first = 1;

	if (!rec->changed) {
		if (grow(buf, cap, rec->len + 2) < 0)
			return SR_ENOMEM;
		memcpy(*buf, rec->line, rec->len);
		(*buf)[rec->len] = '\n';
		(*buf)[rec->len + 1] = '\0';
		return (long)rec->len + 1;
	}
	if (grow(buf, cap, rec->len + 64) < 0)
		return SR_ENOMEM;
	(*buf)[len++] = '{';
	for (size_t i = 0; i < rec->n; i++) {
		struct sr_member *m = &rec->m[i];
		if (m->deleted)
			continue;
		if (grow(buf, cap, len + m->keylen + m->rawlen + 16) < 0)
			return SR_ENOMEM;
		if (!first)
			(*buf)[len++] = ',';
		first = 0;
		if (m->key >= rec->line && m->key < rec->line + rec->len) {
			/* An unescaped key from the input: copy it with its quotes. */
			(*buf)[len++] = '"';
			memcpy(*buf + len, m->key, m->keylen);
			len += m->keylen;
			(*buf)[len++] = '"';
		} else if (append_key(m, buf, &len, cap) < 0) {
			return SR_ENOMEM;
		}
		(*buf)[len++] = ':';
		if (m->raw) {
			memcpy(*buf + len, m->raw, m->rawlen);
			len += m->rawlen;
		} else if (sr_json_append(m->value, buf, &len, cap) < 0) {
			return SR_ENOMEM;
		}
	}
	if (grow(buf, cap, len + 3) < 0)
		return SR_ENOMEM;
	(*buf)[len++] = '}';
	(*buf)[len++] = '\n';
	(*buf)[len] = '\0';
	return (long)len;
}

json_t *sr_record_to_json(struct sr_record *rec)
{
	json_t *obj = json_object();
	if (!obj)
		return NULL;
	for (size_t i = 0; i < rec->n; i++) {
		struct sr_member *m = &rec->m[i];
		if (m->deleted)
			continue;
		if (!m->value && m->raw)
			m->value = sr_json_parse(m->raw, m->rawlen, NULL);
		if (!m->value || json_object_setn(obj, m->key, m->keylen, m->value) < 0) {
			json_decref(obj);
			return NULL;
		}
	}
	return obj;
}
