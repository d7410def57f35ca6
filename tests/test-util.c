/* Unit tests for lib/util.c and lib/opt.c: RNG determinism, number parsing,
 * UTF-8 checks, buffers, error formatting. */
#include <math.h>
#include "t.h"
#include "opt.h"
#include "util.h"

static void test_rng(void)
{
	struct sr_rng a, b;
	sr_rng_seed(&a, 42);
	sr_rng_seed(&b, 42);
	for (int i = 0; i < 1000; i++)
		CHECK(sr_rng_next(&a) == sr_rng_next(&b));
	sr_rng_seed(&a, 42);
	sr_rng_seed(&b, 43);
	CHECK(sr_rng_next(&a) != sr_rng_next(&b));
	/* Fixed value: the sequence is part of the output contract (same seed,
	 * same data on every machine), so a change must be deliberate. */
	sr_rng_seed(&a, 1);
	CHECK(sr_rng_next(&a) == 0xb3f2af6d0fc710c5ULL);
	/* below() stays in range and hits every value. */
	int seen[7] = {0};
	for (int i = 0; i < 7000; i++) {
		uint64_t v = sr_rng_below(&a, 7);
		CHECK(v < 7);
		if (v < 7)
			seen[v]++;
	}
	for (int i = 0; i < 7; i++)
		CHECK(seen[i] > 800 && seen[i] < 1200);
	double sum = 0, sq = 0;
	for (int i = 0; i < 20000; i++) {
		double x = sr_rng_normal(&a);
		sum += x;
		sq += x * x;
	}
	CHECK(fabs(sum / 20000) < 0.05);
	CHECK(fabs(sq / 20000 - 1.0) < 0.05);
	for (int i = 0; i < 1000; i++) {
		double d = sr_rng_double(&a);
		CHECK(d >= 0.0 && d < 1.0);
	}
}

static void test_parse_numbers(void)
{
	uint64_t u;
	long l;
	double d;
	CHECK_INT(sr_parse_u64("123", 0, &u), 0);
	CHECK_INT(u, 123);
	CHECK_INT(sr_parse_u64("64M", 1, &u), 0);
	CHECK_INT(u, 64u << 20);
	CHECK_INT(sr_parse_u64("2GiB", 1, &u), 0);
	CHECK(u == (2ULL << 30));
	CHECK_INT(sr_parse_u64("64M", 0, &u), SR_EUSAGE);
	CHECK_INT(sr_parse_u64("-1", 0, &u), SR_EUSAGE);
	CHECK_INT(sr_parse_u64("18446744073709551616", 0, &u), SR_EUSAGE);
	CHECK_INT(sr_parse_u64("17179869184G", 1, &u), SR_EUSAGE);
	CHECK_INT(sr_parse_u64("12x", 1, &u), SR_EUSAGE);
	CHECK_INT(sr_parse_u64("", 1, &u), SR_EUSAGE);
	CHECK_INT(sr_parse_int("-5", -10, 10, &l), 0);
	CHECK_INT(l, -5);
	CHECK_INT(sr_parse_int("11", -10, 10, &l), SR_EUSAGE);
	CHECK_INT(sr_parse_int(" 1", -10, 10, &l), SR_EUSAGE);
	CHECK_INT(sr_parse_double("0.7", 0, 2, &d), 0);
	CHECK(d == 0.7);
	CHECK_INT(sr_parse_double("nan", 0, 2, &d), SR_EUSAGE);
	CHECK_INT(sr_parse_double("inf", 0, INFINITY, &d), SR_EUSAGE);
	CHECK_INT(sr_parse_double("3", 0, 2, &d), SR_EUSAGE);
}

static void test_utf8(void)
{
	CHECK_INT(sr_utf8_valid_prefix("abc", 3), 3);
	CHECK_INT(sr_utf8_valid_prefix("caf\xc3\xa9", 5), 5);
	CHECK_INT(sr_utf8_valid_prefix("\xf0\x9f\x98\x80!", 5), 5);
	CHECK_INT(sr_utf8_valid_prefix("ab\xff", 3), 2);
	CHECK_INT(sr_utf8_valid_prefix("\xc0\xaf", 2), 0);        /* overlong */
	CHECK_INT(sr_utf8_valid_prefix("\xe0\x80\xaf", 3), 0);    /* overlong */
	CHECK_INT(sr_utf8_valid_prefix("\xed\xa0\x80", 3), 0);    /* surrogate */
	CHECK_INT(sr_utf8_valid_prefix("\xf4\x90\x80\x80", 4), 0);/* > U+10FFFF */
	CHECK_INT(sr_utf8_valid_prefix("a\xc3", 2), 1);           /* truncated */
}

static void test_buf_and_errors(void)
{
	struct sr_buf b = {0};
	struct sr_error err;
	char text[256];
	CHECK_INT(sr_buf_puts(&b, "ab"), 0);
	CHECK_INT(sr_buf_printf(&b, "-%d-", 42), 0);
	CHECK_STR(b.data, "ab-42-");
	sr_buf_reset(&b);
	CHECK_STR(b.data, "");
	sr_buf_release(&b);

	sr_error_clear(&err);
	snprintf(err.file, sizeof err.file, "in.jsonl");
	err.line = 7;
	err.column = 3;
	snprintf(err.field, sizeof err.field, "label");
	CHECK_INT(sr_fail(&err, SR_ESCHEMA, "value is not one of %s", "[\"a\"]"), SR_ESCHEMA);
	sr_error_format(&err, text, sizeof text);
	CHECK_STR(text, "in.jsonl:7:3: field 'label': value is not one of [\"a\"]");
	CHECK_INT(sr_exit_status(SR_ESCHEMA), 1);
	CHECK_INT(sr_exit_status(SR_EUSAGE), 2);
	CHECK_INT(sr_exit_status(SR_EIO), 3);
	CHECK_INT(sr_exit_status(SR_EENDPOINT), 3);
	CHECK_INT(sr_exit_status(SR_EPIPE), 0);
	CHECK_INT(sr_exit_status(0), 0);
}

static void test_hash(void)
{
	CHECK(sr_hash64("abc", 3, 0) == sr_hash64("abc", 3, 0));
	CHECK(sr_hash64("abc", 3, 0) != sr_hash64("abc", 3, 1));
	CHECK(sr_hash_mix(7, "id-1", 0) != sr_hash_mix(7, "id-1", 1));
	CHECK(sr_hash_mix(7, "id-1", 0) == sr_hash_mix(7, "id-1", 0));
}

int main(void)
{
	test_rng();
	test_parse_numbers();
	test_utf8();
	test_buf_and_errors();
	test_hash();
	return t_result();
}
