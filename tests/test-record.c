/* Unit tests for lib/record.c: strict scanning, byte-exact passthrough,
 * splicing of changed members, and error columns. */
#include <stdlib.h>
#include <string.h>
#include "t.h"
#include "record.h"

static char *out;
static size_t outcap;

static const char *roundtrip(struct sr_record *rec, const char *line)
{
	struct sr_error err;
	sr_error_clear(&err);
	if (sr_record_parse(rec, line, strlen(line), &err) < 0) {
		fprintf(stderr, "parse failed: %s (column %ld)\n", err.message, err.column);
		return "PARSE FAILED";
	}
	long n = sr_record_serialize(rec, &out, &outcap);
	if (n < 0)
		return "SERIALIZE FAILED";
	return out;
}

static void test_passthrough_exact(void)
{
	struct sr_record rec;
	sr_record_init(&rec);
	CHECK_STR(roundtrip(&rec, "{\"a\":12345678901234567890,\"b\":1.0000000000000001}"),
	          "{\"a\":12345678901234567890,\"b\":1.0000000000000001}\n");
	/* A tool adds a member: the untouched ones stay byte-exact. */
	CHECK_INT(sr_record_set(&rec, "c", json_integer(3)), 0);
	CHECK_INT(sr_record_serialize(&rec, &out, &outcap) > 0, 1);
	CHECK_STR(out, "{\"a\":12345678901234567890,\"b\":1.0000000000000001,\"c\":3}\n");
	/* Replacing keeps the position. */
	CHECK_INT(sr_record_set(&rec, "a", json_string("x")), 0);
	sr_record_serialize(&rec, &out, &outcap);
	CHECK_STR(out, "{\"a\":\"x\",\"b\":1.0000000000000001,\"c\":3}\n");
	CHECK_INT(sr_record_del(&rec, "b"), 1);
	sr_record_serialize(&rec, &out, &outcap);
	CHECK_STR(out, "{\"a\":\"x\",\"c\":3}\n");
	sr_record_release(&rec);
}

static void test_whitespace_compacted(void)
{
	struct sr_record rec;
	sr_record_init(&rec);
	/* Top-level whitespace goes; inner bytes of values stay as they were. */
	CHECK_STR(roundtrip(&rec, " { \"a\" : [1, 2] ,\"b\":{\"x\": 1e5} } "),
	          "{\"a\":[1, 2],\"b\":{\"x\": 1e5}}\n");
	CHECK_STR(roundtrip(&rec, "{}"), "{}\n");
	CHECK_STR(roundtrip(&rec, "{ }"), "{}\n");
	sr_record_release(&rec);
}

static void test_escaped_keys(void)
{
	struct sr_record rec;
	sr_record_init(&rec);
	CHECK_STR(roundtrip(&rec, "{\"a\\u0062\":1,\"q\\\"\":2}"), "{\"a\\u0062\":1,\"q\\\"\":2}\n");
	CHECK(sr_record_get(&rec, "ab") != NULL);
	CHECK_INT(json_integer_value(sr_record_get(&rec, "ab")), 1);
	CHECK_INT(json_integer_value(sr_record_get(&rec, "q\"")), 2);
	/* A change re-encodes escaped keys in their canonical form. */
	sr_record_set(&rec, "new", json_true());
	sr_record_serialize(&rec, &out, &outcap);
	CHECK_STR(out, "{\"ab\":1,\"q\\\"\":2,\"new\":true}\n");
	sr_record_release(&rec);
}

static void test_lazy_values(void)
{
	struct sr_record rec;
	size_t len;
	sr_record_init(&rec);
	roundtrip(&rec, "{\"id\":\"x-1\",\"n\":12345678901234567890,\"s\":\"caf\\u00e9\"}");
	CHECK_STR(sr_record_get_str(&rec, "id", &len), "x-1");
	CHECK_INT(len, 3);
	CHECK_STR(sr_record_get_str(&rec, "s", NULL), "caf\xc3\xa9");
	CHECK(json_is_real(sr_record_get(&rec, "n")));
	CHECK(sr_record_get(&rec, "missing") == NULL);
	CHECK(sr_record_get_str(&rec, "n", NULL) == NULL);
	const char *raw = sr_record_raw(&rec, "n", &len);
	CHECK_MEM(raw, len, "12345678901234567890", 20);
	sr_record_release(&rec);
}

struct bad { const char *line; long column; const char *msg; };

static void test_errors(void)
{
	static const struct bad cases[] = {
		{ "{\"a\":1,}", 8, "object key" },
		{ "{\"a\" 1}", 6, "':' expected" },
		{ "{\"a\":01}", 7, "',' or '}'" },
		{ "{\"a\":1.}", 8, "digit expected" },
		{ "{\"a\":tru}", 6, "invalid literal" },
		{ "{\"a\":\"x\ty\"}", 8, "control character" },
		{ "{\"a\":\"\xff\"}", 7, "invalid UTF-8" },
		{ "{\"a\":\"\xc0\xaf\"}", 7, "invalid UTF-8" },
		{ "{\"a\":\"\xed\xa0\x80\"}", 7, "invalid UTF-8" },
		{ "{\"a\":\"\\ud800\"}", 7, "surrogate" },
		{ "{\"a\":\"\\x\"}", 7, "invalid escape" },
		{ "{\"a\":1} x", 9, "after the JSON object" },
		{ "[1,2]", 1, "must be a JSON object" },
		{ "\"str\"", 1, "must be a JSON object" },
		{ "{\"a\":1,\"a\":2}", 0, "duplicate key" },
		{ "{\"a\":[1,2}", 10, "',' or ']'" },
		{ "{\"a\":\"abc", 10, "end of input inside a string" },
		{ "{\"id\":\"b\",", 11, "unexpected end of line" },
		{ "{\"a\":[1,", 9, "value expected" },
		{ "{\"a\":{\"b\":1", 12, "end of input inside an object" },
	};
	struct sr_record rec;
	sr_record_init(&rec);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct sr_error err;
		sr_error_clear(&err);
		int rc = sr_record_parse(&rec, cases[i].line, strlen(cases[i].line), &err);
		CHECK_INT(rc, SR_EDATA);
		if (cases[i].column)
			CHECK_INT(err.column, cases[i].column);
		if (!strstr(err.message, cases[i].msg)) {
			fprintf(stderr, "case %zu: message '%s' lacks '%s'\n", i, err.message, cases[i].msg);
			CHECK(0);
		}
	}
	sr_record_release(&rec);
}

static void test_deep_nesting(void)
{
	struct sr_record rec;
	struct sr_error err;
	size_t depth = 100000;
	char *line = malloc(depth * 2 + 16);
	size_t n = 0;
	sr_record_init(&rec);
	line[n++] = '{';
	memcpy(line + n, "\"a\":", 4);
	n += 4;
	for (size_t i = 0; i < depth; i++)
		line[n++] = '[';
	for (size_t i = 0; i < depth; i++)
		line[n++] = ']';
	line[n++] = '}';
	sr_error_clear(&err);
	CHECK_INT(sr_record_parse(&rec, line, n, &err), SR_EDATA);
	CHECK(strstr(err.message, "nesting") != NULL);
	free(line);
	sr_record_release(&rec);
}

static void test_own_and_empty(void)
{
	struct sr_record rec;
	char *line = strdup("{\"k\":\"v\"}");
	sr_record_init(&rec);
	roundtrip(&rec, line);
	CHECK_INT(sr_record_own(&rec), 0);
	memset(line, 'x', strlen(line));
	free(line);
	sr_record_set(&rec, "z", json_integer(1));
	sr_record_serialize(&rec, &out, &outcap);
	CHECK_STR(out, "{\"k\":\"v\",\"z\":1}\n");
	/* Raw members are written byte for byte, escapes and all. */
	CHECK_INT(sr_record_set_raw(&rec, "raw", "\"a\\u00e9\"", 9), 0);
	sr_record_serialize(&rec, &out, &outcap);
	CHECK_STR(out, "{\"k\":\"v\",\"z\":1,\"raw\":\"a\\u00e9\"}\n");
	CHECK_STR(sr_record_get_str(&rec, "raw", NULL), "a\xc3\xa9");
	CHECK_INT(sr_record_set_raw(&rec, "raw", "[1]", 3), 0);
	sr_record_serialize(&rec, &out, &outcap);
	CHECK_STR(out, "{\"k\":\"v\",\"z\":1,\"raw\":[1]}\n");
	sr_record_empty(&rec);
	sr_record_set(&rec, "id", json_string("a"));
	sr_record_serialize(&rec, &out, &outcap);
	CHECK_STR(out, "{\"id\":\"a\"}\n");
	sr_record_release(&rec);
}

static void test_validate_values(void)
{
	struct sr_error err;
	const char *ok = "[1, {\"a\": null}, \"x\", -0.5e-3, true]";
	CHECK_INT(sr_json_validate(ok, strlen(ok), NULL), 0);
	CHECK_INT(sr_json_validate("  7  ", 5, NULL), 0);
	sr_error_clear(&err);
	CHECK_INT(sr_json_validate("[1 2]", 5, &err), SR_EDATA);
	CHECK_INT(err.column, 4);
	json_t *v = sr_json_parse("{\"big\":12345678901234567890}", 28, NULL);
	CHECK(v != NULL);
	CHECK(json_is_real(json_object_get(v, "big")));
	json_decref(v);
}

static void test_to_json(void)
{
	struct sr_record rec;
	sr_record_init(&rec);
	roundtrip(&rec, "{\"a\":1,\"b\":[true],\"c\":{\"d\":\"e\"}}");
	json_t *tree = sr_record_to_json(&rec);
	CHECK(tree != NULL);
	CHECK_INT(json_object_size(tree), 3);
	CHECK_STR(json_string_value(json_object_get(json_object_get(tree, "c"), "d")), "e");
	json_decref(tree);
	sr_record_release(&rec);
}

int main(void)
{
	test_passthrough_exact();
	test_whitespace_compacted();
	test_escaped_keys();
	test_lazy_values();
	test_errors();
	test_deep_nesting();
	test_own_and_empty();
	test_validate_values();
	test_to_json();
	free(out);
	return t_result();
}
