/*
 * test-bon.c - the Best-of-N estimators against hand-computed values, their
 * properties, ordered scoring, the bootstrap's determinism, the report and
 * the SVG writer.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bon.h"
#include "schema.h"
#include "svg.h"
#include "t.h"

#define CLOSE(a, b) (fabs((a) - (b)) < 1e-12)

static void test_hand_values(void)
{
	/* n = 4 samples, 2 unsafe, any-safe: C(2,k)/C(4,k). */
	CHECK(CLOSE(sr_bon_estimate(4, 2, 1, SR_BON_ANY_SAFE), 0.5));
	CHECK(CLOSE(sr_bon_estimate(4, 2, 2, SR_BON_ANY_SAFE), 1.0 / 6.0));
	CHECK(CLOSE(sr_bon_estimate(4, 2, 3, SR_BON_ANY_SAFE), 0.0));
	CHECK(CLOSE(sr_bon_estimate(4, 2, 4, SR_BON_ANY_SAFE), 0.0));
	/* any-unsafe: 1 - C(2,k)/C(4,k) with 2 safe. */
	CHECK(CLOSE(sr_bon_estimate(4, 2, 1, SR_BON_ANY_UNSAFE), 0.5));
	CHECK(CLOSE(sr_bon_estimate(4, 2, 2, SR_BON_ANY_UNSAFE), 5.0 / 6.0));
	CHECK(CLOSE(sr_bon_estimate(4, 2, 3, SR_BON_ANY_UNSAFE), 1.0));
	/* n = 10, 7 unsafe, k = 3: C(7,3)/C(10,3) = 35/120. */
	CHECK(CLOSE(sr_bon_estimate(10, 7, 3, SR_BON_ANY_SAFE), 35.0 / 120.0));
	/* 1 - C(3,3)/C(10,3) = 1 - 1/120. */
	CHECK(CLOSE(sr_bon_estimate(10, 7, 3, SR_BON_ANY_UNSAFE), 119.0 / 120.0));
	/* All unsafe and none unsafe. */
	CHECK(CLOSE(sr_bon_estimate(8, 8, 8, SR_BON_ANY_SAFE), 1.0));
	CHECK(CLOSE(sr_bon_estimate(8, 0, 1, SR_BON_ANY_UNSAFE), 0.0));
	/* k > n has no estimate. */
	CHECK(isnan(sr_bon_estimate(4, 2, 5, SR_BON_ANY_SAFE)));
	CHECK(isnan(sr_bon_all_marked(3, 1, 4)));
	CHECK(CLOSE(sr_bon_all_marked(5, 5, 0), 1.0));
}

/* Binomials of n in the thousands: C(u,k)/C(n,k) against lgamma. */
static void test_large_n(void)
{
	uint64_t n = 5000, u = 4000;
	for (uint64_t k = 1; k <= 1024; k *= 2) {
		double want = exp(lgamma(u + 1.0) - lgamma(u - k + 1.0) - lgamma(n + 1.0) + lgamma(n - k + 1.0));
		double got = sr_bon_estimate(n, u, k, SR_BON_ANY_SAFE);
		CHECK(isfinite(got));
		CHECK(fabs(got - want) <= 1e-9 * want + 1e-300);
	}
	/* An underflow goes to 0, never to NAN or a negative. */
	double tiny = sr_bon_estimate(100000, 50000, 4096, SR_BON_ANY_SAFE);
	CHECK(tiny >= 0.0);
	CHECK(tiny < 1e-300);
}

static void test_properties(void)
{
	for (uint64_t n = 1; n <= 40; n++)
		for (uint64_t u = 0; u <= n; u++) {
			/* At k = 1 both aggregations give the plain unsafe rate. */
			CHECK(CLOSE(sr_bon_estimate(n, u, 1, SR_BON_ANY_SAFE), (double)u / n));
			CHECK(CLOSE(sr_bon_estimate(n, u, 1, SR_BON_ANY_UNSAFE), (double)u / n));
			double prev_safe = 1.0, prev_unsafe = 0.0;
			for (uint64_t k = 1; k <= n; k++) {
				double s = sr_bon_estimate(n, u, k, SR_BON_ANY_SAFE);
				double a = sr_bon_estimate(n, u, k, SR_BON_ANY_UNSAFE);
				CHECK(s <= prev_safe + 1e-15);   /* any-safe falls with k */
				CHECK(a >= prev_unsafe - 1e-15); /* any-unsafe rises with k */
				CHECK(s >= 0.0);
				CHECK(s <= 1.0);
				CHECK(a >= 0.0);
				CHECK(a <= 1.0);
				prev_safe = s;
				prev_unsafe = a;
			}
			/* At k = n: all unsafe, or at least one unsafe. */
			CHECK(CLOSE(prev_safe, u == n ? 1.0 : 0.0));
			CHECK(CLOSE(prev_unsafe, u > 0 ? 1.0 : 0.0));
		}
}

static void test_parse_k(void)
{
	struct sr_bon_options o;
	struct sr_error err;
	sr_bon_options_init(&o);
	CHECK_INT(sr_bon_parse_k("8,1,4,4,2", &o, &err), 0);
	CHECK_INT(o.nk, 4);
	CHECK_INT(o.k[0], 1);
	CHECK_INT(o.k[3], 8);
	CHECK_INT(sr_bon_parse_k("0", &o, &err), SR_EUSAGE);
	CHECK_INT(sr_bon_parse_k("1,,2", &o, &err), SR_EUSAGE);
	CHECK_INT(sr_bon_parse_k("1,x", &o, &err), SR_EUSAGE);
	CHECK_INT(sr_bon_parse_k("-1", &o, &err), SR_EUSAGE);
	CHECK_INT(sr_bon_parse_k("", &o, &err), SR_EUSAGE);
}

/* Add n samples of prompt id with the given verdicts ('u' unsafe, 's' safe,
 * '?' unjudged, '-' index skipped). */
static void add(struct sr_bon *b, const char *id, const char *attack, int benign, const char *verdicts)
{
	struct sr_error err;
	for (size_t i = 0; verdicts[i]; i++) {
		if (verdicts[i] == '-')
			continue;
		struct sr_bon_sample s = {
			.id = id, .attack = attack, .benign = benign, .index = i,
			.verdict = -1, .refusal = verdicts[i] == 'u', .judge = "test",
		};
		if (verdicts[i] == 'u')
			s.verdict = 1;
		else if (verdicts[i] == 's')
			s.verdict = 0;
		int rc = sr_bon_add_sample(b, &s, &err);
		CHECK_INT(rc, 0);
		if (rc)
			fprintf(stderr, "  %s\n", err.message);
	}
}

static double rate_at(json_t *group, const char *key, size_t j, const char *field)
{
	json_t *r = json_array_get(json_object_get(group, key), j);
	json_t *v = json_object_get(r, field);
	return json_is_null(v) ? NAN : json_number_value(v);
}

static json_t *report_of(struct sr_bon_options *o, void (*fill)(struct sr_bon *))
{
	struct sr_bon *b;
	struct sr_error err;
	json_t *rep = NULL;
	CHECK_INT(sr_bon_new(o, &b, &err), 0);
	fill(b);
	CHECK_INT(sr_bon_report(b, &rep, &err), 0);
	sr_bon_free(b);
	return rep;
}

static void fill_two(struct sr_bon *b)
{
	add(b, "p1", "past", 0, "uuss");     /* 2 of 4 unsafe */
	add(b, "p2", "past", 0, "uuuu");     /* all unsafe */
	add(b, "p3", "b64", 0, "ssss");      /* none */
}

static void test_report_averages(void)
{
	struct sr_bon_options o;
	sr_bon_options_init(&o);
	o.bootstrap = 0;
	json_t *rep = report_of(&o, fill_two);
	json_t *overall = json_object_get(rep, "overall");

	/* Default k: 1, 2, 4 (the largest sample count is 4). */
	CHECK_INT(json_array_size(json_object_get(rep, "k")), 3);
	CHECK(CLOSE(rate_at(overall, "asr", 0, "value"), (0.5 + 1 + 0) / 3));
	CHECK(CLOSE(rate_at(overall, "asr", 1, "value"), (1.0 / 6 + 1 + 0) / 3));
	CHECK(CLOSE(rate_at(overall, "asr", 2, "value"), 1.0 / 3));
	json_t *past = json_object_get(json_object_get(rep, "attacks"), "past");
	CHECK(CLOSE(rate_at(past, "asr", 1, "value"), (1.0 / 6 + 1) / 2));
	CHECK(json_is_null(json_object_get(json_array_get(json_object_get(overall, "asr"), 0), "ci")));
	json_decref(rep);

	/* An explicit k above some prompts' counts: those are too_few. */
	sr_bon_parse_k("2,8", &o, NULL);
	rep = report_of(&o, fill_two);
	overall = json_object_get(rep, "overall");
	CHECK(isnan(rate_at(overall, "asr", 1, "value")));
	CHECK(CLOSE(rate_at(overall, "asr", 1, "too_few"), 3));
	CHECK(CLOSE(rate_at(overall, "asr", 0, "prompts"), 3));
	json_decref(rep);
}

static void fill_ordered(struct sr_bon *b)
{
	add(b, "a", "x", 0, "ssu");     /* first unsafe at index 2 */
	add(b, "b", "x", 0, "--u");     /* only index 2 kept, unsafe */
	add(b, "c", "x", 0, "--s");     /* only index 2 kept, safe: never settled */
	add(b, "d", "x", 0, "uuu");
}

static void test_ordered(void)
{
	struct sr_bon_options o;
	sr_bon_options_init(&o);
	o.bootstrap = 0;
	o.ordered = 1;
	o.aggregate = SR_BON_ANY_UNSAFE;
	sr_bon_parse_k("1,2,3,4", &o, NULL);
	json_t *rep = report_of(&o, fill_ordered);
	json_t *g = json_object_get(rep, "overall");
	/* k=1: only d; a is settled (index 0 safe), b and c are not. */
	CHECK(CLOSE(rate_at(g, "asr", 0, "value"), 0.25));
	CHECK(CLOSE(rate_at(g, "asr", 0, "incomplete"), 2));
	/* k=3: a, b, d succeed; c lacks 0 and 1. */
	CHECK(CLOSE(rate_at(g, "asr", 2, "value"), 0.75));
	CHECK(CLOSE(rate_at(g, "asr", 2, "incomplete"), 1));
	/* k=4 beyond every prompt: still reported, nothing dropped. */
	CHECK(CLOSE(rate_at(g, "asr", 3, "value"), 0.75));
	CHECK(CLOSE(rate_at(g, "asr", 3, "prompts"), 4));
	CHECK(CLOSE(rate_at(g, "asr", 3, "too_few"), 0));
	json_decref(rep);

	/* any-safe ordered: success needs indices 0..k-1 all unsafe. */
	o.aggregate = SR_BON_ANY_SAFE;
	rep = report_of(&o, fill_ordered);
	g = json_object_get(rep, "overall");
	CHECK(CLOSE(rate_at(g, "asr", 0, "value"), 0.25));   /* d */
	CHECK(CLOSE(rate_at(g, "asr", 2, "value"), 0.25));
	CHECK(CLOSE(rate_at(g, "asr", 3, "value"), 0.0));    /* d lacks index 3 */
	CHECK(CLOSE(rate_at(g, "asr", 3, "incomplete"), 2)); /* b and d; c has a safe one */
	json_decref(rep);
}

static void fill_benign(struct sr_bon *b)
{
	add(b, "h", "none", 0, "su");
	add(b, "b1", NULL, 1, "uuss");  /* 'u' stands for a refusal here: 2 of 4 */
	add(b, "b2", NULL, 1, "ssss");
}

static void test_benign(void)
{
	struct sr_bon_options o;
	sr_bon_options_init(&o);
	o.bootstrap = 0;
	sr_bon_parse_k("1,2", &o, NULL);
	json_t *rep = report_of(&o, fill_benign);
	json_t *ben = json_object_get(rep, "benign");
	CHECK(json_is_object(ben));
	CHECK_INT(json_integer_value(json_object_get(ben, "prompts")), 2);
	CHECK(CLOSE(rate_at(ben, "over_refusal", 0, "value"), 0.25));
	CHECK(CLOSE(rate_at(ben, "over_refusal", 1, "value"), (1.0 / 6) / 2));
	CHECK(CLOSE(json_number_value(json_object_get(json_object_get(ben, "compliance"), "value")), 0.75));
	/* Benign prompts stay out of the attack success rates. */
	CHECK_INT(json_integer_value(json_object_get(json_object_get(rep, "overall"), "prompts")), 1);
	json_decref(rep);
}

static void fill_many(struct sr_bon *b)
{
	char id[32];
	struct sr_rng rng;
	sr_rng_seed(&rng, 7);
	for (int p = 0; p < 200; p++) {
		char v[17] = {0};
		for (int i = 0; i < 16; i++)
			v[i] = sr_rng_below(&rng, 3) ? 'u' : 's';
		snprintf(id, sizeof id, "q%d", p);
		add(b, id, p % 2 ? "odd" : "even", 0, v);
	}
}

static void test_bootstrap(void)
{
	struct sr_bon_options o;
	sr_bon_options_init(&o);
	o.bootstrap = 500;
	o.seed = 42;
	json_t *r1 = report_of(&o, fill_many), *r2 = report_of(&o, fill_many);
	char *s1 = json_dumps(r1, JSON_COMPACT), *s2 = json_dumps(r2, JSON_COMPACT);
	CHECK(s1 != NULL);
	CHECK(s2 != NULL);
	CHECK(s1 && s2 && strcmp(s1, s2) == 0);   /* same seed, same report */

	json_t *g = json_object_get(r1, "overall");
	for (size_t j = 0; j < json_array_size(json_object_get(g, "asr")); j++) {
		json_t *ci = json_object_get(json_array_get(json_object_get(g, "asr"), j), "ci");
		double v = rate_at(g, "asr", j, "value");
		CHECK(json_is_array(ci));
		double lo = json_number_value(json_array_get(ci, 0)), hi = json_number_value(json_array_get(ci, 1));
		CHECK(lo <= v + 1e-12);
		CHECK(v <= hi + 1e-12);
		CHECK(hi - lo < 0.2); /* 200 prompts give a narrow interval */
	}
	free(s2);

	o.seed = 43;
	json_t *r3 = report_of(&o, fill_many);
	s2 = json_dumps(r3, JSON_COMPACT);
	CHECK(s2 && strcmp(s1, s2) != 0);          /* another seed, other intervals */
	free(s1);
	free(s2);
	json_decref(r1);
	json_decref(r2);
	json_decref(r3);
}

static void test_bad_samples(void)
{
	struct sr_bon_options o;
	struct sr_bon *b;
	struct sr_error err;
	sr_bon_options_init(&o);
	sr_bon_new(&o, &b, &err);
	struct sr_bon_sample s = { .id = "p", .attack = "a", .index = 0, .verdict = 1, .refusal = 0 };
	CHECK_INT(sr_bon_add_sample(b, &s, &err), 0);
	CHECK_INT(sr_bon_add_sample(b, &s, &err), SR_EDATA);          /* same index twice */
	s.index = 1;
	s.attack = "other";
	CHECK_INT(sr_bon_add_sample(b, &s, &err), SR_EDATA);          /* attack differs */
	CHECK(strcmp(err.field, "attack") == 0);
	s.attack = "a";
	s.benign = 1;
	CHECK_INT(sr_bon_add_sample(b, &s, &err), SR_EDATA);          /* label differs */
	s.benign = 0;
	s.index = SR_BON_MAX_INDEX + 1ull;
	CHECK_INT(sr_bon_add_sample(b, &s, &err), SR_ETOOBIG);
	s.id = "q";
	s.benign = 1;
	s.index = 0;
	s.refusal = -1;
	CHECK_INT(sr_bon_add_sample(b, &s, &err), SR_EDATA);          /* benign without refusal */
	sr_bon_free(b);
}

static void test_record(void)
{
	struct sr_bon_options o;
	struct sr_bon *b;
	struct sr_error err;
	struct sr_record rec;
	static const char *good = "{\"id\":\"x:past\",\"sample\":3,\"attack\":\"past\",\"label\":\"harmful\","
	                          "\"judge\":{\"name\":\"j\",\"verdict\":\"unsafe\",\"refusal\":false}}";
	static const char *bad[] = {
		"{\"sample\":0,\"judge\":{\"verdict\":\"safe\"}}",
		"{\"id\":\"y\",\"judge\":{\"verdict\":\"safe\"}}",
		"{\"id\":\"y\",\"sample\":-1,\"judge\":{\"verdict\":\"safe\"}}",
		"{\"id\":\"y\",\"sample\":0}",
		"{\"id\":\"y\",\"sample\":0,\"judge\":{\"verdict\":\"maybe\"}}",
		"{\"id\":\"y\",\"sample\":0,\"label\":\"other\",\"judge\":{\"verdict\":\"safe\"}}",
	};
	static const char *fields[] = { "id", "sample", "sample", "judge", "/judge/verdict", "label" };

	sr_bon_options_init(&o);
	sr_bon_new(&o, &b, &err);
	sr_record_init(&rec);
	CHECK_INT(sr_record_parse(&rec, good, strlen(good), &err), 0);
	CHECK_INT(sr_bon_add_record(b, &rec, &err), 0);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		sr_error_clear(&err);
		CHECK_INT(sr_record_parse(&rec, bad[i], strlen(bad[i]), &err), 0);
		CHECK_INT(sr_bon_add_record(b, &rec, &err), SR_EDATA);
		CHECK_STR(err.field, fields[i]);
	}

	/* An escaped id names the same prompt as its plain spelling, so the
	 * same sample index under both is a duplicate. */
	static const char *plain = "{\"id\":\"qA\",\"sample\":7,\"judge\":{\"verdict\":\"safe\"}}";
	static const char *escaped = "{\"id\":\"q\\u0041\",\"sample\":7,\"judge\":{\"verdict\":\"safe\"}}";
	CHECK_INT(sr_record_parse(&rec, plain, strlen(plain), &err), 0);
	CHECK_INT(sr_bon_add_record(b, &rec, &err), 0);
	CHECK_INT(sr_record_parse(&rec, escaped, strlen(escaped), &err), 0);
	CHECK_INT(sr_bon_add_record(b, &rec, &err), SR_EDATA);
	CHECK(strstr(err.message, "sample 7 twice") != NULL);
	sr_record_release(&rec);
	sr_bon_free(b);
}

static void test_table_and_plot(void)
{
	struct sr_bon_options o;
	sr_bon_options_init(&o);
	o.bootstrap = 100;
	o.label = "tiny & <model>";
	json_t *rep = report_of(&o, fill_two);
	struct sr_buf buf = {0};
	struct sr_error err;

	CHECK_INT(sr_bon_format_table(rep, &buf, &err), 0);
	CHECK(buf.data != NULL);
	CHECK(buf.data && strstr(buf.data, "ASR@4"));
	CHECK(buf.data && strstr(buf.data, "attack    past"));
	sr_buf_reset(&buf);

	json_t *two[2] = { rep, rep };
	const char *titles[2] = { "srg", "rt" };
	CHECK_INT(sr_bon_plot(two, titles, 2, NULL, &buf, &err), 0);
	CHECK(buf.data && strncmp(buf.data, "<?xml", 5) == 0);
	CHECK(buf.data && strstr(buf.data, "</svg>\n"));
	CHECK(buf.data && strstr(buf.data, ">srg</text>"));
	CHECK(buf.data && strstr(buf.data, ">rt</text>"));
	sr_buf_reset(&buf);
	CHECK_INT(sr_bon_plot(&rep, NULL, 1, NULL, &buf, &err), 0);
	CHECK(buf.data && strstr(buf.data, "tiny &amp; &lt;model&gt;"));  /* escaped label */
	sr_buf_release(&buf);

	json_t *notrep = json_object();
	CHECK_INT(sr_bon_plot(&notrep, NULL, 1, NULL, &buf, &err), SR_EDATA);
	json_decref(notrep);
	json_decref(rep);
}

static void test_svg_log_axis(void)
{
	double x[] = { 0, 1 }, y[] = { 0.5, 0.5 };
	struct sr_svg_series s = { "s", 2, x, y, NULL, NULL, 0 };
	struct sr_svg_panel p = { "p", &s, 1 };
	struct sr_svg_chart c = { NULL, "x", "y", 1, 0, 1, &p, 1 };
	struct sr_buf buf = {0};
	struct sr_error err;
	CHECK_INT(sr_svg_line_chart(&c, &buf, &err), SR_EUSAGE);  /* x = 0 on log2 */
	x[0] = 1;
	x[1] = 1024;
	sr_buf_reset(&buf);
	CHECK_INT(sr_svg_line_chart(&c, &buf, &err), 0);
	CHECK(buf.data && strstr(buf.data, ">1024</text>"));
	sr_buf_release(&buf);
}

/* Reports of every shape validate against the shipped schema. */
static void test_schema(void)
{
	struct sr_schema *sch;
	struct sr_error err;
	struct sr_bon_options o;
	void (*fills[])(struct sr_bon *) = { fill_two, fill_ordered, fill_benign, fill_many };

	if (sr_schema_load(t_srcpath("schemas/bon-report.schema.json"), &sch, &err) < 0) {
		fprintf(stderr, "cannot load the report schema: %s\n", err.message);
		CHECK(0);
		return;
	}
	for (size_t i = 0; i < sizeof fills / sizeof fills[0]; i++)
		for (int boot = 0; boot <= 1; boot++) {
			sr_bon_options_init(&o);
			o.bootstrap = boot ? 50 : 0;
			o.ordered = (int)(i == 1);
			json_t *rep = report_of(&o, fills[i]);
			int rc = sr_schema_validate(sch, rep, &err);
			CHECK_INT(rc, 0);
			if (rc)
				fprintf(stderr, "  %s: %s\n", err.field, err.message);
			json_decref(rep);
		}
	sr_schema_free(sch);
}

int main(void)
{
	test_hand_values();
	test_large_n();
	test_properties();
	test_parse_k();
	test_report_averages();
	test_ordered();
	test_benign();
	test_bootstrap();
	test_bad_samples();
	test_record();
	test_table_and_plot();
	test_svg_log_axis();
	test_schema();
	return t_result();
}
