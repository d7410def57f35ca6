/* normalize.c - NFKC, case folding, punctuation and whitespace folding. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>
#include "normalize.h"

static const struct {
	const char *name;
	unsigned flag;
} step_names[] = {
	{"nfkc", SR_NORM_NFKC},
	{"case", SR_NORM_CASEFOLD},
	{"punct", SR_NORM_PUNCT},
	{"space", SR_NORM_SPACE},
};

#define NSTEPS (sizeof step_names / sizeof step_names[0])

int sr_norm_parse(const char *list, unsigned *flags, struct sr_error *err)
{
	unsigned f = 0;
	const char *p = list;

	if (strcmp(list, "all") == 0) {
		*flags = SR_NORM_ALL;
		return 0;
	}
	if (strcmp(list, "none") == 0) {
		*flags = 0;
		return 0;
	}
	while (*p) {
		size_t n = strcspn(p, ",");
		size_t i;

		for (i = 0; i < NSTEPS; i++)
			if (strlen(step_names[i].name) == n && memcmp(p, step_names[i].name, n) == 0)
				break;
		if (i == NSTEPS)
			return sr_fail(err, SR_EUSAGE,
			               "unknown normalisation step '%.*s' (expected nfkc, case, punct, space, all or none)",
			               (int)n, p);
		f |= step_names[i].flag;
		p += n;
		if (*p == ',')
			p++;
	}
	*flags = f;
	return 0;
}

void sr_norm_format(unsigned flags, char *buf, size_t cap)
{
	size_t used = 0;

	if (cap == 0)
		return;
	buf[0] = '\0';
	if (flags == 0) {
		snprintf(buf, cap, "none");
		return;
	}
	for (size_t i = 0; i < NSTEPS; i++) {
		if (!(flags & step_names[i].flag))
			continue;
		int n = snprintf(buf + used, cap - used, "%s%s", used ? "," : "", step_names[i].name);
		if (n < 0 || (size_t)n >= cap - used)
			return;
		used += (size_t)n;
	}
}

/* White_Space code points that NFKC does not already turn into U+0020. */
static int is_space(utf8proc_int32_t c)
{
	return c == ' ' || (c >= 0x09 && c <= 0x0D) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
	       (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
	       c == 0x205F || c == 0x3000;
}

static int is_punct(utf8proc_int32_t c)
{
	switch (utf8proc_category(c)) {
	case UTF8PROC_CATEGORY_PC:
	case UTF8PROC_CATEGORY_PD:
	case UTF8PROC_CATEGORY_PS:
	case UTF8PROC_CATEGORY_PE:
	case UTF8PROC_CATEGORY_PI:
	case UTF8PROC_CATEGORY_PF:
	case UTF8PROC_CATEGORY_PO:
		return 1;
	default:
		return 0;
	}
}

/* ASCII punctuation by the same rule as is_punct: general category P*. The
 * ASCII symbols $ + < = > ^ ` | ~ are S* and stay. */
static int ascii_punct(unsigned char c)
{
	return c != '$' && c != '+' && c != '<' && c != '=' && c != '>' && c != '^' && c != '`' &&
	       c != '|' && c != '~' && ((c >= '!' && c <= '/') || (c >= ':' && c <= '@') ||
	                                (c >= '[' && c <= '`') || (c >= '{' && c <= '~'));
}

/* Joins the values of a multi-field key; white space folding trims each
 * value on its own. */
#define SEPARATOR 0x1F
/* Starts a value that is compared as it is, such as a number. */
#define VERBATIM 0x1E

static int ascii_space(unsigned char c)
{
	return c == ' ' || (c >= 0x09 && c <= 0x0D);
}

/* Append the folded text of an all-ASCII input. NFKC leaves ASCII alone
 * and case folding of ASCII is tolower, so this gives the same result as
 * the Unicode path at a fraction of the cost. */
static int fold_ascii(const char *text, size_t len, unsigned flags, struct sr_buf *out)
{
	const unsigned char *s = (const unsigned char *)text;

	int pending = 0; /* a space is owed before the next kept byte */

	/* The output is never longer than the input. */
	if (out->cap < len + 1) {
		char *p = realloc(out->data, len + 1);
		if (!p)
			return SR_ENOMEM;
		out->data = p;
		out->cap = len + 1;
	}
	out->len = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = s[i];

		if ((flags & SR_NORM_PUNCT) && ascii_punct(c))
			continue;
		if ((flags & SR_NORM_SPACE) && ascii_space(c)) {
			pending = out->len > 0 && out->data[out->len - 1] != SEPARATOR;
			continue;
		}
		if (c == SEPARATOR)
			pending = 0;
		if (pending) {
			out->data[out->len++] = ' ';
			pending = 0;
		}
		if ((flags & SR_NORM_CASEFOLD) && c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		out->data[out->len++] = (char)c;
	}
	out->data[out->len] = '\0';
	return 0;
}

/* Fold punctuation and white space of valid UTF-8 (the output of utf8proc)
 * into out. */
static int fold_unicode(const utf8proc_uint8_t *s, size_t len, unsigned flags, struct sr_buf *out)
{
	size_t i = 0;
	int pending = 0;

	while (i < len) {
		utf8proc_int32_t c;
		utf8proc_ssize_t n = utf8proc_iterate(s + i, (utf8proc_ssize_t)(len - i), &c);

		if (n <= 0)
			return SR_EDATA;
		if ((flags & SR_NORM_PUNCT) && is_punct(c)) {
			i += (size_t)n;
			continue;
		}
		if (flags & SR_NORM_SPACE) {
			if (is_space(c)) {
				pending = out->len > 0 && out->data[out->len - 1] != SEPARATOR;
				i += (size_t)n;
				continue;
			}
			if (c == SEPARATOR)
				pending = 0;
			if (pending && sr_buf_append(out, " ", 1) < 0)
				return SR_ENOMEM;
			pending = 0;
		}
		if (sr_buf_append(out, s + i, (size_t)n) < 0)
			return SR_ENOMEM;
		i += (size_t)n;
	}
	return 0;
}

static int normalize_text(const char *text, size_t len, unsigned flags, struct sr_buf *out,
                          struct sr_error *err)
{
	size_t i;
	int rc;

	sr_buf_reset(out);
	for (i = 0; i < len; i++)
		if ((unsigned char)text[i] >= 0x80)
			break;
	if (i == len) {
		rc = fold_ascii(text, len, flags, out);
		return rc < 0 ? sr_fail(err, rc, "out of memory") : 0;
	}

	if (!(flags & (SR_NORM_NFKC | SR_NORM_CASEFOLD))) {
		if (sr_utf8_valid_prefix(text, len) != len)
			return sr_fail(err, SR_EDATA, "invalid UTF-8 in key text");
		rc = fold_unicode((const utf8proc_uint8_t *)text, len, flags, out);
		if (rc == SR_EDATA)
			return sr_fail(err, rc, "invalid UTF-8 in key text");
		if (rc < 0)
			return sr_fail(err, rc, "out of memory");
		if (sr_buf_append(out, "", 0) < 0)
			return sr_fail(err, SR_ENOMEM, "out of memory");
		return 0;
	}

	int options = UTF8PROC_STABLE | UTF8PROC_COMPOSE;
	if (flags & SR_NORM_NFKC)
		options |= UTF8PROC_COMPAT | UTF8PROC_IGNORE;
	if (flags & SR_NORM_CASEFOLD)
		options |= UTF8PROC_CASEFOLD;

	utf8proc_uint8_t *mapped = NULL;
	utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)text, (utf8proc_ssize_t)len,
	                                  &mapped, (utf8proc_option_t)options);
	if (n < 0) {
		if (n == UTF8PROC_ERROR_NOMEM)
			return sr_fail(err, SR_ENOMEM, "out of memory");
		return sr_fail(err, SR_EDATA, "cannot normalise key text: %s", utf8proc_errmsg(n));
	}
	if (flags & (SR_NORM_PUNCT | SR_NORM_SPACE))
		rc = fold_unicode(mapped, (size_t)n, flags, out);
	else
		rc = sr_buf_append(out, mapped, (size_t)n) < 0 ? SR_ENOMEM : 0;
	free(mapped);
	if (rc == 0 && sr_buf_append(out, "", 0) < 0)
		rc = SR_ENOMEM;
	if (rc < 0)
		return sr_fail(err, rc, rc == SR_ENOMEM ? "out of memory" : "invalid UTF-8 in key text");
	return 0;
}

static int unspaced_script(utf8proc_int32_t c)
{
	return (c >= 0x0E00 && c <= 0x0EFF) ||   /* Thai, Lao */
	       (c >= 0x0F00 && c <= 0x0FFF) ||   /* Tibetan */
	       (c >= 0x1000 && c <= 0x109F) ||   /* Myanmar */
	       (c >= 0x1780 && c <= 0x17FF) ||   /* Khmer */
	       (c >= 0x3040 && c <= 0x30FF) ||   /* Hiragana, Katakana */
	       (c >= 0x31F0 && c <= 0x31FF) ||   /* Katakana phonetic extensions */
	       (c >= 0x3400 && c <= 0x4DBF) ||   /* CJK extension A */
	       (c >= 0x4E00 && c <= 0x9FFF) ||   /* CJK unified ideographs */
	       (c >= 0xF900 && c <= 0xFAFF) ||   /* CJK compatibility ideographs */
	       (c >= 0xFF66 && c <= 0xFF9F) ||   /* half-width Katakana */
	       (c >= 0x20000 && c <= 0x3FFFF);   /* CJK extensions B and later */
}

int sr_text_is_unspaced(const char *text, size_t len)
{
	const utf8proc_uint8_t *s = (const utf8proc_uint8_t *)text;
	size_t i = 0, letters = 0, unspaced = 0;

	while (i < len) {
		utf8proc_int32_t c;
		utf8proc_ssize_t n;

		if (s[i] < 0x80) {
			if ((s[i] | 0x20) >= 'a' && (s[i] | 0x20) <= 'z')
				letters++;
			i++;
			continue;
		}
		n = utf8proc_iterate(s + i, (utf8proc_ssize_t)(len - i), &c);
		if (n <= 0) {
			i++;
			continue;
		}
		i += (size_t)n;
		if (unspaced_script(c)) {
			/* Thai and the others have combining vowel signs (Mn, Mc)
			 * that count with their letters. */
			unspaced++;
			letters++;
			continue;
		}
		utf8proc_category_t cat = utf8proc_category(c);
		if (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO)
			letters++;
	}
	return letters > 0 && 2 * unspaced >= letters;
}

int sr_normalize(const char *text, size_t len, unsigned flags, struct sr_buf *out,
                 struct sr_error *err)
{
	struct sr_buf part = {0};
	size_t i = 0;
	int rc = 0;

	if (!memchr(text, VERBATIM, len))
		return normalize_text(text, len, flags, out, err);
	/* Normalise value by value, so that the verbatim ones can be skipped.
	 * Every step works within a value, so the result is the same as for
	 * the whole text. */
	sr_buf_reset(out);
	for (;;) {
		const char *sep = memchr(text + i, SEPARATOR, len - i);
		size_t end = sep ? (size_t)(sep - text) : len;
		if (end > i && text[i] == VERBATIM) {
			if (sr_buf_append(out, text + i, end - i) < 0)
				rc = SR_ENOMEM;
		} else if ((rc = normalize_text(text + i, end - i, flags, &part, err)) == 0) {
			if (sr_buf_append(out, part.data ? part.data : "", part.len) < 0)
				rc = SR_ENOMEM;
		}
		if (rc == 0 && sep && sr_buf_append(out, "\x1f", 1) < 0)
			rc = SR_ENOMEM;
		if (rc < 0 || !sep)
			break;
		i = end + 1;
	}
	sr_buf_release(&part);
	if (rc == SR_ENOMEM)
		return sr_fail(err, rc, "out of memory");
	return rc;
}
