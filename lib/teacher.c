/*
 * teacher.c - the built-in rule-based teacher (see teacher.h).
 *
 * Decoding is heuristic: a candidate decoding is accepted when the result
 * is valid, printable UTF-8 and, for the letter-level transforms (rot13,
 * reversal, leetspeak), reads as clearly more English than the original,
 * judged by a short list of common English words.
 */
#define _GNU_SOURCE
#define PCRE2_CODE_UNIT_WIDTH 8
#include <ctype.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guideset.h"
#include "teacher.h"
#include "util.h"

/* Maximum query length analysed, in bytes. The detectors ignore the rest. */
#define QUERY_MAX ((size_t)64 << 10)

struct pattern {
	const char *name;
	pcre2_code *re;
};

/* Compiled `detect` patterns of one set. */
struct compiled {
	const struct sr_guideset *gs;
	struct pattern *framing, *tense, *purpose, *obfuscation;
	size_t nframing, ntense, npurpose, nobfuscation;
};

struct sr_teacher {
	struct sr_guideset_cache *sets;
	struct compiled *compiled;
	size_t ncompiled;
	pcre2_match_data *md;
};

static const char *common_words[] = {
	"the", "and", "to", "how", "a", "of", "for", "is", "in", "you", "make", "i", "what",
	"with", "can", "write", "me", "do", "it", "on", "an", "that", "this", "my", "give",
	"tell", "explain", "are", "be", "or", "from", "about", "create", "someone", "people",
	"step", "instructions", "guide", "get", "use", "without", "your", "describe", "why",
	"should", "would", "could", "at", "by", "steal", "build", "kill", "hack",
};

int sr_teacher_new(const char *guidelines_path, struct sr_teacher **out, struct sr_error *err)
{
	struct sr_teacher *t = calloc(1, sizeof *t);

	*out = NULL;
	if (!t)
		return sr_fail(err, SR_ENOMEM, "out of memory");
	t->sets = sr_guideset_cache_new(guidelines_path);
	t->md = pcre2_match_data_create(8, NULL);
	if (!t->sets || !t->md) {
		sr_teacher_free(t);
		return sr_fail(err, SR_ENOMEM, "out of memory");
	}
	*out = t;
	return 0;
}

static void free_patterns(struct pattern *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		pcre2_code_free(p[i].re);
	free(p);
}

void sr_teacher_free(struct sr_teacher *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->ncompiled; i++) {
		struct compiled *c = &t->compiled[i];
		free_patterns(c->framing, c->nframing);
		free_patterns(c->tense, c->ntense);
		free_patterns(c->purpose, c->npurpose);
		free_patterns(c->obfuscation, c->nobfuscation);
	}
	free(t->compiled);
	pcre2_match_data_free(t->md);
	sr_guideset_cache_free(t->sets);
	free(t);
}

void sr_teacher_findings_release(struct sr_teacher_findings *f)
{
	free(f->decoded);
	memset(f, 0, sizeof *f);
}

/* ---- patterns ---- */

static int compile_list(const struct sr_guideset *gs, const char *key, struct pattern **out,
                        size_t *n, struct sr_error *err)
{
	json_t *list = json_object_get(json_object_get(gs->doc, "detect"), key);
	size_t count = json_array_size(list), i;
	json_t *entry;

	*out = NULL;
	*n = 0;
	if (count == 0)
		return 0;
	if (!(*out = calloc(count, sizeof **out)))
		return sr_fail(err, SR_ENOMEM, "out of memory");
	json_array_foreach(list, i, entry) {
		const char *name = json_string_value(json_object_get(entry, "name"));
		const char *pat = json_string_value(json_object_get(entry, "pattern"));
		int ecode;
		PCRE2_SIZE eoff;
		if (!name || !pat)
			continue;
		pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED,
		                               PCRE2_UTF | PCRE2_UCP, &ecode, &eoff, NULL);
		if (!re) {
			PCRE2_UCHAR msg[256];
			pcre2_get_error_message(ecode, msg, sizeof msg);
			return sr_fail(err, SR_EDATA, "%s: detect/%s pattern '%s' is invalid at offset %zu: %s",
			               gs->path, key, name, (size_t)eoff, (char *)msg);
		}
		(*out)[*n].name = name;
		(*out)[*n].re = re;
		(*n)++;
	}
	return 0;
}

static int get_compiled(struct sr_teacher *t, const struct sr_guideset *gs, struct compiled **out,
                        struct sr_error *err)
{
	int rc;

	for (size_t i = 0; i < t->ncompiled; i++) {
		if (t->compiled[i].gs == gs) {
			*out = &t->compiled[i];
			return 0;
		}
	}
	struct compiled *grown = realloc(t->compiled, (t->ncompiled + 1) * sizeof *grown);
	if (!grown)
		return sr_fail(err, SR_ENOMEM, "out of memory");
	t->compiled = grown;
	struct compiled *c = &t->compiled[t->ncompiled++];
	memset(c, 0, sizeof *c);
	c->gs = gs;
	if ((rc = compile_list(gs, "framing", &c->framing, &c->nframing, err)) < 0 ||
	    (rc = compile_list(gs, "tense", &c->tense, &c->ntense, err)) < 0 ||
	    (rc = compile_list(gs, "purpose", &c->purpose, &c->npurpose, err)) < 0 ||
	    (rc = compile_list(gs, "obfuscation", &c->obfuscation, &c->nobfuscation, err)) < 0)
		return rc;
	*out = c;
	return 0;
}

static int matches(struct sr_teacher *t, pcre2_code *re, const char *s)
{
	return pcre2_match(re, (PCRE2_SPTR)s, strlen(s), 0, 0, t->md, NULL) >= 0;
}

/* Append the names of the patterns that match s, comma-separated. */
static void match_names(struct sr_teacher *t, const struct pattern *p, size_t n, const char *s,
                        char *out, size_t cap, int first_only)
{
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (!matches(t, p[i].re, s))
			continue;
		size_t len = strlen(out);
		snprintf(out + len, cap - len, "%s%s", len ? ", " : "", p[i].name);
		if (first_only)
			return;
	}
}

/* ---- decoders ---- */

static int english_score(const char *s)
{
	int score = 0;
	const char *p = s;

	while (*p) {
		while (*p && !isalpha((unsigned char)*p))
			p++;
		const char *w = p;
		while (*p && isalpha((unsigned char)*p))
			p++;
		size_t len = (size_t)(p - w);
		if (len == 0)
			continue;
		for (size_t i = 0; i < sizeof common_words / sizeof *common_words; i++) {
			if (strlen(common_words[i]) == len && strncasecmp(w, common_words[i], len) == 0) {
				score++;
				break;
			}
		}
	}
	return score;
}

/* Text counts as a decoding when it is valid UTF-8, mostly printable and
 * has at least one letter-run of three. */
static int plausible_text(const char *s, size_t len)
{
	size_t printable = 0, run = 0, best = 0;

	if (len < 3 || sr_utf8_valid_prefix(s, len) != len)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 || c == '\n' || c == '\t')
			printable++;
		run = isalpha(c) ? run + 1 : 0;
		if (run > best)
			best = run;
	}
	return printable * 10 >= len * 9 && best >= 3;
}

static int b64_value(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

/* Decode the longest base64 run of at least 16 characters in s. */
static char *decode_base64(const char *s)
{
	const char *best = NULL;
	size_t best_len = 0;

	for (const char *p = s; *p;) {
		const char *start = p;
		while (*p && b64_value((unsigned char)*p) >= 0)
			p++;
		size_t len = (size_t)(p - start);
		while (*p == '=')
			p++;
		if (len > best_len) {
			best = start;
			best_len = len;
		}
		if (p == start)
			p++;
	}
	if (best_len < 16)
		return NULL;
	char *out = malloc(best_len * 3 / 4 + 4);
	size_t n = 0;
	uint32_t acc = 0;
	int bits = 0;
	if (!out)
		return NULL;
	for (size_t i = 0; i < best_len; i++) {
		acc = acc << 6 | (uint32_t)b64_value((unsigned char)best[i]);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (char)(acc >> bits & 0xff);
		}
	}
	out[n] = '\0';
	if (strlen(out) != n || !plausible_text(out, n)) {
		free(out);
		return NULL;
	}
	return out;
}

static int hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decode the longest run of hex byte pairs (optionally "\x"-prefixed or
 * separated by spaces or colons) of at least 8 bytes. */
static char *decode_hex(const char *s)
{
	char *best = NULL;
	size_t best_n = 0;
	size_t slen = strlen(s);
	char *cur = malloc(slen / 2 + 2);

	if (!cur)
		return NULL;
	for (size_t i = 0; i < slen;) {
		size_t n = 0, j = i;
		for (;;) {
			if (s[j] == '\\' && s[j + 1] == 'x')
				j += 2;
			int hi = hex_value((unsigned char)s[j]);
			int lo = hi >= 0 ? hex_value((unsigned char)s[j + 1]) : -1;
			if (hi < 0 || lo < 0)
				break;
			cur[n++] = (char)(hi << 4 | lo);
			j += 2;
			if ((s[j] == ' ' || s[j] == ':') && hex_value((unsigned char)s[j + 1]) >= 0)
				j++;
		}
		if (n > best_n && n >= 8) {
			free(best);
			best = malloc(n + 1);
			if (best) {
				memcpy(best, cur, n);
				best[n] = '\0';
				best_n = n;
			}
		}
		i = j > i ? j : i + 1;
	}
	free(cur);
	if (best && (strlen(best) != best_n || !plausible_text(best, best_n))) {
		free(best);
		return NULL;
	}
	return best;
}

static char *rot13(const char *s)
{
	char *out = strdup(s);
	for (char *p = out; p && *p; p++) {
		if (*p >= 'a' && *p <= 'z')
			*p = (char)('a' + (*p - 'a' + 13) % 26);
		else if (*p >= 'A' && *p <= 'Z')
			*p = (char)('A' + (*p - 'A' + 13) % 26);
	}
	return out;
}

/* Reverse by code points, so multi-byte characters stay intact. */
static char *reverse_chars(const char *s)
{
	size_t len = strlen(s);
	char *out = malloc(len + 1);
	size_t i = 0;

	if (!out)
		return NULL;
	while (i < len) {
		size_t clen = 1;
		while (i + clen < len && ((unsigned char)s[i + clen] & 0xC0) == 0x80)
			clen++;
		memcpy(out + len - i - clen, s + i, clen);
		i += clen;
	}
	out[len] = '\0';
	return out;
}

static char *reverse_words(const char *s)
{
	struct sr_buf b = {0};
	const char *end = s + strlen(s);

	while (end > s) {
		while (end > s && isspace((unsigned char)end[-1]))
			end--;
		const char *w = end;
		while (w > s && !isspace((unsigned char)w[-1]))
			w--;
		if (w == end)
			break;
		if (b.len)
			sr_buf_puts(&b, " ");
		sr_buf_append(&b, w, (size_t)(end - w));
		end = w;
	}
	return b.data ? b.data : strdup("");
}

static const char leet_from[] = "0134578@$";
static const char leet_to[] = "oieastbas";

/* Map leetspeak back to letters, token by token: a token made only of
 * letters, leet digits and punctuation is mapped whole ("4" -> "a",
 * "5cr1p7" -> "script"); a token with other digits, such as "2024", is
 * left alone. */
static char *unleet(const char *s)
{
	char *out = strdup(s);
	char *p = out;

	while (p && *p) {
		char *start = p;
		int ok = 1;
		while (*p && !isspace((unsigned char)*p)) {
			if (isdigit((unsigned char)*p) && !strchr(leet_from, *p))
				ok = 0;
			p++;
		}
		for (char *q = start; ok && q < p; q++) {
			const char *hit = strchr(leet_from, *q);
			if (hit && *hit)
				*q = leet_to[hit - leet_from];
		}
		while (*p && isspace((unsigned char)*p))
			p++;
	}
	return out;
}

/* Whether text looks like leetspeak: at least two words, and a third of
 * all words, mix letters with the digits leetspeak uses. */
static int looks_leet(const char *text)
{
	int words = 0, mixed = 0;
	const char *p = text;

	while (*p) {
		int letters = 0, leet = 0;
		while (*p && isspace((unsigned char)*p))
			p++;
		if (!*p)
			break;
		while (*p && !isspace((unsigned char)*p)) {
			letters += isalpha((unsigned char)*p) != 0;
			leet += isdigit((unsigned char)*p) && strchr(leet_from, *p);
			p++;
		}
		words++;
		mixed += letters > 0 && leet > 0;
	}
	return mixed >= 2 && mixed * 3 >= words;
}

static void trim_copy(char **s)
{
	char *p = *s, *end;
	if (!p)
		return;
	while (isspace((unsigned char)*p))
		p++;
	end = p + strlen(p);
	while (end > p && isspace((unsigned char)end[-1]))
		end--;
	memmove(*s, p, (size_t)(end - p));
	(*s)[end - p] = '\0';
}

/* Words that start an instruction: a reversed-order query ends with one. */
static int is_starter(const char *w, size_t len)
{
	static const char *starters[] = {
		"how", "what", "tell", "write", "explain", "give", "describe", "create", "can",
		"provide", "show", "list", "develop", "design", "teach", "help", "why", "where",
		"generate", "outline", "produce", "compose", "draft", "suggest", "instruct",
		"publish", "post", "offer", "conduct", "build", "make", "find", "convince",
		"persuade", "argue", "share", "send", "use", "identify", "determine", "detail",
		"brainstorm", "compile", "summarize", "recommend", "do", "is", "are", "should",
		"would", "could", "please", "imagine", "act", "plan", "prepare", "implement",
		"code", "program", "manipulate", "encourage", "promote", "give", "which", "who",
		"when", "draw", "sketch", "modify", "convert", "slightly", "add", "choose",
		"figure", "devise", "formulate", "intercept", "obtain", "steal", "hack", "get",
	};
	for (size_t i = 0; i < sizeof starters / sizeof *starters; i++)
		if (strlen(starters[i]) == len && strncasecmp(w, starters[i], len) == 0)
			return 1;
	return 0;
}

/* A segment of the query: split at ':' and newlines, so that an
 * instruction such as "Decode this:" is kept apart from the payload. */
struct segment {
	const char *p;
	size_t len;
};

static size_t split_segments(const char *s, struct segment *seg, size_t max)
{
	size_t n = 0;
	const char *start = s;

	for (const char *p = s;; p++) {
		if (*p == ':' || *p == '\n' || *p == '\0') {
			if (p > start && n < max) {
				seg[n].p = start;
				seg[n].len = (size_t)(p - start);
				n++;
			}
			start = p + 1;
			if (!*p)
				break;
		}
	}
	return n;
}

/* Decode the segment that looks like leetspeak (an instruction line and
 * a payload are separate segments). The mapping keeps word shapes, so the
 * bar is lower than for other transforms: the result must read as more
 * English than the segment did. With hinted set (the set's obfuscation
 * patterns named leetspeak), the other segments are tried after those. */
static char *try_leet(const char *query, int hinted)
{
	struct segment seg[32];
	size_t n = split_segments(query, seg, 32);

	/* First the segments that look like leetspeak, then (when hinted) the rest. */
	for (size_t k = 0; k < 2 * n; k++) {
		size_t i = k % n;
		int first_pass = k < n;
		char *part = strndup(seg[i].p, seg[i].len);
		char *dec = NULL;
		if (!first_pass && !hinted)
			break;
		if (part && (first_pass ? looks_leet(part) : !looks_leet(part)) && (dec = unleet(part)) &&
		    english_score(dec) >= 2 && english_score(dec) > english_score(part) &&
		    strcmp(dec, part) != 0) {
			free(part);
			trim_copy(&dec);
			return dec;
		}
		free(dec);
		free(part);
	}
	return NULL;
}

typedef char *(*transform_fn)(const char *);

/* Try a letter-level transform on each segment; keep the best decoding
 * that reads as clearly more English than the segment itself. */
static char *try_transform(const char *query, transform_fn fn)
{
	struct segment seg[32];
	size_t n = split_segments(query, seg, 32);
	char *best = NULL;
	int best_gain = 0;

	for (size_t i = 0; i < n; i++) {
		char *orig = strndup(seg[i].p, seg[i].len);
		char *dec = orig ? fn(orig) : NULL;
		if (dec) {
			int before = english_score(orig), after = english_score(dec);
			if (after >= 3 && after >= 2 * before + 2 && after - before > best_gain &&
			    strcmp(orig, dec) != 0) {
				free(best);
				best = dec;
				dec = NULL;
				best_gain = after - before;
			}
		}
		free(dec);
		free(orig);
	}
	trim_copy(&best);
	return best;
}

/* Reversed word order keeps the words English, so look for a segment that
 * ends with an instruction word and does not start with one. */
static char *try_reversed_words(const char *query, int hinted)
{
	struct segment seg[32];
	size_t n = split_segments(query, seg, 32);

	for (size_t i = 0; i < n; i++) {
		char *orig = strndup(seg[i].p, seg[i].len);
		if (!orig)
			return NULL;
		trim_copy(&orig);
		const char *end = orig + strlen(orig);
		while (end > orig && ispunct((unsigned char)end[-1]))
			end--;
		const char *last = end;
		while (last > orig && isalpha((unsigned char)last[-1]))
			last--;
		const char *first = orig;
		while (*first && !isalpha((unsigned char)*first))
			first++;
		size_t flen = 0;
		while (isalpha((unsigned char)first[flen]))
			flen++;
		int words = 0;
		for (const char *p = orig; *p; p++)
			if (!isspace((unsigned char)*p) && (p == orig || isspace((unsigned char)p[-1])))
				words++;
		if (words >= 4 && end > last && is_starter(last, (size_t)(end - last)) &&
		    !is_starter(first, flen) && (hinted || isupper((unsigned char)*last))) {
			char *dec = reverse_words(orig);
			free(orig);
			return dec;
		}
		free(orig);
	}
	return NULL;
}

/* ---- analysis ---- */

static int word_start(const char *hay, const char *at)
{
	return at == hay || !isalnum((unsigned char)at[-1]);
}

/* Find a lexicon keyword in text at a word start, case-insensitively. */
static int has_keyword(const char *text, const char *kw)
{
	size_t kl = strlen(kw);
	for (const char *p = text; (p = strcasestr(p, kw)) != NULL; p++)
		if (kl > 0 && word_start(text, p))
			return 1;
	return 0;
}

static void lexicon_lookup(const struct sr_guideset *gs, const char *text,
                           struct sr_teacher_findings *f, int keep_category)
{
	json_t *lex = json_object_get(json_object_get(gs->doc, "detect"), "harm_lexicon");
	size_t i, j;
	json_t *entry, *kw;
	int best = 0;

	json_array_foreach(lex, i, entry) {
		const char *cat = json_string_value(json_object_get(entry, "category"));
		const char *sev = json_string_value(json_object_get(entry, "severity"));
		int hits = 0;
		char found[256] = "";
		if (!cat)
			continue;
		json_array_foreach(json_object_get(entry, "keywords"), j, kw) {
			const char *w = json_string_value(kw);
			if (!w || !has_keyword(text, w))
				continue;
			hits++;
			size_t len = strlen(found);
			snprintf(found + len, sizeof found - len, "%s\"%s\"", len ? ", " : "", w);
		}
		if (keep_category) {
			/* The record names the category: report its severity and keywords. */
			if (strcmp(cat, f->category) == 0) {
				snprintf(f->severity, sizeof f->severity, "%s", sev ? sev : "");
				if (hits)
					snprintf(f->keywords, sizeof f->keywords, "%s", found);
			}
			continue;
		}
		if (hits > best) {
			best = hits;
			snprintf(f->category, sizeof f->category, "%s", cat);
			snprintf(f->severity, sizeof f->severity, "%s", sev ? sev : "");
			snprintf(f->keywords, sizeof f->keywords, "%s", found);
		}
	}
	if (keep_category && !f->keywords[0]) {
		/* Keywords of any category still explain what was seen. */
		struct sr_teacher_findings other = {0};
		lexicon_lookup(gs, text, &other, 0);
		snprintf(f->keywords, sizeof f->keywords, "%s", other.keywords);
	}
}

int sr_teacher_analyse(struct sr_teacher *t, const struct sr_guideset *gs, const char *query,
                       const char *category, struct sr_teacher_findings *f,
                       struct sr_error *err)
{
	struct compiled *c = NULL;
	int rc;
	char *q = strndup(query, QUERY_MAX);

	memset(f, 0, sizeof *f);
	if (!q)
		return sr_fail(err, SR_ENOMEM, "out of memory");
	if ((rc = get_compiled(t, gs, &c, err)) < 0) {
		free(q);
		return rc;
	}

	/* Decoding, most specific first. */
	char obf[128];
	match_names(t, c->obfuscation, c->nobfuscation, q, obf, sizeof obf, 0);
	int reversed_hint = strstr(obf, "reversed") != NULL;
	struct {
		const char *name;
		char *text;
	} tries[] = {
		{"base64", decode_base64(q)},
		{"hex", NULL},
		{"rot13", NULL},
		{"reversed characters", NULL},
		{"reversed word order", NULL},
		{"leetspeak", NULL},
	};
	if (!tries[0].text)
		tries[1].text = decode_hex(q);
	/* Leetspeak before rot13: rot13 of leet text can look no less English
	 * than the leet text itself. */
	if (!tries[0].text && !tries[1].text)
		tries[5].text = try_leet(q, strstr(obf, "leetspeak") != NULL);
	if (!tries[0].text && !tries[1].text && !tries[5].text)
		tries[2].text = try_transform(q, rot13);
	if (!tries[2].text && !tries[1].text && !tries[0].text && !tries[5].text)
		tries[3].text = try_transform(q, reverse_chars);
	if (!tries[0].text && !tries[1].text && !tries[2].text && !tries[3].text && !tries[5].text)
		tries[4].text = try_reversed_words(q, reversed_hint);
	for (size_t i = 0; i < sizeof tries / sizeof *tries; i++) {
		if (tries[i].text && !f->decoded) {
			f->decoded = tries[i].text;
			snprintf(f->encoding, sizeof f->encoding, "%s", tries[i].name);
		} else {
			free(tries[i].text);
		}
	}

	/* Framing, tense and purpose are read from the decoded text too. */
	struct sr_buf both = {0};
	sr_buf_puts(&both, q);
	if (f->decoded) {
		sr_buf_puts(&both, "\n");
		sr_buf_puts(&both, f->decoded);
	}
	const char *text = both.data ? both.data : q;
	match_names(t, c->framing, c->nframing, text, f->framing, sizeof f->framing, 0);
	match_names(t, c->tense, c->ntense, text, f->tense, sizeof f->tense, 1);
	match_names(t, c->purpose, c->npurpose, text, f->purpose, sizeof f->purpose, 0);

	if (category && category[0]) {
		snprintf(f->category, sizeof f->category, "%s", category);
		lexicon_lookup(gs, text, f, 1);
	} else {
		lexicon_lookup(gs, text, f, 0);
	}
	sr_buf_release(&both);
	free(q);
	return 0;
}

/* ---- writing ---- */

/* "role-play, fiction" from "roleplay, fiction"; category names lose '_'. */
static void humanise(const char *in, char *out, size_t cap)
{
	size_t n = 0;
	for (const char *p = in; *p && n + 1 < cap; p++) {
		if (strncmp(p, "roleplay", 8) == 0 && n + 10 < cap) {
			memcpy(out + n, "role-play", 9);
			n += 9;
			p += 7;
			continue;
		}
		out[n++] = *p == '_' ? ' ' : *p;
	}
	out[n] = '\0';
}

/* Shorten s to at most max bytes on a character boundary, adding "...". */
static char *shorten(const char *s, size_t max)
{
	size_t len = strlen(s);
	struct sr_buf b = {0};

	if (len <= max)
		return strdup(s);
	while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
		max--;
	sr_buf_append(&b, s, max);
	sr_buf_puts(&b, "...");
	return b.data;
}

struct fill {
	const char *names[12];
	const char *values[12];
	size_t n;
};

static void fill_set(struct fill *fl, const char *name, const char *value)
{
	fl->names[fl->n] = name;
	fl->values[fl->n] = value;
	fl->n++;
}

static const char *fill_get(const struct fill *fl, const char *name, size_t len)
{
	for (size_t i = 0; i < fl->n; i++)
		if (strlen(fl->names[i]) == len && strncmp(fl->names[i], name, len) == 0)
			return fl->values[i];
	return NULL;
}

/* 1 when every placeholder of tmpl has a non-empty value. */
static int fillable(const char *tmpl, const struct fill *fl)
{
	for (const char *p = tmpl; (p = strstr(p, "{{")) != NULL; p += 2) {
		const char *end = strstr(p + 2, "}}");
		if (!end)
			return 1;
		const char *v = fill_get(fl, p + 2, (size_t)(end - p - 2));
		if (!v || !v[0])
			return 0;
	}
	return 1;
}

static void expand(struct sr_buf *b, const char *tmpl, const struct fill *fl)
{
	const char *p = tmpl;
	const char *open;

	while ((open = strstr(p, "{{")) != NULL) {
		const char *end = strstr(open + 2, "}}");
		if (!end)
			break;
		sr_buf_append(b, p, (size_t)(open - p));
		const char *v = fill_get(fl, open + 2, (size_t)(end - open - 2));
		if (v)
			sr_buf_puts(b, v);
		else
			sr_buf_append(b, open, (size_t)(end + 2 - open));
		p = end + 2;
	}
	sr_buf_puts(b, p);
}

/* Pick a template from a list: only those whose placeholders all have
 * values, chosen by a hash of the record id, the sample and the step. */
static const char *pick(json_t *list, const struct fill *fl, const char *id, int sample,
                        const char *step)
{
	size_t n = json_array_size(list), usable = 0;
	const char *cand[16];

	for (size_t i = 0; i < n && usable < 16; i++) {
		const char *s = json_string_value(json_array_get(list, i));
		if (s && fillable(s, fl))
			cand[usable++] = s;
	}
	if (usable == 0)
		return NULL;
	uint64_t h = sr_hash_mix(sr_hash64(step, strlen(step), 0), id, (uint64_t)sample);
	return cand[h % usable];
}

/* The case key of a step: which situation the query is in. */
static const char *step_case(const char *gid, json_t *steps, int harmful,
                             const struct sr_teacher_findings *f)
{
	const char *label = harmful ? "harmful" : "benign";
	const char *plan = harmful ? "refuse" : "comply";
	const char *order[6] = {0};
	size_t n = 0;

	if (strcmp(gid, "decode") == 0)
		order[n++] = f->decoded ? "obfuscated" : "plain";
	if (strcmp(gid, "framing") == 0) {
		if (f->framing[0])
			order[n++] = "framed";
		if (f->tense[0])
			order[n++] = "tense";
		if (f->purpose[0])
			order[n++] = "purpose";
		order[n++] = "plain";
	}
	order[n++] = label;
	order[n++] = plan;
	order[n++] = "any";
	for (size_t i = 0; i < n; i++)
		if (json_array_size(json_object_get(steps, order[i])) > 0)
			return order[i];
	return NULL;
}

static int write_completion(struct sr_teacher *t, const struct sr_guideset *gs,
                            struct sr_record *rec, int sample, struct sr_buf *out,
                            struct sr_error *err)
{
	const char *id = sr_record_get_str(rec, "id", NULL);
	const char *label = sr_record_get_str(rec, "label", NULL);
	size_t query_len = 0, reference_len = 0;
	const char *query = sr_record_get_str(rec, "query", &query_len);
	const char *category = sr_record_get_str(rec, "category", NULL);
	const char *reference = sr_record_get_str(rec, "reference", &reference_len);
	json_t *builtin = json_object_get(gs->doc, "builtin");
	json_t *steps = json_object_get(builtin, "steps");
	json_t *answers = json_object_get(builtin, "answers");
	struct sr_teacher_findings f;
	int rc;

	if (!query || !label)
		return sr_fail(err, SR_EDATA, "record has no 'query' or 'label'");
	/* The templates and detectors work on C strings, so a U+0000 would cut
	 * the text short without a word: such a record is not answered. */
	if (strlen(query) != query_len || (reference && strlen(reference) != reference_len)) {
		sr_fail(err, SR_EDATA, "field '%s' contains U+0000, which the built-in teacher "
		        "cannot quote or answer with (use an endpoint instead)",
		        strlen(query) != query_len ? "query" : "reference");
		return 1;
	}
	int harmful = strcmp(label, "harmful") == 0;
	if (!harmful && (!reference || !reference[0])) {
		sr_fail(err, SR_EDATA, "benign record has no 'reference': the built-in teacher answers "
		        "benign requests only with the reference answer (use an endpoint instead)");
		return 1;
	}
	if ((rc = sr_teacher_analyse(t, gs, query, category, &f, err)) < 0)
		return rc;

	json_int_t maxq = json_integer_value(json_object_get(builtin, "max_query_chars"));
	char *short_query = shorten(query, maxq > 0 ? (size_t)maxq : 160);
	char *short_decoded = shorten(f.decoded ? f.decoded : query, maxq > 0 ? (size_t)maxq : 160);
	char framing[96], purpose[96], cat[96];
	humanise(f.framing, framing, sizeof framing);
	humanise(f.purpose, purpose, sizeof purpose);
	humanise(f.category[0] ? f.category : (harmful ? "unspecified harm" : ""), cat, sizeof cat);
	struct fill fl = {0};
	fill_set(&fl, "query", short_query);
	fill_set(&fl, "decoded", short_decoded);
	fill_set(&fl, "encoding", f.encoding);
	fill_set(&fl, "framing", framing);
	fill_set(&fl, "purpose", purpose);
	fill_set(&fl, "tense", f.tense);
	fill_set(&fl, "category", cat);
	fill_set(&fl, "severity", f.severity[0] ? f.severity : (harmful ? "unknown" : ""));
	fill_set(&fl, "keywords", f.keywords);
	fill_set(&fl, "reference", reference ? reference : "");

	/* The guidelines the record was built with, in the set's order: those
	 * its `ids` lists, all when it has no list. A refusal_only request
	 * (sr-guide --refusal-only) asks for a reply with no visible
	 * reasoning, so its sample is the answer alone. */
	json_t *guidelines = sr_record_get(rec, "guidelines");
	json_t *ids = json_object_get(guidelines, "ids");
	const char *variant = json_string_value(json_object_get(guidelines, "variant"));
	int answer_only = variant && strcmp(variant, "refusal_only") == 0;
	if (!answer_only)
		sr_buf_printf(out, "%s\n", gs->open);
	for (size_t i = 0; i < gs->n && !answer_only; i++) {
		const struct sr_guideline *g = &gs->g[i];
		if (harmful ? !g->for_harmful : !g->for_benign)
			continue;
		if (json_is_array(ids)) {
			size_t k;
			json_t *v;
			int listed = 0;
			json_array_foreach(ids, k, v)
				if (json_string_value(v) && strcmp(json_string_value(v), g->id) == 0)
					listed = 1;
			if (!listed)
				continue;
		}
		json_t *gsteps = json_object_get(steps, g->id);
		const char *key = step_case(g->id, gsteps, harmful, &f);
		const char *tmpl = key ? pick(json_object_get(gsteps, key), &fl, id ? id : "", sample,
		                              g->id) : NULL;
		if (tmpl) {
			expand(out, tmpl, &fl);
		} else {
			/* NOTE: without a template the step states the guideline itself,
			 * which may not satisfy the set's coverage patterns. */
			sr_buf_printf(out, "%s: %s", g->title ? g->title : g->id,
			              g->instruction ? g->instruction : "considered.");
		}
		sr_buf_puts(out, "\n");
	}
	if (!answer_only)
		sr_buf_printf(out, "%s\n\n", gs->close);

	const char *answer_tmpl = pick(json_object_get(answers, harmful ? "refuse" : "comply"), &fl,
	                               id ? id : "", sample, "answer");
	if (answer_tmpl)
		expand(out, answer_tmpl, &fl);
	else if (harmful)
		sr_buf_printf(out, "I can't help with that, because it could lead to serious harm (%s).",
		              cat);
	else
		sr_buf_puts(out, reference);

	free(short_query);
	free(short_decoded);
	sr_teacher_findings_release(&f);
	return out->data ? 0 : sr_fail(err, SR_ENOMEM, "out of memory");
}

int sr_teacher_complete(struct sr_teacher *t, struct sr_record *rec, int sample, char **text,
                        size_t *len, struct sr_error *err)
{
	const struct sr_guideset *gs;
	struct sr_buf out = {0};
	int rc;

	*text = NULL;
	*len = 0;
	if ((rc = sr_guideset_cache_get(t->sets, sr_record_get(rec, "guidelines"), &gs, err)) < 0)
		return rc;
	if ((rc = write_completion(t, gs, rec, sample, &out, err)) != 0) {
		sr_buf_release(&out);
		return rc;
	}
	*text = out.data;
	*len = out.len;
	return 0;
}
