/*
 * rules.c - loading, compiling and evaluating sr-filter rule sets (see
 * rules.h). The text form is translated into the JSON document, so both
 * forms go through the same schema and option checks.
 */
#define _GNU_SOURCE
#define PCRE2_CODE_UNIT_WIDTH 8
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <math.h>
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "rules.h"
#include "schema.h"
#include "io.h"
#include "util.h"

/* Largest rules file read. */
#define RULES_FILE_MAX ((size_t)16 << 20)
/* Repetition checks look at no more than this many words of a field. */
#define REPEAT_MAX_WORDS 65536

enum field_source { FIELD_MEMBER, FIELD_POINTER };

struct rule {
	char *name;
	enum sr_rule_kind kind;
	json_t *options;             /* borrowed from rules->doc */
	int labels;                  /* bit 1 harmful, bit 2 benign; 0 = all records */

	/* field the rule reads (length, require, forbid, script, repetition,
	 * finish_reason) */
	const char *field;           /* member name, or JSON Pointer starting with '/' */
	int missing_fails;           /* a missing field fails the rule */

	/* length */
	long min_chars, max_chars, min_tokens, max_tokens; /* -1 = no bound */

	/* require / forbid */
	pcre2_code *re;

	/* structure */
	int need_reasoning, need_answer;
	const char *answer_open, *answer_close;

	/* coverage */
	double min_ratio;

	/* label */
	int allow_partial_harmful;
	double min_confidence;

	/* script */
	unsigned scripts;            /* SCRIPT_* bits */
	double min_script_ratio;
	int english;                 /* also require English function words */
	double min_english_ratio;
	size_t min_letters;

	/* repetition */
	double max_line_repeat, max_ngram_repeat;
	int ngram;
	size_t min_words;

	/* finish_reason */
	json_t *forbidden_reasons;   /* array of strings (borrowed) */
};

struct sr_rules {
	json_t *doc;
	char *name;
	struct rule *r;
	size_t n;
};

static const char *const KIND_NAMES[] = {
	"structure", "length", "require", "forbid", "coverage", "label", "script",
	"repetition", "finish_reason", "llm",
};

const char *sr_rule_kind_name(enum sr_rule_kind kind)
{
	return (unsigned)kind < sizeof KIND_NAMES / sizeof KIND_NAMES[0] ? KIND_NAMES[kind] : "unknown";
}

/* ---- scripts --------------------------------------------------------- */

enum {
	SCRIPT_LATIN = 1 << 0, SCRIPT_GREEK = 1 << 1, SCRIPT_CYRILLIC = 1 << 2,
	SCRIPT_ARMENIAN = 1 << 3, SCRIPT_HEBREW = 1 << 4, SCRIPT_ARABIC = 1 << 5,
	SCRIPT_DEVANAGARI = 1 << 6, SCRIPT_THAI = 1 << 7, SCRIPT_HANGUL = 1 << 8,
	SCRIPT_HIRAGANA = 1 << 9, SCRIPT_KATAKANA = 1 << 10, SCRIPT_HAN = 1 << 11,
	SCRIPT_OTHER = 1 << 12,
};

static const struct { const char *name; unsigned bit; } SCRIPT_NAMES[] = {
	{"Latin", SCRIPT_LATIN}, {"Greek", SCRIPT_GREEK}, {"Cyrillic", SCRIPT_CYRILLIC},
	{"Armenian", SCRIPT_ARMENIAN}, {"Hebrew", SCRIPT_HEBREW}, {"Arabic", SCRIPT_ARABIC},
	{"Devanagari", SCRIPT_DEVANAGARI}, {"Thai", SCRIPT_THAI}, {"Hangul", SCRIPT_HANGUL},
	{"Hiragana", SCRIPT_HIRAGANA}, {"Katakana", SCRIPT_KATAKANA}, {"Han", SCRIPT_HAN},
};

/* Script of a letter code point, 0 for anything that is not a letter
 * (digits, punctuation, symbols, emoji), SCRIPT_OTHER for letters of
 * scripts not listed. Ranges are the main Unicode blocks of each script. */
static unsigned script_of(uint32_t c)
{
	if (c < 0x80)
		return isalpha((int)c) ? SCRIPT_LATIN : 0;
	if ((c >= 0xC0 && c <= 0x24F && c != 0xD7 && c != 0xF7) || (c >= 0x1E00 && c <= 0x1EFF))
		return SCRIPT_LATIN;
	if (c < 0x370)
		return 0;
	if (c <= 0x3FF || (c >= 0x1F00 && c <= 0x1FFF))
		return SCRIPT_GREEK;
	if (c <= 0x52F)
		return SCRIPT_CYRILLIC;
	if (c <= 0x58F)
		return SCRIPT_ARMENIAN;
	if (c <= 0x5FF)
		return SCRIPT_HEBREW;
	if (c <= 0x6FF || (c >= 0x750 && c <= 0x77F))
		return SCRIPT_ARABIC;
	if (c >= 0x900 && c <= 0x97F)
		return SCRIPT_DEVANAGARI;
	if (c >= 0xE00 && c <= 0xE7F)
		return SCRIPT_THAI;
	if ((c >= 0x1100 && c <= 0x11FF) || (c >= 0xAC00 && c <= 0xD7AF) || (c >= 0x3130 && c <= 0x318F))
		return SCRIPT_HANGUL;
	if (c >= 0x3040 && c <= 0x309F)
		return SCRIPT_HIRAGANA;
	if (c >= 0x30A0 && c <= 0x30FF)
		return SCRIPT_KATAKANA;
	if ((c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2FFFF))
		return SCRIPT_HAN;
	/* Punctuation, symbols, arrows, box drawing, CJK punctuation, emoji. */
	if ((c >= 0x2000 && c <= 0x2BFF) || (c >= 0x3000 && c <= 0x303F) || (c >= 0xFE00 && c <= 0xFE6F) ||
	    (c >= 0xFF00 && c <= 0xFF20) || (c >= 0x1F000 && c <= 0x1FAFF) || c == 0xFEFF)
		return 0;
	return SCRIPT_OTHER;
}

/* Decode one UTF-8 sequence (input is valid UTF-8: records are checked). */
static uint32_t utf8_next(const unsigned char **p, const unsigned char *end)
{
	const unsigned char *s = *p;
	uint32_t c = *s++;
	int more = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
	if (more)
		c &= 0x3F >> more;
	while (more-- && s < end)
		c = (c << 6) | (*s++ & 0x3F);
	*p = s;
	return c;
}

size_t sr_rules_codepoints(const char *s, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		n += ((unsigned char)s[i] & 0xC0) != 0x80;
	return n;
}

size_t sr_rules_approx_tokens(const char *s, size_t len)
{
	return (sr_rules_codepoints(s, len) + 3) / 4;
}

/* ---- repetition -------------------------------------------------------- */

/* Open-addressing set of 64-bit hashes; returns 1 if h was already in. */
static int hash_seen(uint64_t *table, size_t mask, uint64_t h)
{
	if (h == 0)
		h = 1;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		if (table[i] == h)
			return 1;
		if (table[i] == 0) {
			table[i] = h;
			return 0;
		}
	}
}

static uint64_t *hash_table(size_t items, size_t *mask)
{
	size_t cap = 16;
	while (cap < items * 2)
		cap <<= 1;
	*mask = cap - 1;
	return calloc(cap, sizeof(uint64_t));
}

double sr_rules_line_repeat(const char *s, size_t len)
{
	size_t lines = 0, repeated = 0, mask;
	for (size_t i = 0; i < len; i++)
		lines += s[i] == '\n';
	uint64_t *table = hash_table(lines + 1, &mask);
	if (!table)
		return 0.0;
	lines = 0;
	size_t i = 0;
	while (i < len) {
		size_t start = i;
		while (i < len && s[i] != '\n')
			i++;
		size_t a = start, b = i;
		while (a < b && isspace((unsigned char)s[a]))
			a++;
		while (b > a && isspace((unsigned char)s[b - 1]))
			b--;
		i++;
		if (b == a)
			continue;
		lines++;
		repeated += hash_seen(table, mask, sr_hash64(s + a, b - a, 0));
	}
	free(table);
	return lines ? (double)repeated / lines : 0.0;
}

double sr_rules_ngram_repeat(const char *s, size_t len, int n, size_t *ngrams)
{
	uint64_t *words = malloc(REPEAT_MAX_WORDS * sizeof *words);
	size_t nw = 0, i = 0;
	if (ngrams)
		*ngrams = 0;
	if (!words || n < 1)
		return free(words), 0.0;
	while (i < len && nw < REPEAT_MAX_WORDS) {
		while (i < len && !isalnum((unsigned char)s[i]) && (unsigned char)s[i] < 0x80)
			i++;
		size_t start = i;
		char buf[64];
		size_t bl = 0;
		while (i < len && (isalnum((unsigned char)s[i]) || (unsigned char)s[i] >= 0x80)) {
			if (bl < sizeof buf)
				buf[bl++] = (char)tolower((unsigned char)s[i]);
			i++;
		}
		if (i > start)
			words[nw++] = sr_hash64(buf, bl, 0);
	}
	if (nw < (size_t)n) {
		free(words);
		return 0.0;
	}
	size_t total = nw - (size_t)n + 1, repeated = 0, mask;
	uint64_t *table = hash_table(total, &mask);
	if (!table) {
		free(words);
		return 0.0;
	}
	for (size_t k = 0; k < total; k++) {
		uint64_t h = 0x9E3779B97F4A7C15ull;
		for (int j = 0; j < n; j++)
			h = (h ^ words[k + (size_t)j]) * 0x100000001B3ull;
		repeated += hash_seen(table, mask, h);
	}
	free(table);
	free(words);
	if (ngrams)
		*ngrams = total;
	return (double)repeated / total;
}

/* ---- loading --------------------------------------------------------- */

static int opt_num(json_t *o, const char *key, double def, double *out)
{
	json_t *v = json_object_get(o, key);
	*out = v ? json_number_value(v) : def;
	return v != NULL;
}

static long opt_long(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return v ? (long)json_number_value(v) : -1;
}

static const char *opt_str(json_t *o, const char *key, const char *def)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : def;
}

static int compile_pattern(const char *pattern, pcre2_code **out, char *msg, size_t cap)
{
	int errcode;
	PCRE2_SIZE erroff;
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
	                               PCRE2_UTF | PCRE2_NO_UTF_CHECK, &errcode, &erroff, NULL);
	if (!re) {
		PCRE2_UCHAR buf[256];
		pcre2_get_error_message(errcode, buf, sizeof buf);
		snprintf(msg, cap, "invalid pattern at offset %zu: %s", (size_t)erroff, (char *)buf);
		return SR_EDATA;
	}
	/* JIT is an optimisation: without it (unsupported CPU) matching still works. */
	pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
	*out = re;
	return 0;
}

static int rule_fail(struct sr_error *err, const struct rule *r, size_t i, const char *fmt,
                     const char *what)
{
	sr_fail(err, SR_EDATA, "rule %zu ('%s'): %s%s", i + 1, r->name ? r->name : "?", fmt,
	        what ? what : "");
	if (err)
		snprintf(err->field, sizeof err->field, "/rules/%zu", i);
	return SR_EDATA;
}

static const char *default_field(enum sr_rule_kind kind)
{
	switch (kind) {
	case SR_RULE_FINISH_REASON: return "/teacher/finish_reason";
	case SR_RULE_SCRIPT: return "answer";
	case SR_RULE_REPETITION: return "completion";
	default: return NULL;
	}
}

static int build_rule(struct rule *r, size_t i, json_t *o, struct sr_error *err)
{
	const char *kind = json_string_value(json_object_get(o, "kind"));
	size_t k;
	json_t *v;
	char msg[512];

	r->name = strdup(json_string_value(json_object_get(o, "name")));
	if (!r->name)
		return sr_fail(err, SR_ENOMEM, "out of memory");
	r->options = o;
	for (k = 0; k < sizeof KIND_NAMES / sizeof KIND_NAMES[0]; k++)
		if (!strcmp(kind, KIND_NAMES[k]))
			r->kind = (enum sr_rule_kind)k;
	json_array_foreach(json_object_get(o, "labels"), k, v) {
		if (!strcmp(json_string_value(v), "harmful"))
			r->labels |= 1;
		else
			r->labels |= 2;
	}
	r->field = opt_str(o, "field", default_field(r->kind));
	if (r->field && r->field[0] == '/') {
		for (const char *t = strchr(r->field, '~'); t; t = strchr(t + 1, '~'))
			if (t[1] != '0' && t[1] != '1')
				return rule_fail(err, r, i, "invalid JSON Pointer (a '~' must be followed "
				                 "by 0 or 1): ", r->field);
	}
	r->missing_fails = r->kind == SR_RULE_REQUIRE || r->kind == SR_RULE_LENGTH;
	if (json_object_get(o, "missing"))
		r->missing_fails = !strcmp(opt_str(o, "missing", "pass"), "fail");

	switch (r->kind) {
	case SR_RULE_STRUCTURE: {
		json_t *tags = json_object_get(o, "answer_tags");
		r->need_reasoning = !json_is_false(json_object_get(o, "require_reasoning"));
		r->need_answer = !json_is_false(json_object_get(o, "require_answer"));
		if (tags) {
			r->answer_open = opt_str(tags, "open", NULL);
			r->answer_close = opt_str(tags, "close", NULL);
			if (!r->answer_open || !r->answer_close || !*r->answer_open || !*r->answer_close)
				return rule_fail(err, r, i, "answer_tags needs non-empty 'open' and 'close'", NULL);
		}
		break;
	}
	case SR_RULE_LENGTH:
		if (!r->field)
			return rule_fail(err, r, i, "a length rule needs 'field'", NULL);
		r->min_chars = opt_long(o, "min_chars");
		r->max_chars = opt_long(o, "max_chars");
		r->min_tokens = opt_long(o, "min_tokens");
		r->max_tokens = opt_long(o, "max_tokens");
		if (r->min_chars < 0 && r->max_chars < 0 && r->min_tokens < 0 && r->max_tokens < 0)
			return rule_fail(err, r, i, "a length rule needs at least one bound", NULL);
		if ((r->max_chars >= 0 && r->min_chars > r->max_chars) ||
		    (r->max_tokens >= 0 && r->min_tokens > r->max_tokens))
			return rule_fail(err, r, i, "a minimum is larger than its maximum", NULL);
		break;
	case SR_RULE_REQUIRE:
	case SR_RULE_FORBID:
		if (!r->field)
			return rule_fail(err, r, i, "a pattern rule needs 'field'", NULL);
		if (!json_is_string(json_object_get(o, "pattern")))
			return rule_fail(err, r, i, "a pattern rule needs 'pattern'", NULL);
		if (compile_pattern(opt_str(o, "pattern", ""), &r->re, msg, sizeof msg) < 0)
			return rule_fail(err, r, i, msg, NULL);
		break;
	case SR_RULE_COVERAGE:
		opt_num(o, "min_ratio", 1.0, &r->min_ratio);
		break;
	case SR_RULE_LABEL:
		r->allow_partial_harmful = json_is_true(json_object_get(o, "allow_partial"));
		opt_num(o, "min_confidence", 0.0, &r->min_confidence);
		break;
	case SR_RULE_SCRIPT: {
		json_t *scripts = json_object_get(o, "scripts");
		json_array_foreach(scripts, k, v) {
			size_t s;
			for (s = 0; s < sizeof SCRIPT_NAMES / sizeof SCRIPT_NAMES[0]; s++)
				if (!strcmp(SCRIPT_NAMES[s].name, json_string_value(v)))
					break;
			if (s == sizeof SCRIPT_NAMES / sizeof SCRIPT_NAMES[0])
				return rule_fail(err, r, i, "unknown script: ", json_string_value(v));
			r->scripts |= SCRIPT_NAMES[s].bit;
		}
		const char *lang = opt_str(o, "language", NULL);
		if (lang && strcmp(lang, "en") != 0)
			return rule_fail(err, r, i, "the only language with a word check is 'en', not ", lang);
		r->english = lang != NULL;
		if (!r->scripts)
			r->scripts = r->english ? SCRIPT_LATIN : 0;
		if (!r->scripts)
			return rule_fail(err, r, i, "a script rule needs 'scripts' or 'language'", NULL);
		opt_num(o, "min_ratio", 0.9, &r->min_script_ratio);
		opt_num(o, "min_english_ratio", 0.15, &r->min_english_ratio);
		double ml;
		opt_num(o, "min_letters", 20, &ml);
		r->min_letters = (size_t)ml;
		break;
	}
	case SR_RULE_REPETITION: {
		double n, mw;
		opt_num(o, "max_line_repeat", 0.5, &r->max_line_repeat);
		opt_num(o, "max_ngram_repeat", 0.5, &r->max_ngram_repeat);
		opt_num(o, "ngram", 4, &n);
		opt_num(o, "min_words", 20, &mw);
		r->ngram = (int)n;
		r->min_words = (size_t)mw;
		if (r->ngram < 1 || r->ngram > 16)
			return rule_fail(err, r, i, "ngram must be between 1 and 16", NULL);
		break;
	}
	case SR_RULE_FINISH_REASON:
		r->forbidden_reasons = json_object_get(o, "forbid");
		break;
	case SR_RULE_LLM:
		if (!json_is_string(json_object_get(o, "prompt")) &&
		    !json_is_string(json_object_get(o, "prompt_file")))
			return rule_fail(err, r, i, "an llm rule needs 'prompt'", NULL);
		if (json_object_get(o, "pass_pattern")) {
			if (compile_pattern(opt_str(o, "pass_pattern", ""), &r->re, msg, sizeof msg) < 0)
				return rule_fail(err, r, i, msg, NULL);
		}
		break;
	}
	return 0;
}

static const struct sr_schema *rules_schema(struct sr_error *err)
{
	static struct sr_schema *schema;
	if (!schema && sr_schema_load_named("rules", &schema, err) < 0)
		return NULL;
	return schema;
}

int sr_rules_from_json(json_t *doc, const char *origin, struct sr_rules **out, struct sr_error *err)
{
	const struct sr_schema *schema = rules_schema(err);
	struct sr_rules *rules;
	json_t *list, *o;
	size_t i, j;
	int rc;

	*out = NULL;
	if (!schema)
		return err ? err->code : SR_ENOTFOUND;
	if ((rc = sr_schema_validate(schema, doc, err)) < 0) {
		if (err)
			snprintf(err->file, sizeof err->file, "%s", origin ? origin : "");
		return SR_EDATA;
	}
	if (!(rules = calloc(1, sizeof *rules)))
		return sr_fail(err, SR_ENOMEM, "out of memory");
	rules->doc = json_incref(doc);
	rules->name = strdup(json_string_value(json_object_get(doc, "name")) ?: (origin ?: "rules"));
	list = json_object_get(doc, "rules");
	rules->r = calloc(json_array_size(list) + 1, sizeof *rules->r);
	if (!rules->name || !rules->r) {
		sr_rules_free(rules);
		return sr_fail(err, SR_ENOMEM, "out of memory");
	}
	json_array_foreach(list, i, o) {
		rules->n = i + 1;
		if ((rc = build_rule(&rules->r[i], i, o, err)) < 0) {
			if (err)
				snprintf(err->file, sizeof err->file, "%s", origin ? origin : "");
			sr_rules_free(rules);
			return rc;
		}
		for (j = 0; j < i; j++)
			if (!strcmp(rules->r[j].name, rules->r[i].name)) {
				rc = rule_fail(err, &rules->r[i], i, "duplicate rule name", NULL);
				if (err)
					snprintf(err->file, sizeof err->file, "%s", origin ? origin : "");
				sr_rules_free(rules);
				return rc;
			}
	}
	*out = rules;
	return 0;
}

/* ---- the text form ----------------------------------------------------- */

/* Parse one value of KEY=VALUE: 'raw', "json string", or a bare word that
 * is JSON (number, true, false, null, [..], {..}) when it parses, else a
 * string. *p advances past the value. */
static json_t *text_value(const char **p, const char *end, char *msg, size_t cap)
{
	const char *s = *p;
	if (*s == '\'') {
		const char *e = memchr(s + 1, '\'', (size_t)(end - s - 1));
		if (!e) {
			snprintf(msg, cap, "unterminated single quote");
			return NULL;
		}
		*p = e + 1;
		return json_stringn(s + 1, (size_t)(e - s - 1));
	}
	if (*s == '"' || *s == '[' || *s == '{') {
		json_error_t jerr;
		json_t *v = json_loadb(s, (size_t)(end - s), JSON_DISABLE_EOF_CHECK | JSON_DECODE_ANY, &jerr);
		if (!v) {
			snprintf(msg, cap, "invalid JSON value: %s", jerr.text);
			return NULL;
		}
		*p = s + jerr.position;
		return v;
	}
	const char *e = s;
	while (e < end && !isspace((unsigned char)*e))
		e++;
	*p = e;
	json_t *v = json_loadb(s, (size_t)(e - s), JSON_DECODE_ANY, NULL);
	return v ? v : json_stringn(s, (size_t)(e - s));
}

int sr_rules_parse_text(const char *text, size_t len, const char *origin, json_t **out,
                        struct sr_error *err)
{
	json_t *doc = json_object(), *rules = json_array(), *judge = NULL;
	const char *p = text, *end = text + len;
	long lineno = 0;
	char msg[300];

	if (!doc || !rules)
		goto nomem;
	json_object_set_new(doc, "rules", rules); /* steals rules; doc keeps it alive */
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *le = eol ? eol : end;
		lineno++;
		while (p < le && isspace((unsigned char)*p))
			p++;
		if (p == le || *p == '#') {
			p = le + 1;
			continue;
		}
		/* NAME KIND, or %name / %version / %description / %judge */
		const char *w = p;
		while (p < le && !isspace((unsigned char)*p))
			p++;
		json_t *target;
		if (*w == '%') {
			char key[32];
			snprintf(key, sizeof key, "%.*s", (int)(p - w - 1), w + 1);
			while (p < le && isspace((unsigned char)*p))
				p++;
			if (!strcmp(key, "judge")) {
				if (!judge) {
					judge = json_object();
					json_object_set_new(doc, "judge", judge);
				}
				target = judge;
			} else if (!strcmp(key, "name") || !strcmp(key, "version") ||
			           !strcmp(key, "description") || !strcmp(key, "guidelines")) {
				json_t *v = text_value(&p, le, msg, sizeof msg);
				if (!v)
					goto bad;
				json_object_set_new(doc, key, v);
				p = le + 1;
				continue;
			} else {
				snprintf(msg, sizeof msg, "unknown directive '%%%s'", key);
				goto bad;
			}
		} else {
			target = json_object();
			json_array_append_new(rules, target);
			json_object_set_new(target, "name", json_stringn(w, (size_t)(p - w)));
			while (p < le && isspace((unsigned char)*p))
				p++;
			const char *k = p;
			while (p < le && !isspace((unsigned char)*p))
				p++;
			if (p == k) {
				snprintf(msg, sizeof msg, "rule '%.*s' has no kind", (int)(k - w), w);
				goto bad;
			}
			json_object_set_new(target, "kind", json_stringn(k, (size_t)(p - k)));
		}
		for (;;) {
			while (p < le && isspace((unsigned char)*p))
				p++;
			if (p >= le || *p == '#')
				break;
			const char *key = p;
			while (p < le && *p != '=' && !isspace((unsigned char)*p))
				p++;
			if (p >= le || *p != '=') {
				snprintf(msg, sizeof msg, "expected KEY=VALUE, got '%.*s'", (int)(p - key), key);
				goto bad;
			}
			char k[64];
			snprintf(k, sizeof k, "%.*s", (int)(p - key), key);
			p++;
			if (p >= le) {
				snprintf(msg, sizeof msg, "'%s' has no value", k);
				goto bad;
			}
			json_t *v = text_value(&p, le, msg, sizeof msg);
			if (!v)
				goto bad;
			if (json_object_get(target, k)) {
				json_decref(v);
				snprintf(msg, sizeof msg, "'%s' given twice", k);
				goto bad;
			}
			json_object_set_new(target, k, v);
		}
		p = le + 1;
	}
	*out = doc;
	return 0;
bad:
	json_decref(doc);
	sr_fail(err, SR_EDATA, "%s", msg);
	if (err) {
		snprintf(err->file, sizeof err->file, "%s", origin ? origin : "");
		err->line = lineno;
	}
	return SR_EDATA;
nomem:
	json_decref(doc);
	json_decref(rules);
	return sr_fail(err, SR_ENOMEM, "out of memory");
}

/* Line of a text rules file that a JSON Pointer into the document built
 * from it names: "/rules/N..." is the N-th rule line (0-based), "/judge..."
 * the first %judge line and "/name" and the like their directive. 0 when the
 * pointer names no line. */
static long text_line_of(const char *text, size_t len, const char *pointer)
{
	const char *p = text, *end = text + len;
	long lineno = 0, rule = -1;
	char directive[32] = "";

	if (!strncmp(pointer, "/rules/", 7) && isdigit((unsigned char)pointer[7]))
		rule = strtol(pointer + 7, NULL, 10);
	else if (pointer[0] == '/')
		snprintf(directive, sizeof directive, "%%%.*s", (int)strcspn(pointer + 1, "/"), pointer + 1);
	else
		return 0;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *le = eol ? eol : end;
		lineno++;
		while (p < le && isspace((unsigned char)*p))
			p++;
		if (p < le && *p != '#') {
			size_t n = strcspn(p, " \t\r\n");
			if (*p != '%' && rule >= 0 && rule-- == 0)
				return lineno;
			if (*p == '%' && directive[0] && n == strlen(directive) && !strncmp(p, directive, n))
				return lineno;
		}
		p = le + 1;
	}
	return 0;
}

static int has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && !strcmp(s + n - m, suffix);
}

int sr_rules_load(const char *name_or_path, struct sr_rules **out, struct sr_error *err)
{
	char path[4096];
	char *data = NULL;
	size_t len;
	json_t *doc = NULL;
	int rc;

	*out = NULL;
	if (!name_or_path)
		name_or_path = "default";
	if (!strchr(name_or_path, '/') && !has_suffix(name_or_path, ".json") &&
	    !has_suffix(name_or_path, ".rules")) {
		char rel[512];
		snprintf(rel, sizeof rel, "rules/%s.json", name_or_path);
		if ((rc = sr_data_path(rel, path, sizeof path, err)) < 0)
			return rc;
	} else {
		snprintf(path, sizeof path, "%s", name_or_path);
	}
	if ((rc = sr_read_file(path, RULES_FILE_MAX, &data, &len, err)) < 0)
		return rc;
	const char *p = data;
	while (p < data + len && isspace((unsigned char)*p))
		p++;
	if (p < data + len && *p == '{') {
		doc = sr_json_parse(data, len, err);
		if (!doc) {
			if (err)
				snprintf(err->file, sizeof err->file, "%.500s", path);
			free(data);
			return SR_EDATA;
		}
	} else if ((rc = sr_rules_parse_text(data, len, path, &doc, err)) < 0) {
		free(data);
		return rc;
	} else {
		/* Errors in the text form name the line, not a JSON Pointer
		 * into the document built from it. */
		rc = sr_rules_from_json(doc, path, out, err);
		long line = rc < 0 && err ? text_line_of(data, len, err->field) : 0;
		if (line > 0) {
			snprintf(err->file, sizeof err->file, "%.500s", path);
			err->line = line;
			err->field[0] = '\0';
		}
		json_decref(doc);
		free(data);
		return rc;
	}
	free(data);
	rc = sr_rules_from_json(doc, path, out, err);
	json_decref(doc);
	return rc;
}

void sr_rules_free(struct sr_rules *rules)
{
	if (!rules)
		return;
	for (size_t i = 0; i < rules->n; i++) {
		free(rules->r[i].name);
		pcre2_code_free(rules->r[i].re);
	}
	free(rules->r);
	free(rules->name);
	json_decref(rules->doc);
	free(rules);
}

size_t sr_rules_count(const struct sr_rules *rules) { return rules->n; }
const char *sr_rules_rule_name(const struct sr_rules *rules, size_t i) { return rules->r[i].name; }
enum sr_rule_kind sr_rules_rule_kind(const struct sr_rules *rules, size_t i) { return rules->r[i].kind; }
json_t *sr_rules_rule_options(const struct sr_rules *rules, size_t i) { return rules->r[i].options; }
json_t *sr_rules_judge_config(const struct sr_rules *rules) { return json_object_get(rules->doc, "judge"); }
const char *sr_rules_name(const struct sr_rules *rules) { return rules->name; }

/* ---- evaluation ------------------------------------------------------- */

/* Compiled coverage patterns of one guideline set. */
struct coverage_set {
	const struct sr_guideset *set;
	pcre2_code ***re;     /* per guideline, NULL-terminated array */
	struct coverage_set *next;
};

struct sr_rules_ctx {
	const struct sr_rules *rules;
	const struct sr_judge *judge;
	struct sr_guideset_cache *sets;
	struct coverage_set *coverage;
	pcre2_match_data *md;
	pcre2_match_context *mctx;
	pcre2_jit_stack *jit_stack;
	char *buf;            /* serialised non-string field values */
	size_t buflen, bufcap;
};

int sr_rules_ctx_new(const struct sr_rules *rules, const char *guideset_override,
                     const struct sr_judge *judge, struct sr_rules_ctx **out,
                     struct sr_error *err)
{
	struct sr_rules_ctx *c = calloc(1, sizeof *c);
	*out = NULL;
	if (!c)
		return sr_fail(err, SR_ENOMEM, "out of memory");
	c->rules = rules;
	c->judge = judge;
	c->sets = sr_guideset_cache_new(guideset_override);
	c->md = pcre2_match_data_create(1, NULL);
	c->mctx = pcre2_match_context_create(NULL);
	c->jit_stack = pcre2_jit_stack_create(32 * 1024, 1024 * 1024, NULL);
	if (!c->sets || !c->md || !c->mctx) {
		sr_rules_ctx_free(c);
		return sr_fail(err, SR_ENOMEM, "out of memory");
	}
	if (c->jit_stack)
		pcre2_jit_stack_assign(c->mctx, NULL, c->jit_stack);
	*out = c;
	return 0;
}

void sr_rules_ctx_free(struct sr_rules_ctx *c)
{
	if (!c)
		return;
	for (struct coverage_set *cs = c->coverage, *next; cs; cs = next) {
		next = cs->next;
		for (size_t g = 0; g < cs->set->n; g++) {
			for (pcre2_code **re = cs->re[g]; re && *re; re++)
				pcre2_code_free(*re);
			free(cs->re[g]);
		}
		free(cs->re);
		free(cs);
	}
	sr_guideset_cache_free(c->sets);
	pcre2_match_data_free(c->md);
	pcre2_match_context_free(c->mctx);
	pcre2_jit_stack_free(c->jit_stack);
	free(c->buf);
	free(c);
}

void sr_rules_result_init(struct sr_rules_result *res)
{
	memset(res, 0, sizeof *res);
}

void sr_rules_result_release(struct sr_rules_result *res)
{
	free(res->checks);
	free(res->coverage);
	memset(res, 0, sizeof *res);
}

/* 1 = match, 0 = no match, <0 = matching error (e.g. match limit). */
static int re_match(struct sr_rules_ctx *c, const pcre2_code *re, const char *s, size_t len)
{
	int rc = pcre2_match(re, (PCRE2_SPTR)s, len, 0, PCRE2_NO_UTF_CHECK, c->md, c->mctx);
	if (rc >= 0)
		return 1;
	return rc == PCRE2_ERROR_NOMATCH ? 0 : -1;
}

/* Resolve a JSON Pointer below a value (RFC 6901). */
static json_t *pointer_get(json_t *v, const char *ptr)
{
	char tok[256];
	while (v && *ptr == '/') {
		size_t n = 0;
		ptr++;
		while (*ptr && *ptr != '/') {
			char ch = *ptr++;
			if (ch == '~')
				ch = *ptr++ == '1' ? '/' : '~';
			if (n + 1 < sizeof tok)
				tok[n++] = ch;
		}
		tok[n] = '\0';
		if (json_is_object(v)) {
			v = json_object_get(v, tok);
		} else if (json_is_array(v)) {
			char *e;
			unsigned long idx = strtoul(tok, &e, 10);
			v = (*tok && !*e && (tok[0] != '0' || !tok[1])) ? json_array_get(v, idx) : NULL;
		} else {
			v = NULL;
		}
	}
	return v;
}

/* ---- raw JSON spans ----------------------------------------------------
 * A non-string field is read as its compact JSON text, built from the
 * record's original bytes. Numbers keep every digit they were written with,
 * where jansson would read 12345678901234567891 through a double. The bytes
 * come from a record the reader has parsed, so they are valid JSON. */

static const char *raw_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* p at '"': the byte after the closing quote. */
static const char *raw_string_end(const char *p, const char *end)
{
	for (p++; p < end; p++) {
		if (*p == '\\')
			p++;
		else if (*p == '"')
			return p + 1;
	}
	return end;
}

static const char *raw_value_end(const char *p, const char *end)
{
	if (p < end && *p == '"')
		return raw_string_end(p, end);
	if (p < end && (*p == '{' || *p == '[')) {
		int depth = 0;
		while (p < end) {
			if (*p == '"') {
				p = raw_string_end(p, end);
				continue;
			}
			if (*p == '{' || *p == '[')
				depth++;
			else if ((*p == '}' || *p == ']') && --depth == 0)
				return p + 1;
			p++;
		}
		return end;
	}
	while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\t' &&
	       *p != '\n' && *p != '\r')
		p++;
	return p;
}

/* Does the raw key span (with its quotes) spell key? */
static int raw_key_is(const char *ks, size_t klen, const char *key)
{
	if (!memchr(ks, '\\', klen))
		return klen == strlen(key) + 2 && !memcmp(ks + 1, key, klen - 2);
	json_t *k = json_loadb(ks, klen, JSON_DECODE_ANY, NULL);
	int same = json_is_string(k) && !strcmp(json_string_value(k), key);
	json_decref(k);
	return same;
}

/* Follow the JSON Pointer ptr ("/a/0/b", or "") inside the raw value
 * [*vs, *vs + *vlen). On success, narrow the span to the value it names. */
static int raw_pointer(const char **vs, size_t *vlen, const char *ptr)
{
	const char *p = *vs, *end = *vs + *vlen;
	char tok[256];

	p = raw_ws(p, end);
	while (*ptr == '/') {
		size_t n = 0;
		ptr++;
		while (*ptr && *ptr != '/') {
			char ch = *ptr++;
			if (ch == '~')
				ch = *ptr++ == '1' ? '/' : '~';
			if (n + 1 < sizeof tok)
				tok[n++] = ch;
		}
		tok[n] = '\0';
		if (p >= end || (*p != '{' && *p != '['))
			return 0;
		int object = *p == '{';
		char *e;
		unsigned long want = object ? 0 : strtoul(tok, &e, 10);
		if (!object && (!*tok || *e || (tok[0] == '0' && tok[1])))
			return 0;
		p = raw_ws(p + 1, end);
		for (unsigned long idx = 0;; idx++) {
			if (p >= end || *p == '}' || *p == ']')
				return 0;
			int match;
			if (object) {
				const char *ks = p;
				p = raw_string_end(p, end);
				match = raw_key_is(ks, (size_t)(p - ks), tok);
				p = raw_ws(p, end);
				p = raw_ws(p + 1, end); /* past ':' */
			} else {
				match = idx == want;
			}
			const char *ve = raw_value_end(p, end);
			if (match) {
				end = ve;
				break;
			}
			p = raw_ws(ve, end);
			if (p < end && *p == ',')
				p = raw_ws(p + 1, end);
		}
	}
	while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n' || end[-1] == '\r'))
		end--;
	*vs = p;
	*vlen = (size_t)(end - p);
	return end > p;
}

/* Copy a raw value into c->buf without the whitespace outside strings. */
static int raw_compact(struct sr_rules_ctx *c, const char *p, size_t len)
{
	if (len + 1 > c->bufcap) {
		char *nb = realloc(c->buf, len + 1);
		if (!nb)
			return -1;
		c->buf = nb;
		c->bufcap = len + 1;
	}
	size_t n = 0;
	for (const char *q = p, *end = p + len; q < end;) {
		if (*q == '"') {
			const char *e = raw_string_end(q, end);
			memcpy(c->buf + n, q, (size_t)(e - q));
			n += (size_t)(e - q);
			q = e;
		} else if (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r') {
			q++;
		} else {
			c->buf[n++] = *q++;
		}
	}
	c->buf[n] = '\0';
	c->buflen = n;
	return 0;
}

/* Text of a field: the string, or the compact JSON of another value.
 * Returns 1 with *s and *len set, 0 when missing. */
static int field_text(struct sr_rules_ctx *c, struct sr_record *rec, const char *field,
                      const char **s, size_t *len)
{
	json_t *v;
	const char *rest = "", *raw;
	size_t rawlen;
	char top[256];
	if (field[0] != '/') {
		if ((*s = sr_record_get_str(rec, field, len)) != NULL)
			return 1;
		v = sr_record_get(rec, field);
		snprintf(top, sizeof top, "%s", field);
	} else {
		size_t n = 0;
		const char *p = field + 1;
		while (*p && *p != '/' && n + 1 < sizeof top) {
			char ch = *p++;
			if (ch == '~')
				ch = *p++ == '1' ? '/' : '~';
			top[n++] = ch;
		}
		top[n] = '\0';
		v = sr_record_get(rec, top);
		rest = p;
		if (*p)
			v = pointer_get(v, p);
	}
	if (!v)
		return 0;
	if (json_is_string(v)) {
		*s = json_string_value(v);
		*len = json_string_length(v);
		return 1;
	}
	/* A member name cut to fit top names another member: use jansson then. */
	int cut = field[0] != '/' ? strlen(field) >= sizeof top : (*rest && *rest != '/');
	if (!cut && (raw = sr_record_raw(rec, top, &rawlen)) != NULL &&
	    raw_pointer(&raw, &rawlen, rest)) {
		if (raw_compact(c, raw, rawlen) < 0)
			return 0;
		*s = c->buf;
		*len = c->buflen;
		return 1;
	}
	c->buflen = 0;
	if (sr_json_append(v, &c->buf, &c->buflen, &c->bufcap) < 0)
		return 0;
	*s = c->buf;
	*len = c->buflen;
	return 1;
}

static void detail(struct sr_check *ck, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void detail(struct sr_check *ck, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ck->detail, sizeof ck->detail, fmt, ap);
	va_end(ap);
}

static void check_length(const struct rule *r, const char *s, size_t len, struct sr_check *ck)
{
	size_t chars = sr_rules_codepoints(s, len), tokens = (chars + 3) / 4;
	detail(ck, "%zu characters, about %zu tokens", chars, tokens);
	if (r->min_chars >= 0 && chars < (size_t)r->min_chars)
		ck->pass = 0, detail(ck, "%zu characters, fewer than %ld", chars, r->min_chars);
	else if (r->max_chars >= 0 && chars > (size_t)r->max_chars)
		ck->pass = 0, detail(ck, "%zu characters, more than %ld", chars, r->max_chars);
	else if (r->min_tokens >= 0 && tokens < (size_t)r->min_tokens)
		ck->pass = 0, detail(ck, "about %zu tokens, fewer than %ld", tokens, r->min_tokens);
	else if (r->max_tokens >= 0 && tokens > (size_t)r->max_tokens)
		ck->pass = 0, detail(ck, "about %zu tokens, more than %ld", tokens, r->max_tokens);
}

/* Tags of the record's set: from its guidelines member, else <think>. */
static void record_tags(struct sr_record *rec, const char **open, const char **close)
{
	json_t *tags = json_object_get(sr_record_get(rec, "guidelines"), "tags");
	*open = json_string_value(json_object_get(tags, "open"));
	*close = json_string_value(json_object_get(tags, "close"));
	if (!*open || !*close) {
		*open = "<think>";
		*close = "</think>";
	}
}

static size_t count_occurrences(const char *s, size_t len, const char *needle)
{
	size_t n = 0, m = strlen(needle);
	const char *p = s, *end = s + len;
	while (m && (p = memmem(p, (size_t)(end - p), needle, m)) != NULL) {
		n++;
		p += m;
	}
	return n;
}

static int is_blank(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!isspace((unsigned char)s[i]))
			return 0;
	return 1;
}

/* A record of the refusal-training control (sr-guide --refusal-only): its
 * teacher was asked for an answer with no visible reasoning. */
static int refusal_only(struct sr_record *rec)
{
	const char *v = json_string_value(json_object_get(sr_record_get(rec, "guidelines"), "variant"));
	return v && !strcmp(v, "refusal_only");
}

/* Does the rule read the reasoning, which a refusal-only record lacks? */
static int reads_reasoning(const struct rule *r)
{
	return r->field && (!strcmp(r->field, "reasoning") || !strcmp(r->field, "/reasoning"));
}

/* A refusal-only record is an answer without reasoning: no tags in the
 * completion, no reasoning member with text, and a non-empty answer. */
static void check_answer_only(const struct rule *r, struct sr_record *rec, struct sr_check *ck)
{
	const char *open, *close, *comp, *reasoning, *answer;
	size_t clen = 0, rlen = 0, alen = 0;

	record_tags(rec, &open, &close);
	comp = sr_record_get_str(rec, "completion", &clen);
	reasoning = sr_record_get_str(rec, "reasoning", &rlen);
	answer = sr_record_get_str(rec, "answer", &alen);
	if (comp && (count_occurrences(comp, clen, open) || count_occurrences(comp, clen, close)))
		return ck->pass = 0, detail(ck, "refusal-only record with '%s' or '%s' in the completion; "
		                            "the control must hold no reasoning", open, close);
	if (reasoning && !is_blank(reasoning, rlen))
		return ck->pass = 0, detail(ck, "refusal-only record with a non-empty reasoning; "
		                            "the control must hold no reasoning");
	if (!answer)
		answer = comp, alen = clen;
	if (r->need_answer && (!answer || is_blank(answer, alen)))
		return ck->pass = 0, detail(ck, "the answer is missing or empty");
	detail(ck, "refusal-only: no reasoning, answer %zu bytes", answer ? alen : 0);
}

static void check_structure(const struct rule *r, struct sr_record *rec, struct sr_check *ck)
{
	const char *open, *close, *comp, *reasoning, *answer;
	size_t clen, rlen = 0, alen = 0;

	if (refusal_only(rec))
		return check_answer_only(r, rec, ck);
	record_tags(rec, &open, &close);
	comp = sr_record_get_str(rec, "completion", &clen);
	reasoning = sr_record_get_str(rec, "reasoning", &rlen);
	answer = sr_record_get_str(rec, "answer", &alen);
	if (comp) {
		const char *rs, *as;
		size_t rl, al;
		int flags = sr_split_completion(comp, clen, open, close, &rs, &rl, &as, &al);
		if (flags & SR_SPLIT_NO_CLOSE)
			return ck->pass = 0, detail(ck, "no '%s' after '%s' in the completion", close, open);
		if (flags & SR_SPLIT_NO_OPEN && r->need_reasoning)
			return ck->pass = 0, detail(ck, "no '%s' before '%s' in the completion", open, close);
		if (flags & SR_SPLIT_EXTRA_TAGS)
			return ck->pass = 0, detail(ck, "the completion has more than one '%s' or '%s'", open, close);
		if (flags & SR_SPLIT_TEXT_BEFORE)
			return ck->pass = 0, detail(ck, "text before '%s' in the completion", open);
		if (!reasoning)
			reasoning = rs, rlen = rl;
		if (!answer)
			answer = as, alen = al;
		if ((flags & SR_SPLIT_NO_OPEN) && !(flags & SR_SPLIT_NO_CLOSE) && !r->need_reasoning) {
			reasoning = NULL;
			rlen = 0;
		}
	}
	if (r->need_reasoning && (!reasoning || is_blank(reasoning, rlen)))
		return ck->pass = 0, detail(ck, "the reasoning is missing or empty");
	if (r->need_answer && (!answer || is_blank(answer, alen)))
		return ck->pass = 0, detail(ck, "the answer is missing or empty");
	if (answer && (count_occurrences(answer, alen, open) || count_occurrences(answer, alen, close)))
		return ck->pass = 0, detail(ck, "the answer contains a reasoning tag");
	if (r->answer_open && answer) {
		size_t no = count_occurrences(answer, alen, r->answer_open);
		size_t nc = count_occurrences(answer, alen, r->answer_close);
		if (no != 1 || nc != 1)
			return ck->pass = 0, detail(ck, "the answer has %zu '%s' and %zu '%s' tags, expected one each",
			                            no, r->answer_open, nc, r->answer_close);
		const char *o = memmem(answer, alen, r->answer_open, strlen(r->answer_open));
		const char *cl = memmem(answer, alen, r->answer_close, strlen(r->answer_close));
		if (cl < o)
			return ck->pass = 0, detail(ck, "'%s' comes before '%s'", r->answer_close, r->answer_open);
		const char *after = cl + strlen(r->answer_close);
		if (!is_blank(after, (size_t)(answer + alen - after)))
			return ck->pass = 0, detail(ck, "text after '%s'", r->answer_close);
	}
	detail(ck, "reasoning %zu bytes, answer %zu bytes", rlen, alen);
}

static struct coverage_set *coverage_for(struct sr_rules_ctx *c, const struct sr_guideset *gs,
                                         struct sr_error *err)
{
	struct coverage_set *cs;
	char msg[300];
	for (cs = c->coverage; cs; cs = cs->next)
		if (cs->set == gs)
			return cs;
	if (!(cs = calloc(1, sizeof *cs)) || !(cs->re = calloc(gs->n + 1, sizeof *cs->re))) {
		free(cs);
		sr_fail(err, SR_ENOMEM, "out of memory");
		return NULL;
	}
	cs->set = gs;
	cs->next = c->coverage;
	c->coverage = cs; /* linked first so that sr_rules_ctx_free releases it on failure */
	for (size_t g = 0; g < gs->n; g++) {
		size_t np = json_array_size(gs->g[g].coverage), k;
		json_t *pat;
		if (!(cs->re[g] = calloc(np + 1, sizeof **cs->re))) {
			sr_fail(err, SR_ENOMEM, "out of memory");
			return NULL;
		}
		json_array_foreach(gs->g[g].coverage, k, pat) {
			if (compile_pattern(json_string_value(pat), &cs->re[g][k], msg, sizeof msg) < 0) {
				sr_fail(err, SR_EDATA, "guideline set '%s', guideline '%s', coverage pattern %zu: %s",
				        gs->path, gs->g[g].id, k + 1, msg);
				return NULL;
			}
		}
	}
	return cs;
}

static int add_coverage_hit(struct sr_rules_result *res, const char *id, int covered)
{
	if (res->ncoverage == res->capcoverage) {
		size_t ncap = res->capcoverage ? res->capcoverage * 2 : 16;
		struct sr_coverage_hit *n = realloc(res->coverage, ncap * sizeof *n);
		if (!n)
			return SR_ENOMEM;
		res->coverage = n;
		res->capcoverage = ncap;
	}
	res->coverage[res->ncoverage].id = id;
	res->coverage[res->ncoverage].covered = covered;
	res->ncoverage++;
	return 0;
}

/* Returns <0 on a record error; sets *share to the covered share. */
static int check_coverage(struct sr_rules_ctx *c, const struct rule *r, struct sr_record *rec,
                          struct sr_check *ck, struct sr_rules_result *res, double *share,
                          struct sr_error *err)
{
	json_t *gl = sr_record_get(rec, "guidelines");
	const struct sr_guideset *gs;
	const char *reasoning;
	size_t rlen;
	int rc;

	*share = -1;
	if (!gl) {
		ck->applies = 0;
		detail(ck, "record has no guidelines");
		return 0;
	}
	if ((rc = sr_guideset_cache_get(c->sets, gl, &gs, err)) < 0)
		return rc;
	struct coverage_set *cs = coverage_for(c, gs, err);
	if (!cs)
		return err ? err->code : SR_EDATA;
	reasoning = sr_record_get_str(rec, "reasoning", &rlen);
	if (!reasoning)
		reasoning = "", rlen = 0;
	json_t *ids = json_object_get(gl, "ids"), *idv;
	size_t k, total = 0, covered = 0;
	char missing[200] = "";
	if (ids && !json_is_array(ids)) {
		if (err)
			snprintf(err->field, sizeof err->field, "guidelines/ids");
		return sr_fail(err, SR_EDATA, "not an array of guideline ids");
	}
	json_array_foreach(ids, k, idv) {
		const char *id = json_string_value(idv);
		const struct sr_guideline *g = id ? sr_guideset_find(gs, id) : NULL;
		if (!g) {
			if (err)
				snprintf(err->field, sizeof err->field, "guidelines/ids/%zu", k);
			return sr_fail(err, SR_EDATA, "guideline id '%s' is not in set '%s' version '%s'",
			               id ? id : "(not a string)", gs->name, gs->version);
		}
		pcre2_code **re = cs->re[g - gs->g];
		int hit = !re || !*re; /* a guideline without patterns cannot be checked */
		for (; re && *re && !hit; re++) {
			int m = re_match(c, *re, reasoning, rlen);
			if (m < 0)
				return sr_fail(err, SR_EDATA, "coverage pattern of '%s' failed to match (limit exceeded)", id);
			hit = m;
		}
		total++;
		covered += hit;
		if (!hit && strlen(missing) + strlen(id) + 3 < sizeof missing)
			snprintf(missing + strlen(missing), sizeof missing - strlen(missing), "%s%s",
			         *missing ? ", " : "", id);
		if (add_coverage_hit(res, g->id, hit) < 0)
			return sr_fail(err, SR_ENOMEM, "out of memory");
	}
	*share = total ? (double)covered / total : 1.0;
	if (*share + 1e-9 < r->min_ratio) {
		ck->pass = 0;
		detail(ck, "%zu of %zu guidelines covered; missing: %s", covered, total, missing);
	} else {
		detail(ck, "%zu of %zu guidelines covered", covered, total);
	}
	return 0;
}

static const char *const ENGLISH_WORDS[] = {
	"the", "a", "an", "and", "or", "but", "of", "to", "in", "on", "for", "with", "is", "are",
	"was", "were", "be", "it", "this", "that", "i", "you", "he", "she", "we", "they", "not",
	"can", "will", "would", "as", "at", "by", "from", "have", "has", "if", "so", "what",
	"how", "my", "your", "do", "no", "there", "their", "about", "which", "all", NULL
};

static void check_script(const struct rule *r, const char *s, size_t len, struct sr_check *ck)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	size_t letters = 0, allowed = 0;
	while (p < end) {
		unsigned sc = script_of(utf8_next(&p, end));
		if (sc) {
			letters++;
			allowed += (sc & r->scripts) != 0;
		}
	}
	if (letters < r->min_letters) {
		detail(ck, "%zu letters, too few to judge", letters);
		return;
	}
	double ratio = (double)allowed / letters;
	if (ratio < r->min_script_ratio) {
		ck->pass = 0;
		detail(ck, "%.0f%% of letters in the allowed scripts, below %.0f%%", 100 * ratio,
		       100 * r->min_script_ratio);
		return;
	}
	if (r->english) {
		size_t words = 0, common = 0, i = 0;
		while (i < len) {
			while (i < len && !isalpha((unsigned char)s[i]))
				i++;
			char w[16];
			size_t n = 0, start = i;
			while (i < len && (isalpha((unsigned char)s[i]) || (unsigned char)s[i] >= 0x80)) {
				if (n + 1 < sizeof w)
					w[n++] = (char)tolower((unsigned char)s[i]);
				i++;
			}
			if (i == start)
				continue;
			w[n] = '\0';
			words++;
			for (const char *const *e = ENGLISH_WORDS; *e; e++)
				if (!strcmp(*e, w)) {
					common++;
					break;
				}
		}
		double er = words ? (double)common / words : 0;
		if (words >= 10 && er < r->min_english_ratio) {
			ck->pass = 0;
			detail(ck, "%.0f%% English function words, below %.0f%%", 100 * er,
			       100 * r->min_english_ratio);
			return;
		}
	}
	detail(ck, "%.0f%% of letters in the allowed scripts", 100 * ratio);
}

static void check_repetition(const struct rule *r, const char *s, size_t len, struct sr_check *ck,
                             double *ngram_share)
{
	size_t ngrams;
	double lines = sr_rules_line_repeat(s, len);
	double grams = sr_rules_ngram_repeat(s, len, r->ngram, &ngrams);
	*ngram_share = grams;
	if (ngrams + (size_t)r->ngram - 1 < r->min_words) {
		detail(ck, "too few words to judge");
		*ngram_share = 0;
		return;
	}
	if (lines > r->max_line_repeat) {
		ck->pass = 0;
		detail(ck, "%.0f%% of lines repeat an earlier line, above %.0f%%", 100 * lines,
		       100 * r->max_line_repeat);
	} else if (grams > r->max_ngram_repeat) {
		ck->pass = 0;
		detail(ck, "%.0f%% of word %d-grams are repeats, above %.0f%%", 100 * grams, r->ngram,
		       100 * r->max_ngram_repeat);
	} else {
		detail(ck, "%.0f%% repeated lines, %.0f%% repeated %d-grams", 100 * lines, 100 * grams,
		       r->ngram);
	}
}

static void check_label(struct sr_rules_ctx *c, const struct rule *r, struct sr_record *rec,
                        struct sr_check *ck, struct sr_rules_result *res, double *confidence)
{
	const char *label = sr_record_get_str(rec, "label", NULL);
	const char *answer, *query;
	size_t alen, qlen = 0;
	*confidence = -1;
	if (!label) {
		ck->applies = 0;
		detail(ck, "record has no label");
		return;
	}
	answer = sr_record_get_str(rec, "answer", &alen);
	if (!answer)
		answer = sr_record_get_str(rec, "response", &alen);
	if (!answer) {
		ck->pass = 0;
		detail(ck, "no answer to judge");
		return;
	}
	query = sr_record_get_str(rec, "query", &qlen);
	if (!res->judged) {
		sr_judge_classify(c->judge, query, qlen, answer, alen, &res->judge);
		res->judged = 1;
	}
	const struct sr_judge_result *j = &res->judge;
	int harmful = !strcmp(label, "harmful");
	int ok = harmful ? (j->verdict == SR_JUDGE_REFUSAL ||
	                    (r->allow_partial_harmful && j->verdict == SR_JUDGE_PARTIAL))
	                 : j->verdict == SR_JUDGE_COMPLIANCE;
	*confidence = ok ? j->confidence : 1 - j->confidence;
	if (!ok) {
		ck->pass = 0;
		detail(ck, "%s record, but the judge finds %s (%s)", label,
		       sr_judge_class_name(j->verdict), j->reason);
	} else if (j->confidence < r->min_confidence) {
		ck->pass = 0;
		detail(ck, "judge confidence %.2f below %.2f", j->confidence, r->min_confidence);
	} else {
		detail(ck, "%s record, judge finds %s", label, sr_judge_class_name(j->verdict));
	}
}

static void check_finish_reason(const struct rule *r, const char *s, size_t len, struct sr_check *ck)
{
	size_t k;
	json_t *v;
	int forbidden = 0;
	if (r->forbidden_reasons) {
		json_array_foreach(r->forbidden_reasons, k, v)
			if (json_string_length(v) == len && !memcmp(json_string_value(v), s, len))
				forbidden = 1;
	} else {
		forbidden = len == 6 && !memcmp(s, "length", 6);
	}
	if (forbidden) {
		ck->pass = 0;
		detail(ck, "the teacher stopped with finish reason '%.*s'", (int)len, s);
	} else {
		detail(ck, "finish reason '%.*s'", (int)len, s);
	}
}

static int label_applies(const struct rule *r, struct sr_record *rec)
{
	if (!r->labels)
		return 1;
	const char *label = sr_record_get_str(rec, "label", NULL);
	if (!label)
		return 0;
	return (!strcmp(label, "harmful") && (r->labels & 1)) ||
	       (!strcmp(label, "benign") && (r->labels & 2));
}

int sr_rules_eval(struct sr_rules_ctx *c, struct sr_record *rec, struct sr_rules_result *res,
                  struct sr_error *err)
{
	const struct sr_rules *rules = c->rules;
	double coverage = -1, confidence = -1, repeat = -1;
	int rc;

	free(res->checks);
	res->checks = calloc(rules->n ? rules->n : 1, sizeof *res->checks);
	res->n = rules->n;
	res->failed = 0;
	res->judged = 0;
	res->ncoverage = 0;
	if (!res->checks)
		return sr_fail(err, SR_ENOMEM, "out of memory");
	for (size_t i = 0; i < rules->n; i++) {
		const struct rule *r = &rules->r[i];
		struct sr_check *ck = &res->checks[i];
		const char *s = NULL;
		size_t len = 0;
		ck->applies = 1;
		ck->pass = 1;
		if (!label_applies(r, rec)) {
			ck->applies = 0;
			detail(ck, "not applied to this label");
			continue;
		}
		if ((r->kind == SR_RULE_COVERAGE || reads_reasoning(r)) && refusal_only(rec)) {
			ck->applies = 0;
			detail(ck, "not applied to a refusal-only record, which has no reasoning");
			continue;
		}
		if (r->field && r->kind != SR_RULE_STRUCTURE && r->kind != SR_RULE_COVERAGE &&
		    r->kind != SR_RULE_LABEL && r->kind != SR_RULE_LLM &&
		    !field_text(c, rec, r->field, &s, &len)) {
			if (r->missing_fails) {
				ck->pass = 0;
				detail(ck, "field '%s' is missing", r->field);
			} else {
				ck->applies = 0;
				detail(ck, "field '%s' is missing", r->field);
			}
			res->failed += !ck->pass;
			continue;
		}
		switch (r->kind) {
		case SR_RULE_STRUCTURE:
			check_structure(r, rec, ck);
			break;
		case SR_RULE_LENGTH:
			check_length(r, s, len, ck);
			break;
		case SR_RULE_REQUIRE:
		case SR_RULE_FORBID: {
			int m = re_match(c, r->re, s, len);
			if (m < 0) {
				ck->pass = 0;
				detail(ck, "pattern failed to match (match limit exceeded)");
			} else if (r->kind == SR_RULE_REQUIRE && !m) {
				ck->pass = 0;
				detail(ck, "'%s' does not match the required pattern", r->field);
			} else if (r->kind == SR_RULE_FORBID && m) {
				PCRE2_SIZE *ov = pcre2_get_ovector_pointer(c->md);
				size_t ml = ov[1] - ov[0] > 60 ? 60 : ov[1] - ov[0];
				while (ml > 0 && ov[0] + ml < len && ((unsigned char)s[ov[0] + ml] & 0xC0) == 0x80)
					ml--;
				ck->pass = 0;
				detail(ck, "'%s' matches the forbidden pattern at byte %zu: '%.*s'", r->field,
				       (size_t)ov[0], (int)ml, s + ov[0]);
			}
			break;
		}
		case SR_RULE_COVERAGE:
			if ((rc = check_coverage(c, r, rec, ck, res, &coverage, err)) < 0)
				return rc;
			break;
		case SR_RULE_LABEL:
			check_label(c, r, rec, ck, res, &confidence);
			break;
		case SR_RULE_SCRIPT:
			check_script(r, s, len, ck);
			break;
		case SR_RULE_REPETITION:
			check_repetition(r, s, len, ck, &repeat);
			break;
		case SR_RULE_FINISH_REASON:
			check_finish_reason(r, s, len, ck);
			break;
		case SR_RULE_LLM:
			ck->applies = 0;
			ck->pass = 1;
			detail(ck, "not evaluated");
			break;
		}
		res->failed += ck->applies && !ck->pass;
	}
	res->score = (coverage >= 0 ? coverage : 0) + (confidence >= 0 ? confidence : 0) -
	             (repeat >= 0 ? repeat : 0);
	return 0;
}

json_t *sr_rules_checks_json(const struct sr_rules *rules, const struct sr_rules_result *res)
{
	json_t *o = json_object();
	if (!o)
		return NULL;
	for (size_t i = 0; i < res->n; i++) {
		const struct sr_check *ck = &res->checks[i];
		json_t *c = json_object();
		if (!c)
			goto fail;
		json_object_set_new(c, "pass", json_boolean(ck->pass));
		if (!ck->applies)
			json_object_set_new(c, "applied", json_false());
		json_object_set_new(c, "detail", json_string(ck->detail));
		if (rules->r[i].kind == SR_RULE_LABEL && res->judged)
			json_object_set_new(c, "judge", sr_judge_result_json(&res->judge));
		if (json_object_set_new(o, rules->r[i].name, c) < 0)
			goto fail;
	}
	return o;
fail:
	json_decref(o);
	return NULL;
}

json_t *sr_rules_failed_json(const struct sr_rules *rules, const struct sr_rules_result *res)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < res->n; i++)
		if (res->checks[i].applies && !res->checks[i].pass)
			json_array_append_new(a, json_string(rules->r[i].name));
	return a;
}
