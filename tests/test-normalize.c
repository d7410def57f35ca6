/* Unit tests for lib/normalize.c. */
#include "t.h"
#include "normalize.h"

static const char *norm(const char *s, unsigned flags)
{
	static struct sr_buf out;
	struct sr_error err;

	sr_error_clear(&err);
	if (sr_normalize(s, strlen(s), flags, &out, &err) < 0)
		return "(error)";
	return out.data ? out.data : "";
}

static void test_steps(void)
{
	/* NFKC: full-width forms, ligatures, superscripts. */
	CHECK_STR(norm("\xef\xbc\xa8\xef\xbd\x89", SR_NORM_NFKC), "Hi");
	CHECK_STR(norm("\xef\xac\x81le", SR_NORM_NFKC), "file");
	CHECK_STR(norm("x\xc2\xb2", SR_NORM_NFKC), "x2");
	/* Decomposed e + combining acute composes to U+00E9. */
	CHECK_STR(norm("cafe\xcc\x81", SR_NORM_NFKC), "caf\xc3\xa9");
	/* Default-ignorable code points go: zero-width space, soft hyphen. */
	CHECK_STR(norm("bo\xe2\x80\x8bmb", SR_NORM_NFKC), "bomb");
	CHECK_STR(norm("ex\xc2\xad" "ample", SR_NORM_NFKC), "example");

	/* Case folding, ASCII and beyond. */
	CHECK_STR(norm("HeLLo", SR_NORM_CASEFOLD), "hello");
	CHECK_STR(norm("Stra\xc3\x9f" "e", SR_NORM_CASEFOLD), "strasse");
	CHECK_STR(norm("STRASSE", SR_NORM_CASEFOLD), "strasse");
	CHECK_STR(norm("\xce\xa3\xce\x99\xce\xa3", SR_NORM_CASEFOLD), "\xcf\x83\xce\xb9\xcf\x83");

	/* Punctuation goes, symbols stay. */
	CHECK_STR(norm("don't, U.S.!", SR_NORM_PUNCT), "dont US");
	CHECK_STR(norm("$5 + 3 = 8", SR_NORM_PUNCT), "$5 + 3 = 8");
	CHECK_STR(norm("\xe2\x80\x9cquoted\xe2\x80\x9d \xe2\x80\x94 yes", SR_NORM_PUNCT), "quoted  yes");
	CHECK_STR(norm("\xe4\xbd\xa0\xe5\xa5\xbd\xe3\x80\x82", SR_NORM_PUNCT), "\xe4\xbd\xa0\xe5\xa5\xbd");

	/* White space: runs become one space, ends are trimmed. */
	CHECK_STR(norm("  a \t\n b  ", SR_NORM_SPACE), "a b");
	CHECK_STR(norm("a\xc2\xa0\xe3\x80\x80" "b", SR_NORM_SPACE), "a b");
	CHECK_STR(norm(" \t ", SR_NORM_SPACE), "");

	/* All steps together, and none. */
	CHECK_STR(norm("  Hello,   WORLD!! ", SR_NORM_ALL), "hello world");
	CHECK_STR(norm("\xef\xbc\xa8\xef\xbd\x85\xef\xbd\x8c\xef\xbd\x8c\xef\xbd\x8f\xe3\x80\x80"
	               "\xef\xbc\xb7\xef\xbd\x8f\xef\xbd\x92\xef\xbd\x8c\xef\xbd\x84", SR_NORM_ALL),
	           "hello world");
	CHECK_STR(norm("  Hello,   WORLD!! ", 0), "  Hello,   WORLD!! ");
	CHECK_STR(norm("Caf\xc3\xa9 ", 0), "Caf\xc3\xa9 ");
}

static void test_separator(void)
{
	/* The unit separator survives and trims the values on its sides. */
	CHECK_STR(norm("a \x1f b", SR_NORM_ALL), "a\x1f" "b");
	CHECK_STR(norm("A, \x1f,B", SR_NORM_ALL), "a\x1f" "b");
	CHECK_STR(norm("\xc3\x89t\xc3\xa9 \x1f x", SR_NORM_ALL), "\xc3\xa9t\xc3\xa9\x1fx");
	/* Values "ab","c" and "a","bc" stay apart. */
	char first[16];
	snprintf(first, sizeof first, "%s", norm("ab\x1f" "c", SR_NORM_ALL));
	CHECK(strcmp(first, norm("a\x1f" "bc", SR_NORM_ALL)) != 0);
}

/* A value that starts with U+001E passes every step unchanged; the other
 * values beside it are still normalised. */
static void test_verbatim_values(void)
{
	CHECK_STR(norm("\x1e-1.5E3", SR_NORM_ALL), "\x1e-1.5E3");
	CHECK_STR(norm("\x1e-5", SR_NORM_ALL), "\x1e-5");
	CHECK(strcmp(norm("\x1e-5", SR_NORM_ALL), "\x1e" "5") != 0);
	CHECK_STR(norm(" Don't, \xc3\x89T\xc3\xa9 \x1f\x1e{\"A\" : 1}\x1f X. ", SR_NORM_ALL),
	          "dont \xc3\xa9t\xc3\xa9\x1f\x1e{\"A\" : 1}\x1fx");
	CHECK_STR(norm("A.\x1f\x1e" "1.0", SR_NORM_ALL), "a\x1f\x1e" "1.0");
	/* U+001E inside a value does not make it verbatim. */
	CHECK_STR(norm("A\x1e. B", SR_NORM_ALL), "a\x1e b");
}

static void test_ascii_path_matches_unicode(void)
{
	/* The ASCII fast path and the utf8proc path give the same text: add a
	 * non-ASCII character that every step keeps, and compare. */
	const char *samples[] = {"Hello, World!", "  a--b  c", "x=1; y=[2,3]", "It's \"fine\"."};
	struct sr_buf a = {0}, b = {0};

	for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
		char with[256];
		snprintf(with, sizeof with, "%s\xc3\xa9", samples[i]);
		CHECK_INT(sr_normalize(samples[i], strlen(samples[i]), SR_NORM_ALL, &a, NULL), 0);
		CHECK_INT(sr_normalize(with, strlen(with), SR_NORM_ALL, &b, NULL), 0);
		CHECK_INT(b.len, a.len + 2);
		CHECK(memcmp(a.data, b.data, a.len) == 0);
	}
	sr_buf_release(&a);
	sr_buf_release(&b);
}

static void test_invalid_utf8(void)
{
	struct sr_buf out = {0};
	struct sr_error err;

	sr_error_clear(&err);
	CHECK_INT(sr_normalize("a\xff" "b", 3, SR_NORM_ALL, &out, &err), SR_EDATA);
	CHECK_INT(sr_normalize("a\xc3", 2, SR_NORM_PUNCT, &out, &err), SR_EDATA);
	sr_buf_release(&out);
}

static void test_unspaced(void)
{
	CHECK_INT(sr_text_is_unspaced("how to make a cake", 18), 0);
	/* Chinese, Japanese, Thai. */
	const char *zh = "\xe5\xa6\x82\xe4\xbd\x95\xe5\x88\xb6\xe4\xbd\x9c\xe8\x9b\x8b\xe7\xb3\x95";
	const char *ja = "\xe3\x82\xb1\xe3\x83\xbc\xe3\x82\xad\xe3\x81\xae\xe4\xbd\x9c\xe3\x82\x8a\xe6\x96\xb9";
	const char *th = "\xe0\xb8\xa7\xe0\xb8\xb4\xe0\xb8\x98\xe0\xb8\xb5\xe0\xb8\x97\xe0\xb8\xb3";
	CHECK_INT(sr_text_is_unspaced(zh, strlen(zh)), 1);
	CHECK_INT(sr_text_is_unspaced(ja, strlen(ja)), 1);
	CHECK_INT(sr_text_is_unspaced(th, strlen(th)), 1);
	/* Korean is written with spaces. */
	const char *ko = "\xec\xbc\x80\xec\x9d\xb4\xed\x81\xac \xeb\xa7\x8c\xeb\x93\x9c\xeb\x8a\x94";
	CHECK_INT(sr_text_is_unspaced(ko, strlen(ko)), 0);
	/* Mostly English with one Han word. */
	char mixed[128];
	snprintf(mixed, sizeof mixed, "the word %s means cake", "\xe8\x9b\x8b\xe7\xb3\x95");
	CHECK_INT(sr_text_is_unspaced(mixed, strlen(mixed)), 0);
	CHECK_INT(sr_text_is_unspaced("", 0), 0);
	CHECK_INT(sr_text_is_unspaced("123 456", 7), 0);
}

static void test_parse_format(void)
{
	unsigned f = 99;
	char buf[64];
	struct sr_error err;

	sr_error_clear(&err);
	CHECK_INT(sr_norm_parse("all", &f, &err), 0);
	CHECK_INT(f, SR_NORM_ALL);
	CHECK_INT(sr_norm_parse("none", &f, &err), 0);
	CHECK_INT(f, 0);
	CHECK_INT(sr_norm_parse("case,space", &f, &err), 0);
	CHECK_INT(f, SR_NORM_CASEFOLD | SR_NORM_SPACE);
	CHECK_INT(sr_norm_parse("case,bogus", &f, &err), SR_EUSAGE);
	CHECK(strstr(err.message, "'bogus'") != NULL);
	sr_norm_format(SR_NORM_ALL, buf, sizeof buf);
	CHECK_STR(buf, "nfkc,case,punct,space");
	sr_norm_format(SR_NORM_PUNCT, buf, sizeof buf);
	CHECK_STR(buf, "punct");
	sr_norm_format(0, buf, sizeof buf);
	CHECK_STR(buf, "none");
}

int main(void)
{
	test_steps();
	test_separator();
	test_verbatim_values();
	test_ascii_path_matches_unicode();
	test_invalid_utf8();
	test_unspaced();
	test_parse_format();
	return t_result();
}
