/* attack.c - disguising transforms, their inverses and the templates file. */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <utf8proc.h>
#include "attack.h"
#include "guideset.h"
#include "io.h"

enum attack_id {
	A_BASE64, A_HEX, A_ROT13, A_CAESAR, A_LEETSPEAK, A_REVERSE, A_SPLIT, A_CODE,
	A_ROLEPLAY, A_FICTION, A_HYPOTHETICAL, A_PAST_TENSE_RULES,
	A_PAST_TENSE, A_FUTURE_TENSE, A_TRANSLATE, A_PERSUADE,
	A_COUNT
};

static const struct sr_attack_info attacks[A_COUNT] = {
	{"base64", "the request in base64 (RFC 4648, standard alphabet, one unwrapped run)", 0, 1, 1},
	{"hex", "the request's UTF-8 bytes as lowercase hexadecimal, one unwrapped run", 0, 1, 1},
	{"rot13", "ASCII letters rotated by 13 places", 0, 1, 1},
	{"caesar", "ASCII letters shifted by --shift places (default 3)", 0, 1, 1},
	{"leetspeak", "letters a e i o s t written as 4 3 1 0 5 7", 0, 1, 0},
	{"reverse", "the words in reverse order", 0, 1, 1},
	{"split", "longer words broken up by a separator character", 0, 1, 1},
	{"code", "the request hidden in a Python function, word list or string-concatenation puzzle", 0, 1, 1},
	{"roleplay", "the request put to a character the model is asked to play", 0, 1, 1},
	{"fiction", "the request framed as a scene in a story", 0, 1, 1},
	{"hypothetical", "the request framed as a thought experiment", 0, 1, 1},
	{"past_tense_rules", "the request rewritten in the past tense by fixed rules (offline)", 0, 0, 0},
	{"past_tense", "the request reformulated in the past tense by a model", 1, 0, 0},
	{"future_tense", "the request reformulated in the future tense by a model", 1, 0, 0},
	{"translate", "the request translated by a model into --language", 1, 0, 0},
	{"persuade", "the request paraphrased persuasively by a model", 1, 0, 0},
};

const struct sr_attack_info *sr_attack_all(size_t *n)
{
	*n = A_COUNT;
	return attacks;
}

static int attack_index(const char *name)
{
	for (int i = 0; i < A_COUNT; i++)
		if (strcmp(attacks[i].name, name) == 0)
			return i;
	return -1;
}

const struct sr_attack_info *sr_attack_find(const char *name)
{
	int i = attack_index(name);
	return i < 0 ? NULL : &attacks[i];
}

/* ---- codecs ---- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int sr_base64_encode(const void *data, size_t len, struct sr_buf *out)
{
	const unsigned char *s = data;
	char quad[4];

	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)s[i + 1] << 8;
		if (i + 2 < len)
			v |= s[i + 2];
		quad[0] = b64[v >> 18];
		quad[1] = b64[(v >> 12) & 63];
		quad[2] = i + 1 < len ? b64[(v >> 6) & 63] : '=';
		quad[3] = i + 2 < len ? b64[v & 63] : '=';
		if (sr_buf_append(out, quad, 4) < 0)
			return SR_ENOMEM;
	}
	return sr_buf_append(out, "", 0) < 0 ? SR_ENOMEM : 0;
}

static int b64_value(char c)
{
	const char *p = c ? strchr(b64, c) : NULL;
	return p ? (int)(p - b64) : -1;
}

int sr_base64_decode(const char *text, size_t len, struct sr_buf *out)
{
	if (len % 4 != 0)
		return SR_EDATA;
	for (size_t i = 0; i < len; i += 4) {
		int v[4], pad = 0;
		for (int k = 0; k < 4; k++) {
			char c = text[i + k];
			if (c == '=' && i + 4 == len && k >= 2) {
				v[k] = 0;
				pad++;
			} else if (pad > 0 || (v[k] = b64_value(c)) < 0) {
				return SR_EDATA;
			}
		}
		unsigned char bytes[3] = {
			(unsigned char)(v[0] << 2 | v[1] >> 4),
			(unsigned char)((v[1] & 15) << 4 | v[2] >> 2),
			(unsigned char)((v[2] & 3) << 6 | v[3]),
		};
		if (sr_buf_append(out, bytes, (size_t)(3 - pad)) < 0)
			return SR_ENOMEM;
	}
	return sr_buf_append(out, "", 0) < 0 ? SR_ENOMEM : 0;
}

int sr_hex_encode(const void *data, size_t len, struct sr_buf *out)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *s = data;

	for (size_t i = 0; i < len; i++) {
		char pair[2] = {digits[s[i] >> 4], digits[s[i] & 15]};
		if (sr_buf_append(out, pair, 2) < 0)
			return SR_ENOMEM;
	}
	return sr_buf_append(out, "", 0) < 0 ? SR_ENOMEM : 0;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 0x20);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int sr_hex_decode(const char *text, size_t len, struct sr_buf *out)
{
	if (len % 2 != 0)
		return SR_EDATA;
	for (size_t i = 0; i < len; i += 2) {
		int hi = hex_value(text[i]), lo = hex_value(text[i + 1]);
		if (hi < 0 || lo < 0)
			return SR_EDATA;
		unsigned char b = (unsigned char)(hi << 4 | lo);
		if (sr_buf_append(out, &b, 1) < 0)
			return SR_ENOMEM;
	}
	return sr_buf_append(out, "", 0) < 0 ? SR_ENOMEM : 0;
}

int sr_caesar(const char *text, size_t len, int shift, struct sr_buf *out)
{
	shift = ((shift % 26) + 26) % 26;
	for (size_t i = 0; i < len; i++) {
		char c = text[i];
		if (c >= 'a' && c <= 'z')
			c = (char)('a' + (c - 'a' + shift) % 26);
		else if (c >= 'A' && c <= 'Z')
			c = (char)('A' + (c - 'A' + shift) % 26);
		if (sr_buf_append(out, &c, 1) < 0)
			return SR_ENOMEM;
	}
	return sr_buf_append(out, "", 0) < 0 ? SR_ENOMEM : 0;
}

static int is_blank(unsigned char c)
{
	return c == ' ' || (c >= 0x09 && c <= 0x0D);
}

int sr_reverse_words(const char *text, size_t len, struct sr_buf *out)
{
	/* Walk the runs (words and white space alike) from the end. */
	size_t end = len;

	while (end > 0) {
		size_t start = end - 1;
		int blank = is_blank((unsigned char)text[start]);
		while (start > 0 && is_blank((unsigned char)text[start - 1]) == blank)
			start--;
		if (sr_buf_append(out, text + start, end - start) < 0)
			return SR_ENOMEM;
		end = start;
	}
	return sr_buf_append(out, "", 0) < 0 ? SR_ENOMEM : 0;
}

static int leetspeak(const char *text, size_t len, int decode, struct sr_buf *out)
{
	static const char plain[] = "aeiost", leet[] = "431057";

	for (size_t i = 0; i < len; i++) {
		char c = text[i];
		const char *p;
		if (decode) {
			if ((p = memchr(leet, c, 6)) != NULL)
				c = plain[p - leet];
		} else if ((p = memchr(plain, tolower((unsigned char)c), 6)) != NULL && c != '\0') {
			c = leet[p - plain];
		}
		if (sr_buf_append(out, &c, 1) < 0)
			return SR_ENOMEM;
	}
	return sr_buf_append(out, "", 0) < 0 ? SR_ENOMEM : 0;
}

/* ---- templates ---- */

enum code_kind { CODE_FUNCTION, CODE_LIST, CODE_CONCAT };

struct variant {
	char *text;
	enum code_kind kind;   /* code only */
};

struct tset {
	struct variant *v;
	size_t n;
	char *system, *user;   /* model-driven transforms */
};

struct sr_attack_templates {
	struct tset set[A_COUNT];
};

void sr_attack_templates_free(struct sr_attack_templates *t)
{
	if (!t)
		return;
	for (int i = 0; i < A_COUNT; i++) {
		for (size_t k = 0; k < t->set[i].n; k++)
			free(t->set[i].v[k].text);
		free(t->set[i].v);
		free(t->set[i].system);
		free(t->set[i].user);
	}
	free(t);
}

struct var {
	const char *name;
	const char *value;
	size_t len;
};

/* Placeholders each transform's templates may use; the first must appear
 * exactly once. */
static const char *const placeholders[A_COUNT][3] = {
	[A_BASE64] = {"payload"}, [A_HEX] = {"payload"}, [A_ROT13] = {"payload"},
	[A_CAESAR] = {"payload", "shift"}, [A_LEETSPEAK] = {"payload"}, [A_REVERSE] = {"payload"},
	[A_SPLIT] = {"payload", "separator"},
	[A_ROLEPLAY] = {"query"}, [A_FICTION] = {"query"}, [A_HYPOTHETICAL] = {"query"},
	[A_PAST_TENSE] = {"query"}, [A_FUTURE_TENSE] = {"query"},
	[A_TRANSLATE] = {"query", "language"}, [A_PERSUADE] = {"query"},
};

static const char *const code_placeholders[3][3] = {
	[CODE_FUNCTION] = {"python_string"},
	[CODE_LIST] = {"python_list"},
	[CODE_CONCAT] = {"python_parts", "python_sum"},
};

/* Count placeholder uses in s; fail on an unknown name or a lone brace.
 * "{{" and "}}" stand for literal braces. */
static int check_template(const char *s, const char *const *names, int counts[3],
                          const char *where, struct sr_error *err)
{
	memset(counts, 0, 3 * sizeof *counts);
	while (*s) {
		if ((s[0] == '{' && s[1] == '{') || (s[0] == '}' && s[1] == '}')) {
			s += 2;
			continue;
		}
		if (*s == '}')
			return sr_fail(err, SR_EDATA, "%s: unmatched '}' (write '}}' for a brace)", where);
		if (*s != '{') {
			s++;
			continue;
		}
		const char *close = strchr(s, '}');
		if (!close)
			return sr_fail(err, SR_EDATA, "%s: unmatched '{' (write '{{' for a brace)", where);
		size_t n = (size_t)(close - s - 1);
		int k;
		for (k = 0; k < 3 && names[k]; k++)
			if (strlen(names[k]) == n && memcmp(names[k], s + 1, n) == 0)
				break;
		if (k == 3 || !names[k])
			return sr_fail(err, SR_EDATA, "%s: unknown placeholder '{%.*s}'", where, (int)n, s + 1);
		counts[k]++;
		s = close + 1;
	}
	return 0;
}

/* Append the expansion of tpl[0..n) to out. Unknown placeholders cannot
 * occur: templates are checked when loaded. */
static int expand(const char *tpl, size_t n, const struct var *vars, size_t nvars,
                  struct sr_buf *out)
{
	size_t i = 0;

	while (i < n) {
		if (i + 1 < n && ((tpl[i] == '{' && tpl[i + 1] == '{') || (tpl[i] == '}' && tpl[i + 1] == '}'))) {
			if (sr_buf_append(out, tpl + i, 1) < 0)
				return SR_ENOMEM;
			i += 2;
			continue;
		}
		if (tpl[i] == '{') {
			const char *close = memchr(tpl + i, '}', n - i);
			size_t len = close ? (size_t)(close - tpl - i - 1) : 0;
			for (size_t k = 0; close && k < nvars; k++) {
				if (strlen(vars[k].name) == len && memcmp(vars[k].name, tpl + i + 1, len) == 0) {
					if (sr_buf_append(out, vars[k].value, vars[k].len) < 0)
						return SR_ENOMEM;
					break;
				}
			}
			i = close ? (size_t)(close - tpl) + 1 : n;
			continue;
		}
		if (sr_buf_append(out, tpl + i, 1) < 0)
			return SR_ENOMEM;
		i++;
	}
	return sr_buf_append(out, "", 0) < 0 ? SR_ENOMEM : 0;
}

static char *dup_string(json_t *v)
{
	return json_is_string(v) ? strdup(json_string_value(v)) : NULL;
}

static int load_variants(json_t *list, int a, struct tset *set, const char *path,
                         struct sr_error *err)
{
	char where[1024];
	int counts[3];

	if (!json_is_array(list) || json_array_size(list) == 0)
		return sr_fail(err, SR_EDATA, "'%s': attacks.%s.templates must be a non-empty array",
		               path, attacks[a].name);
	if (json_array_size(list) > 64)
		return sr_fail(err, SR_EDATA, "'%s': attacks.%s.templates has more than 64 variants",
		               path, attacks[a].name);
	set->n = json_array_size(list);
	set->v = calloc(set->n, sizeof *set->v);
	if (!set->v)
		return sr_fail(err, SR_ENOMEM, "out of memory");
	for (size_t k = 0; k < set->n; k++) {
		json_t *item = json_array_get(list, k);
		const char *const *names = placeholders[a];
		snprintf(where, sizeof where, "'%.900s': attacks.%s.templates[%zu]", path,
		         attacks[a].name, k);
		if (a == A_CODE) {
			const char *kind = json_string_value(json_object_get(item, "kind"));
			if (!kind)
				return sr_fail(err, SR_EDATA, "%s: missing \"kind\"", where);
			if (strcmp(kind, "function") == 0)
				set->v[k].kind = CODE_FUNCTION;
			else if (strcmp(kind, "list") == 0)
				set->v[k].kind = CODE_LIST;
			else if (strcmp(kind, "concat") == 0)
				set->v[k].kind = CODE_CONCAT;
			else
				return sr_fail(err, SR_EDATA, "%s: kind '%s' is not function, list or concat",
				               where, kind);
			names = code_placeholders[set->v[k].kind];
			item = json_object_get(item, "text");
		}
		if (!(set->v[k].text = dup_string(item)))
			return sr_fail(err, SR_EDATA, "%s: expected a string", where);
		if (check_template(set->v[k].text, names, counts, where, err) < 0)
			return SR_EDATA;
		/* The request's own placeholders appear exactly once, so that the
		 * inverse can find it; split must name its separator. */
		for (int p = 0; p < 3 && names[p]; p++) {
			int once = p == 0 || a == A_CODE;
			if (once && counts[p] != 1)
				return sr_fail(err, SR_EDATA, "%s: placeholder '{%s}' must appear exactly once",
				               where, names[p]);
			if (a == A_SPLIT && counts[p] == 0)
				return sr_fail(err, SR_EDATA, "%s: placeholder '{%s}' is missing", where, names[p]);
		}
	}
	return 0;
}

static int load_model(json_t *entry, int a, struct tset *set, const char *path,
                      struct sr_error *err)
{
	char where[1024];
	int counts[3];

	snprintf(where, sizeof where, "'%.900s': attacks.%s", path, attacks[a].name);
	set->system = dup_string(json_object_get(entry, "system"));
	set->user = dup_string(json_object_get(entry, "user"));
	if (!set->system || !set->user)
		return sr_fail(err, SR_EDATA, "%s: needs string members \"system\" and \"user\"", where);
	if (check_template(set->system, placeholders[a], counts, where, err) < 0)
		return SR_EDATA;
	if (counts[0] != 0)
		return sr_fail(err, SR_EDATA, "%s: the request belongs in \"user\", not \"system\"", where);
	if (check_template(set->user, placeholders[a], counts, where, err) < 0)
		return SR_EDATA;
	if (counts[0] != 1)
		return sr_fail(err, SR_EDATA, "%s: \"user\" must contain '{query}' exactly once", where);
	return 0;
}

int sr_attack_templates_load(const char *path, struct sr_attack_templates **out,
                             struct sr_error *err)
{
	char found[4096];
	json_error_t jerr;
	struct sr_attack_templates *t;
	int rc = 0;

	*out = NULL;
	if (!path) {
		if ((rc = sr_data_path("templates/attacks.json", found, sizeof found, err)) < 0)
			return rc;
		path = found;
	}
	json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		FILE *f = fopen(path, "r");
		if (!f)
			return sr_fail(err, SR_ENOTFOUND, "cannot open templates file '%s'", path);
		fclose(f);
		return sr_fail(err, SR_EDATA, "'%s':%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
	}
	t = calloc(1, sizeof *t);
	if (!t) {
		json_decref(root);
		return sr_fail(err, SR_ENOMEM, "out of memory");
	}
	json_t *all = json_object_get(root, "attacks");
	if (!json_is_object(all)) {
		rc = sr_fail(err, SR_EDATA, "'%s': missing object \"attacks\"", path);
		goto done;
	}
	for (int a = 0; a < A_COUNT && rc == 0; a++) {
		json_t *entry = json_object_get(all, attacks[a].name);
		if (a == A_PAST_TENSE_RULES)
			continue; /* the rules are code; no wording to keep */
		if (!json_is_object(entry)) {
			rc = sr_fail(err, SR_EDATA, "'%s': missing entry attacks.%s", path, attacks[a].name);
			break;
		}
		if (attacks[a].model)
			rc = load_model(entry, a, &t->set[a], path, err);
		else
			rc = load_variants(json_object_get(entry, "templates"), a, &t->set[a], path, err);
	}
done:
	json_decref(root);
	if (rc < 0) {
		sr_attack_templates_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

/* ---- split ---- */

/* Separators split may use, in order of preference; the first one absent
 * from the request is used, so the inverse only has to delete it. */
static const char separators[] = "-*._/|+~^";

static int utf8_len(unsigned char c)
{
	return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

static int is_letter_at(const char *s, size_t len, size_t i, size_t *n)
{
	utf8proc_int32_t c;
	utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(len - i), &c);

	if (k <= 0) {
		*n = 1;
		return 0;
	}
	*n = (size_t)k;
	utf8proc_category_t cat = utf8proc_category(c);
	return cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_MC;
}

/* Break every word of four letters or more at one (up to six letters) or
 * two random inner positions. */
static int split_words(const char *s, size_t len, char sep, struct sr_rng *rng, struct sr_buf *out)
{
	size_t i = 0, n;

	while (i < len) {
		if (!is_letter_at(s, len, i, &n)) {
			if (sr_buf_append(out, s + i, n) < 0)
				return SR_ENOMEM;
			i += n;
			continue;
		}
		/* Collect the word's letter boundaries; a word of 256 letters or
		 * more is left whole, its last recorded piece running to its end. */
		size_t starts[256], count = 0, j = i;
		while (j < len && is_letter_at(s, len, j, &n)) {
			if (count < 256)
				starts[count++] = j;
			j += n;
		}
		int cut[2] = {-1, -1};
		if (count >= 4 && count < 256) {
			cut[0] = 1 + (int)sr_rng_below(rng, count - 1);
			if (count >= 7) {
				do
					cut[1] = 1 + (int)sr_rng_below(rng, count - 1);
				while (cut[1] == cut[0]);
			}
		}
		for (size_t k = 0; k < count; k++) {
			if ((int)k == cut[0] || (int)k == cut[1])
				if (sr_buf_append(out, &sep, 1) < 0)
					return SR_ENOMEM;
			size_t end = k + 1 < count ? starts[k + 1] : j;
			if (sr_buf_append(out, s + starts[k], end - starts[k]) < 0)
				return SR_ENOMEM;
		}
		i = j;
	}
	return sr_buf_append(out, "", 0) < 0 ? SR_ENOMEM : 0;
}

/* ---- code ---- */

/* Append text as a double-quoted Python string literal. */
static int python_string(const char *s, size_t len, struct sr_buf *out)
{
	if (sr_buf_append(out, "\"", 1) < 0)
		return SR_ENOMEM;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[8];
		const char *e = NULL;
		switch (c) {
		case '\\': e = "\\\\"; break;
		case '"': e = "\\\""; break;
		case '\n': e = "\\n"; break;
		case '\r': e = "\\r"; break;
		case '\t': e = "\\t"; break;
		default:
			if (c < 0x20 || c == 0x7F) {
				snprintf(esc, sizeof esc, "\\x%02x", c);
				e = esc;
			}
		}
		if (e ? sr_buf_puts(out, e) < 0 : sr_buf_append(out, s + i, 1) < 0)
			return SR_ENOMEM;
	}
	return sr_buf_append(out, "\"", 1) < 0 ? SR_ENOMEM : 0;
}

/* Parse the Python string literal written by python_string at s[*pos].
 * Returns 0 and advances *pos, or SR_ENOTFOUND. */
static int parse_python_string(const char *s, size_t len, size_t *pos, struct sr_buf *out)
{
	size_t i = *pos;

	if (i >= len || s[i] != '"')
		return SR_ENOTFOUND;
	for (i++; i < len && s[i] != '"'; i++) {
		char c = s[i];
		if (c == '\\') {
			if (++i >= len)
				return SR_ENOTFOUND;
			switch (s[i]) {
			case '\\': c = '\\'; break;
			case '"': c = '"'; break;
			case 'n': c = '\n'; break;
			case 'r': c = '\r'; break;
			case 't': c = '\t'; break;
			case 'x':
				if (i + 2 >= len || hex_value(s[i + 1]) < 0 || hex_value(s[i + 2]) < 0)
					return SR_ENOTFOUND;
				c = (char)(hex_value(s[i + 1]) << 4 | hex_value(s[i + 2]));
				i += 2;
				break;
			default:
				return SR_ENOTFOUND;
			}
		}
		if (sr_buf_append(out, &c, 1) < 0)
			return SR_ENOMEM;
	}
	if (i >= len)
		return SR_ENOTFOUND;
	*pos = i + 1;
	return sr_buf_append(out, "", 0) < 0 ? SR_ENOMEM : 0;
}

/* The words of the request, split at single spaces so that joining them
 * with single spaces gives it back, as a Python list literal. */
static int python_list(const char *s, size_t len, struct sr_buf *out)
{
	size_t start = 0;

	if (sr_buf_append(out, "[", 1) < 0)
		return SR_ENOMEM;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != ' ')
			continue;
		if (start > 0 && sr_buf_append(out, ", ", 2) < 0)
			return SR_ENOMEM;
		if (python_string(s + start, i - start, out) < 0)
			return SR_ENOMEM;
		start = i + 1;
	}
	return sr_buf_append(out, "]", 1) < 0 ? SR_ENOMEM : 0;
}

/* Cut the request into pieces of 3 to 8 bytes (whole UTF-8 characters),
 * assigned to p1, p2, ... one per line; *sum gets "p1 + p2 + ...". */
static int python_parts(const char *s, size_t len, struct sr_rng *rng, struct sr_buf *parts,
                        struct sr_buf *sum)
{
	size_t i = 0;
	int k = 0;

	do {
		size_t want = 3 + (size_t)sr_rng_below(rng, 6), end = i;
		while (end < len && end - i < want)
			end += (size_t)utf8_len((unsigned char)s[end]);
		if (end > len)
			end = len;
		k++;
		if (sr_buf_printf(parts, "%sp%d = ", k > 1 ? "\n" : "", k) < 0 ||
		    python_string(s + i, end - i, parts) < 0 ||
		    sr_buf_printf(sum, "%sp%d", k > 1 ? " + " : "", k) < 0)
			return SR_ENOMEM;
		i = end;
	} while (i < len);
	return 0;
}

static int code_apply(const struct variant *v, const char *s, size_t len, struct sr_rng *rng,
                      struct sr_buf *out)
{
	struct sr_buf a = {0}, b = {0};
	struct var vars[2];
	size_t nvars = 1;
	int rc;

	switch (v->kind) {
	case CODE_FUNCTION:
		rc = python_string(s, len, &a);
		vars[0] = (struct var){"python_string", a.data, a.len};
		break;
	case CODE_LIST:
		rc = python_list(s, len, &a);
		vars[0] = (struct var){"python_list", a.data, a.len};
		break;
	default:
		rc = python_parts(s, len, rng, &a, &b);
		vars[0] = (struct var){"python_parts", a.data, a.len};
		vars[1] = (struct var){"python_sum", b.data, b.len};
		nvars = 2;
	}
	if (rc == 0)
		rc = expand(v->text, strlen(v->text), vars, nvars, out);
	sr_buf_release(&a);
	sr_buf_release(&b);
	return rc;
}

/* Match text against the template part tpl[0..n) expanded with vars,
 * starting at *pos. */
static int match_part(const char *text, size_t len, size_t *pos, const char *tpl, size_t n,
                      const struct var *vars, size_t nvars)
{
	struct sr_buf e = {0};
	int rc = expand(tpl, n, vars, nvars, &e);

	if (rc == 0 && (len - *pos < e.len || memcmp(text + *pos, e.data ? e.data : "", e.len) != 0))
		rc = SR_ENOTFOUND;
	if (rc == 0)
		*pos += e.len;
	sr_buf_release(&e);
	return rc;
}

static int code_invert(const struct variant *v, const char *text, size_t len, struct sr_buf *out)
{
	const char *name = v->kind == CODE_FUNCTION ? "{python_string}" :
	                   v->kind == CODE_LIST ? "{python_list}" : "{python_parts}";
	const char *at = strstr(v->text, name);
	size_t pos = 0;
	int rc, k = 0;
	struct sr_buf sum = {0};

	if (!at || match_part(text, len, &pos, v->text, (size_t)(at - v->text), NULL, 0) < 0)
		return SR_ENOTFOUND;
	at += strlen(name);
	sr_buf_reset(out);
	if (v->kind == CODE_FUNCTION) {
		rc = parse_python_string(text, len, &pos, out);
	} else if (v->kind == CODE_LIST) {
		rc = pos < len && text[pos] == '[' ? 0 : SR_ENOTFOUND;
		for (pos++; rc == 0; k++) {
			if (k > 0 && sr_buf_append(out, " ", 1) < 0)
				return SR_ENOMEM;
			if ((rc = parse_python_string(text, len, &pos, out)) < 0)
				break;
			if (pos + 1 < len && text[pos] == ',' && text[pos + 1] == ' ')
				pos += 2;
			else if (pos < len && text[pos] == ']') {
				pos++;
				break;
			} else
				rc = SR_ENOTFOUND;
		}
	} else {
		rc = 0;
		for (k = 1; rc == 0; k++) {
			char head[32];
			int n = snprintf(head, sizeof head, "%sp%d = ", k > 1 ? "\n" : "", k);
			if (len - pos < (size_t)n || memcmp(text + pos, head, (size_t)n) != 0) {
				rc = k > 1 ? 0 : SR_ENOTFOUND;
				break;
			}
			pos += (size_t)n;
			rc = parse_python_string(text, len, &pos, out);
			if (rc == 0 && sr_buf_printf(&sum, "%sp%d", k > 1 ? " + " : "", k) < 0)
				rc = SR_ENOMEM;
		}
	}
	if (rc == 0) {
		struct var vars[1] = {{"python_sum", sum.data ? sum.data : "", sum.len}};
		rc = match_part(text, len, &pos, at, strlen(at), vars, 1);
		if (rc == 0 && pos != len)
			rc = SR_ENOTFOUND;
	}
	sr_buf_release(&sum);
	if (rc == 0 && sr_buf_append(out, "", 0) < 0)
		rc = SR_ENOMEM;
	return rc;
}

/* ---- apply and invert ---- */

static int set_check(const struct sr_attack_params *p, int a, struct sr_error *err)
{
	if (!p || !p->templates)
		return sr_fail(err, SR_EUSAGE, "no templates loaded");
	if (p->templates->set[a].n == 0)
		return sr_fail(err, SR_EUSAGE, "no templates for '%s'", attacks[a].name);
	return 0;
}

int sr_attack_apply(const char *name, const char *text, size_t len,
                    const struct sr_attack_params *p, struct sr_rng *rng, struct sr_buf *out,
                    struct sr_error *err)
{
	int a = attack_index(name);
	struct sr_buf payload = {0};
	char shift[8], sep = 0;
	int rc;

	sr_buf_reset(out);
	if (a < 0)
		return sr_fail(err, SR_EUSAGE, "unknown attack '%s'", name);
	if (attacks[a].model)
		return sr_fail(err, SR_EUSAGE, "attack '%s' needs a model endpoint", name);
	if (a == A_PAST_TENSE_RULES) {
		rc = sr_past_tense_rules(text, len, out);
		return rc < 0 ? sr_fail(err, rc, "out of memory") : 0;
	}
	if ((rc = set_check(p, a, err)) < 0)
		return rc;
	const struct tset *set = &p->templates->set[a];
	const struct variant *v = &set->v[sr_rng_below(rng, set->n)];

	if (a == A_CODE) {
		rc = code_apply(v, text, len, rng, out);
		return rc < 0 ? sr_fail(err, rc, "out of memory") : 0;
	}
	snprintf(shift, sizeof shift, "%d", a == A_ROT13 ? 13 : p->shift);
	switch (a) {
	case A_BASE64: rc = sr_base64_encode(text, len, &payload); break;
	case A_HEX: rc = sr_hex_encode(text, len, &payload); break;
	case A_ROT13: rc = sr_caesar(text, len, 13, &payload); break;
	case A_CAESAR:
		if (p->shift < 1 || p->shift > 25)
			return sr_fail(err, SR_EUSAGE, "caesar shift %d is out of range (1 to 25)", p->shift);
		rc = sr_caesar(text, len, p->shift, &payload);
		break;
	case A_LEETSPEAK: rc = leetspeak(text, len, 0, &payload); break;
	case A_REVERSE: rc = sr_reverse_words(text, len, &payload); break;
	case A_SPLIT:
		for (const char *c = separators; *c; c++)
			if (!memchr(text, *c, len)) {
				sep = *c;
				break;
			}
		if (!sep)
			return sr_fail(err, SR_EDATA, "every split separator (%s) already occurs in the request",
			               separators);
		rc = split_words(text, len, sep, rng, &payload);
		break;
	default:
		/* Wrappers take the request itself. */
		rc = sr_buf_append(&payload, text, len) < 0 || sr_buf_append(&payload, "", 0) < 0 ? SR_ENOMEM : 0;
	}
	if (rc == 0) {
		struct var vars[4] = {
			{"payload", payload.data, payload.len},
			{"query", payload.data, payload.len},
			{"shift", shift, strlen(shift)},
			{"separator", &sep, 1},
		};
		rc = expand(v->text, strlen(v->text), vars, 4, out);
	}
	sr_buf_release(&payload);
	return rc < 0 ? sr_fail(err, rc, "out of memory") : 0;
}

/* Find the payload of text under template v, given the other variables. */
static int payload_of(const struct variant *v, const char *text, size_t len, const char *name,
                      const struct var *vars, size_t nvars, size_t *start, size_t *plen)
{
	const char *at = strstr(v->text, name);
	size_t pos = 0, n = strlen(name);
	struct sr_buf suffix = {0};
	int rc;

	if (!at || match_part(text, len, &pos, v->text, (size_t)(at - v->text), vars, nvars) < 0)
		return SR_ENOTFOUND;
	rc = expand(at + n, strlen(at + n), vars, nvars, &suffix);
	if (rc == 0 && (len - pos < suffix.len ||
	                memcmp(text + len - suffix.len, suffix.data ? suffix.data : "", suffix.len) != 0))
		rc = SR_ENOTFOUND;
	if (rc == 0) {
		*start = pos;
		*plen = len - pos - suffix.len;
	}
	sr_buf_release(&suffix);
	return rc;
}

static int decode_payload(int a, const char *s, size_t n, int shift, char sep, struct sr_buf *out)
{
	switch (a) {
	case A_BASE64: return sr_base64_decode(s, n, out);
	case A_HEX: return sr_hex_decode(s, n, out);
	case A_ROT13: return sr_caesar(s, n, 13, out);
	case A_CAESAR: return sr_caesar(s, n, 26 - shift, out);
	case A_LEETSPEAK: return leetspeak(s, n, 1, out);
	case A_REVERSE: return sr_reverse_words(s, n, out);
	case A_SPLIT:
		for (size_t i = 0; i < n; i++)
			if (s[i] != sep && sr_buf_append(out, s + i, 1) < 0)
				return SR_ENOMEM;
		return sr_buf_append(out, "", 0) < 0 ? SR_ENOMEM : 0;
	default:
		return sr_buf_append(out, s, n) < 0 || sr_buf_append(out, "", 0) < 0 ? SR_ENOMEM : 0;
	}
}

int sr_attack_invert(const char *name, const char *text, size_t len,
                     const struct sr_attack_params *p, struct sr_buf *out, struct sr_error *err)
{
	int a = attack_index(name), rc;

	sr_buf_reset(out);
	if (a < 0)
		return sr_fail(err, SR_EUSAGE, "unknown attack '%s'", name);
	if (!attacks[a].invertible && a != A_LEETSPEAK)
		return sr_fail(err, SR_EUSAGE, "attack '%s' has no inverse", name);
	if ((rc = set_check(p, a, err)) < 0)
		return rc;
	const struct tset *set = &p->templates->set[a];
	const char *place = a >= A_ROLEPLAY ? "{query}" : "{payload}";

	/* Longer templates first, so that a bare "{payload}" variant does not
	 * swallow the framing of another. */
	size_t order[64], nv = set->n < 64 ? set->n : 64;
	for (size_t k = 0; k < nv; k++)
		order[k] = k;
	for (size_t k = 1; k < nv; k++)
		for (size_t j = k; j > 0 && strlen(set->v[order[j]].text) > strlen(set->v[order[j - 1]].text); j--) {
			size_t t = order[j];
			order[j] = order[j - 1];
			order[j - 1] = t;
		}
	for (size_t k = 0; k < nv; k++) {
		const struct variant *v = &set->v[order[k]];
		if (a == A_CODE) {
			rc = code_invert(v, text, len, out);
			if (rc == 0)
				return 0;
			if (rc == SR_ENOMEM)
				return sr_fail(err, rc, "out of memory");
			continue;
		}
		/* split tries each separator the template may name. */
		size_t nsep = a == A_SPLIT ? strlen(separators) : 1;
		for (size_t s = 0; s < nsep; s++) {
			char shift[8], sep = separators[s];
			size_t start = 0, plen = 0;
			snprintf(shift, sizeof shift, "%d", a == A_ROT13 ? 13 : p->shift);
			struct var vars[2] = {{"shift", shift, strlen(shift)}, {"separator", &sep, 1}};
			if (payload_of(v, text, len, place, vars, 2, &start, &plen) < 0)
				continue;
			sr_buf_reset(out);
			rc = decode_payload(a, text + start, plen, p->shift, sep, out);
			if (rc == SR_ENOMEM)
				return sr_fail(err, rc, "out of memory");
			if (rc == 0)
				return 0;
		}
	}
	return sr_fail(err, SR_ENOTFOUND, "text does not match any '%s' template", name);
}

/* ---- model-driven transforms ---- */

json_t *sr_attack_model_request(const char *name, const char *text, size_t len,
                                const struct sr_attack_params *p, double temperature,
                                long max_tokens, struct sr_error *err)
{
	int a = attack_index(name);
	struct sr_buf sys = {0}, user = {0};

	if (a < 0 || !attacks[a].model) {
		sr_fail(err, SR_EUSAGE, "attack '%s' is not model-driven", name);
		return NULL;
	}
	if (!p || !p->templates || !p->templates->set[a].user) {
		sr_fail(err, SR_EUSAGE, "no templates for '%s'", name);
		return NULL;
	}
	if (a == A_TRANSLATE && (!p->language || !*p->language)) {
		sr_fail(err, SR_EUSAGE, "attack 'translate' needs a target language (--language)");
		return NULL;
	}
	const struct tset *set = &p->templates->set[a];
	const char *lang = p->language ? p->language : "";
	struct var vars[2] = {{"query", text, len}, {"language", lang, strlen(lang)}};
	json_t *body = NULL;
	if (expand(set->system, strlen(set->system), vars, 2, &sys) == 0 &&
	    expand(set->user, strlen(set->user), vars, 2, &user) == 0) {
		/* s% takes the length, so U+0000 in the request does not cut it. */
		body = json_pack("{s:[{s:s,s:s%},{s:s,s:s%}]}", "messages", "role", "system", "content",
		                 sys.data ? sys.data : "", sys.len, "role", "user", "content", user.data,
		                 user.len);
		if (body && temperature >= 0)
			json_object_set_new(body, "temperature", json_real(temperature));
		if (body && max_tokens > 0)
			json_object_set_new(body, "max_tokens", json_integer(max_tokens));
	}
	if (!body)
		sr_fail(err, SR_ENOMEM, "out of memory");
	sr_buf_release(&sys);
	sr_buf_release(&user);
	return body;
}

/* Drop a reasoning block that opens the reply, narrowing *reply and *len
 * to the text after it. A reply that only lost its open tag, as servers
 * that put the open tag into the prompt send it, counts as such a block.
 * SR_EDATA when the reply ends inside its reasoning or has nothing after
 * it. */
static int strip_reasoning(const char **reply, size_t *len, const char *open, const char *close,
                           struct sr_error *err)
{
	const char *reasoning, *answer, *s = *reply;
	size_t rlen, alen, i = 0;
	int flags = sr_split_completion(s, *len, open, close, &reasoning, &rlen, &answer, &alen);

	while (i < *len && is_blank((unsigned char)s[i]))
		i++;
	int opens_reply = *len - i >= strlen(open) && memcmp(s + i, open, strlen(open)) == 0;
	if (flags & SR_SPLIT_NO_CLOSE) {
		if (opens_reply)
			return sr_fail(err, SR_EDATA, "the model's reply ends inside its reasoning (no '%s')",
			               close);
		return 0;
	}
	if ((flags & SR_SPLIT_TEXT_BEFORE) || (!(flags & SR_SPLIT_NO_OPEN) && !opens_reply))
		return 0;
	if (alen == 0)
		return sr_fail(err, SR_EDATA, "the model's reply has nothing after its reasoning");
	*reply = answer;
	*len = alen;
	return 0;
}

int sr_attack_model_text(const char *reply, size_t len, const char *open, const char *close,
                         struct sr_buf *out, struct sr_error *err)
{
	size_t start = 0, end;

	sr_buf_reset(out);
	if (open && close && *open && *close && strip_reasoning(&reply, &len, open, close, err) < 0)
		return SR_EDATA;
	end = len;
	while (start < end && is_blank((unsigned char)reply[start]))
		start++;
	while (end > start && is_blank((unsigned char)reply[end - 1]))
		end--;
	/* A first line that only labels what follows ("Rewritten request:"). */
	const char *nl = memchr(reply + start, '\n', end - start);
	if (nl && nl > reply + start && nl[-1] == ':' && nl - (reply + start) < 60) {
		start = (size_t)(nl - reply) + 1;
		while (start < end && is_blank((unsigned char)reply[start]))
			start++;
	}
	if (end - start >= 2 && ((reply[start] == '"' && reply[end - 1] == '"') ||
	                         (reply[start] == '\'' && reply[end - 1] == '\''))) {
		const char *inner = memchr(reply + start + 1, reply[start], end - start - 2);
		if (!inner) {
			start++;
			end--;
		}
	}
	if (end == start)
		return sr_fail(err, SR_EDATA, "the model's reply is empty");
	if (sr_buf_append(out, reply + start, end - start) < 0 || sr_buf_append(out, "", 0) < 0)
		return sr_fail(err, SR_ENOMEM, "out of memory");
	return 0;
}

/* ---- rule-based past tense ---- */

/* Length of prefix when s starts with it (ASCII case-insensitive) followed
 * by a space, else 0. prefix may list alternatives separated by '|'. */
static size_t starts_with_word(const char *s, size_t len, const char *prefix)
{
	while (*prefix) {
		size_t n = strcspn(prefix, "|");
		if (n < len && strncasecmp(s, prefix, n) == 0 && s[n] == ' ')
			return n + 1;
		prefix += n;
		if (*prefix == '|')
			prefix++;
	}
	return 0;
}

static const char *const first_person[][2] = {
	{"I", "they"}, {"me", "them"}, {"my", "their"}, {"mine", "theirs"},
	{"myself", "themselves"}, {"I'm", "they were"}, {"I've", "they had"},
};

/* Append s with the first person turned into the third, and its first
 * letter lowercased unless the word is an acronym or "I". */
static int append_clause(const char *s, size_t len, struct sr_buf *out)
{
	size_t i = 0;

	while (i < len) {
		size_t j = i;
		while (j < len && s[j] != ' ')
			j++;
		const char *word = s + i;
		size_t n = j - i, k;
		for (k = 0; k < sizeof first_person / sizeof first_person[0]; k++)
			if (strlen(first_person[k][0]) == n &&
			    (strncmp(word, first_person[k][0], n) == 0 ||
			     (k > 0 && strncasecmp(word, first_person[k][0], n) == 0 && i > 0)))
				break;
		if (k < sizeof first_person / sizeof first_person[0]) {
			if (sr_buf_puts(out, first_person[k][1]) < 0)
				return SR_ENOMEM;
		} else if (i == 0 && n >= 2 && isupper((unsigned char)word[0]) &&
		           islower((unsigned char)word[1])) {
			char c = (char)tolower((unsigned char)word[0]);
			if (sr_buf_append(out, &c, 1) < 0 || sr_buf_append(out, word + 1, n - 1) < 0)
				return SR_ENOMEM;
		} else if (sr_buf_append(out, word, n) < 0) {
			return SR_ENOMEM;
		}
		if (j < len && sr_buf_append(out, " ", 1) < 0)
			return SR_ENOMEM;
		i = j + 1;
	}
	return 0;
}

static int finish_question(const char *clause, size_t n, struct sr_buf *out)
{
	int rc = append_clause(clause, n, out);
	int has = memmem(clause, n, "in the past", 11) != NULL;

	if (rc == 0 && sr_buf_puts(out, has ? "?" : " in the past?") < 0)
		rc = SR_ENOMEM;
	return rc;
}

/* Verbs that open the imperative requests common in evaluation sets. */
static const char imperative_verbs[] =
	"write|create|develop|design|generate|produce|draft|compose|build|make|give|provide|"
	"explain|describe|teach|show|tell|list|outline|suggest|offer|detail|instruct|help|"
	"find|identify|recommend|plan|devise|construct|program|code|publish|post|spread|"
	"convince|persuade|encourage|promote|share|send|draw|compile|prepare|craft|"
	"demonstrate|walk|guide|brainstorm|come|figure|obtain|acquire|get|buy|sell|"
	"hack|steal|synthesize|manufacture|cheat|evade|bypass|exploit|harass|bully|"
	"threaten|blackmail|manipulate|trick|lure|smuggle|launder|forge|counterfeit|"
	"poison|kill|hurt|attack|destroy|disable|sabotage|track|stalk|spy|monitor|"
	"access|break|crack|infiltrate|impersonate|fake|falsify|argue|claim|justify|"
	"use|release|illustrate|train|conduct|convert|determine|modify|add|educate|depict|"
	"transform|edit|choose|reply|interfere|think|rewrite|translate|summarize|"
	"summarise|evaluate|analyze|analyse|predict|calculate|recruit|organize|organise|"
	"incite|glorify|deny|insult|mock|defame|slander|dox|leak|distribute|install|"
	"deploy|inject|encrypt|delete|erase|hide|conceal|escape|avoid|commit|perform|carry";

int sr_past_tense_rules(const char *text, size_t len, struct sr_buf *out)
{
	size_t start = 0, end = len, n;
	const char *s;

	sr_buf_reset(out);
	while (start < end && is_blank((unsigned char)text[start]))
		start++;
	while (end > start && (is_blank((unsigned char)text[end - 1]) || text[end - 1] == '.' ||
	                       text[end - 1] == '?' || text[end - 1] == '!'))
		end--;
	s = text + start;
	len = end - start;

	/* Polite openers change nothing: "Can you please write ..." is "Write ...". */
	while ((n = starts_with_word(s, len, "please|can you please|could you please|can you|"
	                                     "could you|would you|will you|kindly")) > 0) {
		s += n;
		len -= n;
	}

	/* Already about the past: keep the question as it is. */
	if (starts_with_word(s, len, "how did|how were|how was|what did|what was|what were|"
	                             "who did|who was|where did|when did|why did|which did")) {
		if (sr_buf_append(out, s, len) < 0 || sr_buf_puts(out, "?") < 0)
			return SR_ENOMEM;
		return 0;
	}

	n = starts_with_word(s, len, "how to");
	if (n == 0) {
		size_t verb = starts_with_word(s, len, "how do|how can|how could|how would|how should|"
		                                       "how might|how does|how will|how may");
		size_t subject = verb ? starts_with_word(s + verb, len - verb,
		                                         "I|you|we|one|someone|people|they|"
		                                         "a person|anyone|somebody") : 0;
		n = subject ? verb + subject : 0;
	}
	if (n > 0) {
		/* "How to X", "How can I X": "How did people X in the past?" */
		if (sr_buf_puts(out, "How did people ") < 0)
			return SR_ENOMEM;
		return finish_question(s + n, len - n, out);
	}

	static const struct { const char *from, *to; } question_openers[] = {
		{"what is|what's", "What was "}, {"what are", "What were "},
		{"how is", "How was "}, {"how are", "How were "},
		{"who is", "Who was "}, {"who are", "Who were "},
		{"which is", "Which was "}, {"which are", "Which were "},
		{"is it", "Was it "}, {"is there", "Was there "}, {"are there", "Were there "},
		{"where can I|where do I|where could I|where would I|where should I|where can one|"
		 "where can you|where do people", "Where did people "},
		{"when can I|when do I|when should I", "When did people "},
		{"why do|why does|why should|why would", "Why did "},
		{"why is", "Why was "}, {"why are", "Why were "},
		{"why can't|why cannot", "Why couldn't "}, {"why can", "Why could "},
		{"what would be", "What was "},
		{"what do|what does|what can|what could|what should|what would", "What did "},
		{"ways|ideas|tips|methods|steps|strategies|techniques", NULL},
	};
	for (size_t k = 0; k < sizeof question_openers / sizeof question_openers[0]; k++) {
		if ((n = starts_with_word(s, len, question_openers[k].from)) == 0)
			continue;
		if (!question_openers[k].to) {
			/* "Ways to X": "What were ways to X in the past?" */
			if (sr_buf_puts(out, "What were ") < 0)
				return SR_ENOMEM;
			return finish_question(s, len, out);
		}
		if (sr_buf_puts(out, question_openers[k].to) < 0)
			return SR_ENOMEM;
		return finish_question(s + n, len - n, out);
	}

	/* "Explain how to X", "Give detailed instructions on how to X". */
	const char *how = memmem(s, len, " how to ", 8);
	if (how && how - s < 80 && starts_with_word(s, len, imperative_verbs) > 0) {
		n = (size_t)(how - s) + 8;
		if (sr_buf_puts(out, "How did people ") < 0)
			return SR_ENOMEM;
		return finish_question(s + n, len - n, out);
	}
	/* "Give instructions for making X": "How did people go about making X". */
	const char *gerund = memmem(s, len, " for ", 5);
	if (gerund && gerund - s < 60 && starts_with_word(s, len, "give|provide|write|list|offer") &&
	    (memmem(s, (size_t)(gerund - s), "instructions", 12) ||
	     memmem(s, (size_t)(gerund - s), "guide", 5) || memmem(s, (size_t)(gerund - s), "steps", 5))) {
		const char *w = gerund + 5, *sp = memchr(w, ' ', len - (size_t)(w - s));
		size_t wl = sp ? (size_t)(sp - w) : len - (size_t)(w - s);
		if (wl > 4 && strncmp(w + wl - 3, "ing", 3) == 0) {
			if (sr_buf_puts(out, "How did people go about ") < 0)
				return SR_ENOMEM;
			return finish_question(w, len - (size_t)(w - s), out);
		}
	}
	/* Any other imperative: "Write X" becomes "How did people write X",
	 * unless it is said to the reader ("Kill yourself"). */
	n = starts_with_word(s, len, imperative_verbs);
	/* An adverb first: "Slightly modify ...". */
	const char *space = memchr(s, ' ', len);
	size_t adverb = space ? (size_t)(space - s) : len;
	if (n == 0 && adverb > 3 && adverb < len && strncasecmp(s + adverb - 2, "ly", 2) == 0 &&
	    starts_with_word(s + adverb + 1, len - adverb - 1, imperative_verbs) > 0)
		n = adverb + 1;
	if (n > 0 && !(len - n >= 3 && strncasecmp(s + n, "you", 3) == 0)) {
		if (sr_buf_puts(out, "How did people ") < 0)
			return SR_ENOMEM;
		return finish_question(s, len, out);
	}
	/* Anything else, statements included: ask how it was gone about. */
	if (sr_buf_puts(out, "In the past, how did people go about this: \"") < 0 ||
	    sr_buf_append(out, s, len) < 0 || sr_buf_puts(out, "\"?") < 0)
		return SR_ENOMEM;
	return 0;
}
