/* Unit tests for lib/dedup.c: exact and near decisions, the Jaccard
 * estimate, no chaining, keys, and saved indexes. */
#include <unistd.h>
#include "t.h"
#include "dedup.h"
#include "record.h"

static struct sr_dedup *make(int near, int perms, int bands, double threshold, int ngram)
{
	struct sr_dedup_config cfg;
	struct sr_dedup *d = NULL;

	sr_dedup_config_init(&cfg);
	cfg.near = near;
	cfg.permutations = perms;
	cfg.bands = bands;
	cfg.threshold = threshold;
	cfg.ngram = ngram;
	cfg.keep_ids = 1;
	CHECK_INT(sr_dedup_new(&cfg, "query", &d, NULL), 0);
	return d;
}

/* Add text under id: returns 1 and sets *of when it is a duplicate. */
static int add(struct sr_dedup *d, const char *text, const char *id, char *of, double *sim)
{
	struct sr_dedup_print fp = {{0, 0}, NULL, 0, 0};
	struct sr_buf scratch = {0};
	struct sr_dedup_match m;
	int rc = sr_dedup_fingerprint(d, text, strlen(text), &fp, &scratch, NULL);

	CHECK_INT(rc, 0);
	rc = sr_dedup_add(d, &fp, id, strlen(id), &m, NULL);
	if (rc == 1) {
		snprintf(of, 64, "%s", m.id);
		*sim = m.similarity;
	}
	sr_dedup_print_release(&fp);
	sr_buf_release(&scratch);
	return rc;
}

/* Words w<from> .. w<to - 1> joined by spaces. */
static const char *words(int from, int to)
{
	static char buf[8192];
	size_t n = 0;

	buf[0] = '\0';
	for (int i = from; i < to; i++)
		n += (size_t)snprintf(buf + n, sizeof buf - n, "%sw%d", i > from ? " " : "", i);
	return buf;
}

static void test_config(void)
{
	struct sr_dedup_config cfg;
	struct sr_dedup *d = NULL;
	struct sr_error err;

	sr_dedup_config_init(&cfg);
	cfg.near = 1;
	cfg.bands = 30;
	CHECK_INT(sr_dedup_new(&cfg, "query", &d, &err), SR_EUSAGE);
	CHECK(d == NULL);
	cfg.bands = 32;
	cfg.threshold = 1.5;
	CHECK_INT(sr_dedup_new(&cfg, "query", &d, &err), SR_EUSAGE);
	sr_dedup_free(NULL);
}

static void test_exact(void)
{
	struct sr_dedup *d = make(0, 128, 32, 0.5, 3);
	char of[64];
	double sim = 0;

	CHECK_INT(add(d, "Hello World", "a", of, &sim), 0);
	CHECK_INT(add(d, "  hello,   WORLD! ", "b", of, &sim), 1);
	CHECK_STR(of, "a");
	CHECK(sim == 1.0);
	CHECK_INT(add(d, "Hello Worlds", "c", of, &sim), 0);
	CHECK_INT(add(d, "hello worlds", "d", of, &sim), 1);
	CHECK_STR(of, "c");
	CHECK_INT(sr_dedup_count(d), 2);
	/* Growing the table keeps every entry findable. */
	for (int i = 0; i < 5000; i++) {
		char text[32], id[32];
		snprintf(text, sizeof text, "text %d", i);
		snprintf(id, sizeof id, "t%d", i);
		CHECK_INT(add(d, text, id, of, &sim), 0);
	}
	CHECK_INT(add(d, "TEXT 4321", "again", of, &sim), 1);
	CHECK_STR(of, "t4321");
	CHECK_INT(sr_dedup_count(d), 5002);
	sr_dedup_free(d);
}

static void test_estimate(void)
{
	/* With 1-grams, w0..w99 and w50..w149 share 50 of 150 words: J = 1/3.
	 * 256 permutations give a standard error of about 0.03. */
	struct sr_dedup *d = make(1, 256, 64, 0.0, 1);
	struct sr_dedup_print a = {{0, 0}, NULL, 0, 0}, b = {{0, 0}, NULL, 0, 0};
	struct sr_buf s = {0};
	size_t eq = 0;

	char first[8192];
	snprintf(first, sizeof first, "%s", words(0, 100));
	CHECK_INT(sr_dedup_fingerprint(d, first, strlen(first), &a, &s, NULL), 0);
	const char *second = words(50, 150);
	CHECK_INT(sr_dedup_fingerprint(d, second, strlen(second), &b, &s, NULL), 0);
	for (int i = 0; i < 256; i++)
		eq += a.sig[i] == b.sig[i];
	double est = (double)eq / 256;
	fprintf(stderr, "estimated J %.3f for true J 0.333\n", est);
	CHECK(est > 0.333 - 0.12);
	CHECK(est < 0.333 + 0.12);
	CHECK_INT(a.unspaced, 0);

	/* Identical sets give identical signatures. */
	CHECK_INT(sr_dedup_fingerprint(d, "w1 w2 w3", 8, &a, &s, NULL), 0);
	CHECK_INT(sr_dedup_fingerprint(d, "W3, w2; w1!", 11, &b, &s, NULL), 0);
	CHECK(memcmp(a.sig, b.sig, 256 * sizeof *a.sig) == 0);
	sr_dedup_print_release(&a);
	sr_dedup_print_release(&b);
	sr_buf_release(&s);
	sr_dedup_free(d);
}

static void test_near(void)
{
	struct sr_dedup *d = make(1, 128, 32, 0.5, 3);
	char of[64], text[8192];
	double sim = 0;

	snprintf(text, sizeof text, "%s", words(0, 60));
	CHECK_INT(add(d, text, "base", of, &sim), 0);
	/* One word changed in 60: 3 of 58 trigrams differ, J = 55/61. */
	char *p = strstr(text, " w30 ");
	memcpy(p, " x30 ", 5);
	CHECK_INT(add(d, text, "changed", of, &sim), 1);
	CHECK_STR(of, "base");
	CHECK(sim > 0.75);
	CHECK(sim <= 1.0);
	/* A distinct text is kept. */
	CHECK_INT(add(d, words(100, 160), "other", of, &sim), 0);
	/* A sentence appended. */
	snprintf(text, sizeof text, "%s and then one more sentence was added here.", words(100, 160));
	CHECK_INT(add(d, text, "appended", of, &sim), 1);
	CHECK_STR(of, "other");
	/* Short texts (fewer words than the n-gram length) still compare. */
	CHECK_INT(add(d, "hi", "short", of, &sim), 0);
	CHECK_INT(add(d, "HI!", "short2", of, &sim), 1);
	CHECK_STR(of, "short");
	/* Two empty keys are duplicates. */
	CHECK_INT(add(d, "", "empty", of, &sim), 0);
	CHECK_INT(add(d, " ... ", "empty2", of, &sim), 1);
	CHECK_STR(of, "empty");
	sr_dedup_free(d);
}

static void test_no_chaining(void)
{
	/* A = w0..w99, B = w15..w114, C = w30..w129 as 1-grams: J(A,B) =
	 * J(B,C) = 0.74, J(A,C) = 0.54. B is dropped as a duplicate of A, and
	 * C, close to B but not to A, is kept: dropped records are not
	 * indexed, so similarity does not chain. */
	struct sr_dedup *d = make(1, 512, 128, 0.65, 1);
	char of[64], a[8192];
	double sim = 0;

	snprintf(a, sizeof a, "%s", words(0, 100));
	CHECK_INT(add(d, a, "A", of, &sim), 0);
	CHECK_INT(add(d, words(15, 115), "B", of, &sim), 1);
	CHECK_STR(of, "A");
	CHECK_INT(add(d, words(30, 130), "C", of, &sim), 0);
	CHECK_INT(sr_dedup_count(d), 2);
	sr_dedup_free(d);
}

static void test_unspaced_text(void)
{
	struct sr_dedup *d = make(1, 128, 32, 0.5, 3);
	struct sr_dedup_print fp = {{0, 0}, NULL, 0, 0};
	struct sr_buf s = {0};
	const char *zh = "\xe5\xa6\x82\xe4\xbd\x95\xe5\x88\xb6\xe4\xbd\x9c\xe8\x9b\x8b\xe7\xb3\x95";

	CHECK_INT(sr_dedup_fingerprint(d, zh, strlen(zh), &fp, &s, NULL), 0);
	CHECK_INT(fp.unspaced, 1);
	CHECK_INT(sr_dedup_fingerprint(d, "plain words here", 16, &fp, &s, NULL), 0);
	CHECK_INT(fp.unspaced, 0);
	sr_dedup_print_release(&fp);
	sr_buf_release(&s);
	sr_dedup_free(d);
}

static void test_keys(void)
{
	const char *line = "{\"q\":\"text\",\"n\":12.50,\"a\":{\"b/c\":[1,{\"x~y\":\"v\"}]},\"o\":{\"k\":[true,null]}}";
	struct sr_record rec;
	struct sr_buf out = {0};
	struct sr_error err;

	sr_record_init(&rec);
	CHECK_INT(sr_record_parse(&rec, line, strlen(line), NULL), 0);
	CHECK_INT(sr_dedup_key_append(&rec, "q", &out, NULL), 0);
	CHECK_STR(out.data, "text");
	sr_buf_reset(&out);
	CHECK_INT(sr_dedup_key_append(&rec, "/q", &out, NULL), 0);
	CHECK_STR(out.data, "text");
	sr_buf_reset(&out);
	CHECK_INT(sr_dedup_key_append(&rec, "/a/b~1c/1/x~0y", &out, NULL), 0);
	CHECK_STR(out.data, "v");
	sr_buf_reset(&out);
	CHECK_INT(sr_dedup_key_append(&rec, "/a/b~1c/0", &out, NULL), 0);
	CHECK_STR(out.data, "\x1e" "1");
	sr_buf_reset(&out);
	CHECK_INT(sr_dedup_key_append(&rec, "o", &out, NULL), 0);
	CHECK_STR(out.data, "{\"k\":[true,null]}");
	sr_buf_reset(&out);

	sr_error_clear(&err);
	CHECK_INT(sr_dedup_key_append(&rec, "/a/zz", &out, &err), SR_ENOTFOUND);
	CHECK_STR(err.field, "/a/zz");
	CHECK_INT(sr_dedup_key_append(&rec, "/a/b~1c/01", &out, &err), SR_ENOTFOUND);
	CHECK_INT(sr_dedup_key_append(&rec, "/a/b~1c/2", &out, &err), SR_ENOTFOUND);
	CHECK_INT(sr_dedup_key_append(&rec, "missing", &out, &err), SR_ENOTFOUND);
	CHECK_INT(sr_dedup_key_append(&rec, "/a/b~2c", &out, &err), SR_EUSAGE);
	sr_buf_release(&out);
	sr_record_release(&rec);
}

/* Number texts reach the key as written: through a double, these pairs
 * would collide. */
static void test_key_number_text(void)
{
	const char *line = "{\"big\":12345678901234567891,\"f\":1.0000000000000001,\"n\":12.50,"
	                   "\"nest\":{\"a\" : [ 12345678901234567890 , \"\\u00e9\\u0000\" ],"
	                   "\"a\":[ 9223372036854775808 ]},\"s\":\"x\\u0000y\"}";
	struct sr_record rec;
	struct sr_buf out = {0};

	sr_record_init(&rec);
	CHECK_INT(sr_record_parse(&rec, line, strlen(line), NULL), 0);
	CHECK_INT(sr_dedup_key_append(&rec, "big", &out, NULL), 0);
	CHECK_STR(out.data, "\x1e" "12345678901234567891");
	sr_buf_reset(&out);
	CHECK_INT(sr_dedup_key_append(&rec, "/f", &out, NULL), 0);
	CHECK_STR(out.data, "\x1e" "1.0000000000000001");
	sr_buf_reset(&out);
	CHECK_INT(sr_dedup_key_append(&rec, "n", &out, NULL), 0);
	CHECK_STR(out.data, "\x1e" "12.50");
	sr_buf_reset(&out);
	/* The last of two members with one name counts, as in jansson. */
	CHECK_INT(sr_dedup_key_append(&rec, "/nest/a/0", &out, NULL), 0);
	CHECK_STR(out.data, "\x1e" "9223372036854775808");
	sr_buf_reset(&out);
	CHECK_INT(sr_dedup_key_append(&rec, "nest", &out, NULL), 0);
	CHECK_INT((long)out.len, 65);
	CHECK(memcmp(out.data, "{\"a\":[12345678901234567890,\"\xc3\xa9\\u0000\"],\"a\":[9223372036854775808]}",
	             out.len) == 0);
	sr_buf_reset(&out);
	CHECK_INT(sr_dedup_key_append(&rec, "s", &out, NULL), 0);
	CHECK_INT((long)out.len, 3);
	CHECK(memcmp(out.data, "x\0y", 3) == 0);
	sr_buf_reset(&out);
	/* A number is marked for normalisation to keep, and a string that
	 * starts with the mark gets a second one. */
	CHECK_INT(sr_record_parse(&rec, "{\"s\":\"\\u001e5\",\"n\":5}", 21, NULL), 0);
	CHECK_INT(sr_dedup_key_append(&rec, "s", &out, NULL), 0);
	CHECK_STR(out.data, "\x1e\x1e" "5");
	sr_buf_reset(&out);
	CHECK_INT(sr_dedup_key_append(&rec, "n", &out, NULL), 0);
	CHECK_STR(out.data, "\x1e" "5");
	sr_buf_release(&out);
	sr_record_release(&rec);
}

static void test_index_file(int near)
{
	char path[] = "/tmp/test-dedup-XXXXXX";
	int fd = mkstemp(path);
	struct sr_dedup *d = make(near, 128, 32, 0.5, 3), *e;
	char of[64];
	double sim;
	struct sr_error err;

	CHECK(fd >= 0);
	close(fd);
	for (int i = 0; i < 300; i++) {
		char id[16];
		snprintf(id, sizeof id, "old-%d", i);
		CHECK_INT(add(d, words(i * 100, i * 100 + 60), id, of, &sim), 0);
	}
	CHECK_INT(sr_dedup_save(d, path, NULL), 0);
	sr_dedup_free(d);

	e = make(near, 128, 32, 0.5, 3);
	CHECK_INT(sr_dedup_load(e, path, NULL), 0);
	CHECK_INT(sr_dedup_count(e), 300);
	CHECK_INT(add(e, words(4200, 4260), "new", of, &sim), 1);
	CHECK_STR(of, "old-42");
	CHECK_INT(add(e, words(90000, 90060), "new2", of, &sim), 0);
	sr_dedup_free(e);

	/* Other parameters: a usage error naming the difference. */
	e = make(!near, 128, 32, 0.5, 3);
	sr_error_clear(&err);
	CHECK_INT(sr_dedup_load(e, path, &err), SR_EUSAGE);
	CHECK(strstr(err.message, near ? "built with --near, but this run compares exactly (add --near)"
	                              : "built without --near, but this run uses --near (drop it)") != NULL);
	sr_dedup_free(e);

	/* A flipped byte fails the checksum. */
	FILE *f = fopen(path, "r+b");
	CHECK(f != NULL);
	fseek(f, 100, SEEK_SET);
	int c = fgetc(f);
	fseek(f, 100, SEEK_SET);
	fputc(c ^ 1, f);
	fclose(f);
	e = make(near, 128, 32, 0.5, 3);
	CHECK_INT(sr_dedup_load(e, path, &err), SR_EDATA);
	CHECK(strstr(err.message, "checksum") != NULL);
	CHECK_INT(sr_dedup_count(e), 0);
	sr_dedup_free(e);
	unlink(path);
}

static void test_batch_matches_single(void)
{
	struct sr_dedup *d = make(1, 64, 16, 0.5, 2);
	const char *texts[200];
	size_t lens[200];
	char store[200][64];
	struct sr_dedup_print batch[200], one = {{0, 0}, NULL, 0, 0};
	struct sr_buf s = {0};

	memset(batch, 0, sizeof batch);
	for (int i = 0; i < 200; i++) {
		snprintf(store[i], sizeof store[i], "record number %d of the batch, %d", i, i * 7);
		texts[i] = store[i];
		lens[i] = strlen(store[i]);
	}
	CHECK_INT(sr_dedup_fingerprint_batch(d, texts, lens, 200, batch, 2), 0);
	for (int i = 0; i < 200; i++) {
		CHECK_INT(batch[i].error, 0);
		CHECK_INT(sr_dedup_fingerprint(d, texts[i], lens[i], &one, &s, NULL), 0);
		CHECK(memcmp(one.sig, batch[i].sig, 64 * sizeof *one.sig) == 0);
		sr_dedup_print_release(&batch[i]);
	}
	sr_dedup_print_release(&one);
	sr_buf_release(&s);
	sr_dedup_free(d);
}

int main(void)
{
	test_config();
	test_exact();
	test_estimate();
	test_near();
	test_no_chaining();
	test_unspaced_text();
	test_keys();
	test_key_number_text();
	test_index_file(0);
	test_index_file(1);
	test_batch_matches_single();
	return t_result();
}
