/*
 * test-shard.c - the shard writer, reader and verifier, the manifest file,
 * and the mixer's selection and split, on real files in a temporary
 * directory.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zstd.h>

#include "mix.h"
#include "shard.h"
#include "t.h"

static char tmpdir[256];

static const char *tpath(const char *name)
{
	static char buf[2][512];
	static int k;

	k ^= 1;
	snprintf(buf[k], sizeof(buf[k]), "%s/%s", tmpdir, name);
	return buf[k];
}

/* Write n records of about 100 bytes each to path and fill info. */
static int write_shard(const char *path, int n, size_t frame_bytes, int threads,
                       struct sr_shard_info *info)
{
	struct sr_shard_params p;
	struct sr_shard_writer *w = NULL;
	struct sr_error err;
	char line[256];
	int rc;

	sr_shard_params_init(&p);
	p.frame_bytes = frame_bytes;
	p.threads = threads;
	rc = sr_shard_writer_open(path, &p, &w, &err);
	for (int i = 0; rc == 0 && i < n; i++) {
		int len = snprintf(line, sizeof(line),
		                   "{\"id\":\"r%d\",\"text\":\"record number %d with some padding text\"}\n",
		                   i, i * 7919);
		rc = sr_shard_writer_add(w, line, (size_t)len, &err);
	}
	if (rc == 0)
		rc = sr_shard_writer_commit(w, info, &err);
	if (rc < 0)
		fprintf(stderr, "write_shard: %s\n", err.message);
	sr_shard_writer_free(w);
	return rc;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	*len = fread(buf, 1, (size_t)n, f);
	fclose(f);
	return buf;
}

static void spit(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	fwrite(data, 1, len, f);
	fclose(f);
}

static void test_frames_bounded(void)
{
	struct sr_shard_info info;
	struct sr_shard_reader *r = NULL;
	struct sr_shard_frame fr;
	struct sr_error err;
	const char *data;
	size_t len, nframes = 0;
	uint64_t records = 0;
	int rc;

	CHECK_INT(write_shard(tpath("a.zst"), 1000, 4096, 0, &info), 0);
	CHECK_INT(info.records, 1000);
	CHECK(info.nframes > 10);
	/* No temporary file is left beside the shard. */
	CHECK(access(tpath("a.zst"), F_OK) == 0);
	CHECK_INT(sr_shard_reader_open(tpath("a.zst"), &r, &err), 0);
	while ((rc = sr_shard_reader_next(r, &data, &len, &fr, &err)) > 0) {
		CHECK(len <= 4096);
		CHECK(data[len - 1] == '\n');
		if (nframes < info.nframes) {
			CHECK_INT(fr.offset, info.frames[nframes].offset);
			CHECK_INT(fr.bytes, info.frames[nframes].bytes);
			CHECK_INT(fr.records, info.frames[nframes].records);
			CHECK(fr.xxh64 == info.frames[nframes].xxh64);
		}
		records += fr.records;
		nframes++;
	}
	CHECK_INT(rc, 0);
	CHECK_INT(nframes, info.nframes);
	CHECK_INT(records, 1000);
	sr_shard_reader_free(r);
	sr_shard_info_release(&info);
}

/* The file is ordinary zstd: the library's one-shot decompressor reads it
 * back to the exact lines that were written. */
static void test_plain_zstd(void)
{
	struct sr_shard_info info;
	size_t zlen, cap = 1 << 20, n;
	char *z, *out = malloc(cap);
	char expect[256];
	int len;

	CHECK_INT(write_shard(tpath("b.zst"), 50, 1024, 1, &info), 0);
	z = slurp(tpath("b.zst"), &zlen);
	CHECK_INT(zlen, info.bytes);
	n = ZSTD_decompress(out, cap, z, zlen);
	CHECK(!ZSTD_isError(n));
	len = snprintf(expect, sizeof(expect),
	               "{\"id\":\"r0\",\"text\":\"record number 0 with some padding text\"}\n");
	CHECK(n > (size_t)len && memcmp(out, expect, (size_t)len) == 0);
	CHECK_INT(info.raw_bytes, n);
	free(z);
	free(out);
	sr_shard_info_release(&info);
}

static void test_threads_same_bytes(void)
{
	struct sr_shard_info one, two;
	size_t l1, l2;
	char *a, *b;

	CHECK_INT(write_shard(tpath("t1.zst"), 3000, 2048, 1, &one), 0);
	CHECK_INT(write_shard(tpath("t2.zst"), 3000, 2048, 2, &two), 0);
	a = slurp(tpath("t1.zst"), &l1);
	b = slurp(tpath("t2.zst"), &l2);
	CHECK_MEM(a, l1, b, l2);
	CHECK(one.xxh64 == two.xxh64);
	free(a);
	free(b);
	sr_shard_info_release(&one);
	sr_shard_info_release(&two);
}

static void test_add_rejects_partial_line(void)
{
	struct sr_shard_params p;
	struct sr_shard_writer *w = NULL;
	struct sr_error err;

	sr_shard_params_init(&p);
	CHECK_INT(sr_shard_writer_open(tpath("bad.zst"), &p, &w, &err), 0);
	CHECK_INT(sr_shard_writer_add(w, "{}", 2, &err), SR_EDATA);
	CHECK_INT(sr_shard_writer_add(w, "{}\n{}\n", 6, &err), SR_EDATA);
	sr_shard_writer_free(w);
	/* An uncommitted shard leaves nothing behind. */
	CHECK(access(tpath("bad.zst"), F_OK) != 0);
}

/* Flip one byte in the middle of frame k and check that verify names it. */
static void test_verify_names_frame(void)
{
	struct sr_shard_info info;
	struct sr_error err;
	json_t *entry;
	size_t len;
	char *z, want[64];

	CHECK_INT(write_shard(tpath("v.zst"), 500, 2048, 0, &info), 0);
	entry = sr_shard_info_json(&info, "train", "v.zst");
	CHECK_INT(sr_shard_verify(tpath("v.zst"), entry, &err), 0);

	z = slurp(tpath("v.zst"), &len);
	z[info.frames[3].offset + info.frames[3].bytes / 2] ^= 0x20;
	spit(tpath("v.zst"), z, len);
	sr_error_clear(&err);
	CHECK_INT(sr_shard_verify(tpath("v.zst"), entry, &err), SR_EDATA);
	snprintf(want, sizeof(want), "frame 3 at byte offset %llu",
	         (unsigned long long)info.frames[3].offset);
	CHECK(strstr(err.message, want) != NULL);

	/* Truncated inside frame 5. */
	z[info.frames[3].offset + info.frames[3].bytes / 2] ^= 0x20;
	spit(tpath("v.zst"), z, (size_t)(info.frames[5].offset + 7));
	sr_error_clear(&err);
	CHECK_INT(sr_shard_verify(tpath("v.zst"), entry, &err), SR_EDATA);
	CHECK(strstr(err.message, "frame 5 ") != NULL);

	/* Truncated exactly at a frame boundary: the missing frame is named. */
	spit(tpath("v.zst"), z, (size_t)info.frames[6].offset);
	sr_error_clear(&err);
	CHECK_INT(sr_shard_verify(tpath("v.zst"), entry, &err), SR_EDATA);
	CHECK(strstr(err.message, "frame 6 missing") != NULL);

	/* Bytes appended after the last frame. */
	spit(tpath("v.zst"), z, len);
	{
		FILE *f = fopen(tpath("v.zst"), "ab");
		fputs("junk", f);
		fclose(f);
	}
	sr_error_clear(&err);
	CHECK_INT(sr_shard_verify(tpath("v.zst"), entry, &err), SR_EDATA);
	free(z);
	json_decref(entry);
	sr_shard_info_release(&info);
}

static void test_manifest_round_trip(void)
{
	struct sr_shard_info info;
	struct sr_error err;
	json_t *m, *back = NULL, *shards = json_array(), *args = json_object();
	char *a, *b;

	CHECK_INT(write_shard(tpath("train-00000.jsonl.zst"), 20, 1024, 0, &info), 0);
	json_array_append_new(shards, sr_shard_info_json(&info, "train", "train-00000.jsonl.zst"));
	json_object_set_new(args, "by", json_string("source"));
	json_object_set_new(args, "take", json_null());
	json_object_set_new(args, "ratio", json_null());
	json_object_set_new(args, "total", json_null());
	json_object_set_new(args, "replace", json_false());
	json_object_set_new(args, "val", json_null());
	json_object_set_new(args, "val_fraction", json_null());
	json_object_set_new(args, "system", json_null());
	json_object_set_new(args, "shard_records", json_integer(0));
	json_object_set_new(args, "shard_bytes", json_integer(0));
	json_object_set_new(args, "frame_bytes", json_integer(1024));
	json_object_set_new(args, "level", json_integer(3));
	m = json_pack("{s:i, s:s, s:s, s:s, s:i, s:o, s:[], s:[], s:{s:i, s:i, s:{}, s:{}, s:{}}, s:o}",
	              "manifest_version", 1, "tool", "test", "version", "0", "format", "raw",
	              "seed", 1, "arguments", args, "guidelines", "inputs", "counts", "train", 20,
	              "val", 0, "sources", "labels", "keys", "shards", shards);
	CHECK(m != NULL);
	CHECK_INT(sr_manifest_write(tmpdir, m, &err), 0);
	sr_error_clear(&err);
	CHECK_INT(sr_manifest_read(tmpdir, &back, &err), 0);
	if (back) {
		a = json_dumps(m, JSON_PRESERVE_ORDER);
		b = json_dumps(back, JSON_PRESERVE_ORDER);
		CHECK_STR(a, b);
		free(a);
		free(b);
	} else {
		fprintf(stderr, "manifest read: %s: %s\n", err.field, err.message);
	}
	/* A manifest that breaks the schema is refused. */
	json_object_set_new(m, "seed", json_string("x"));
	CHECK_INT(sr_manifest_write(tmpdir, m, &err), 0);
	json_decref(back);
	back = NULL;
	CHECK_INT(sr_manifest_read(tmpdir, &back, &err), SR_ESCHEMA);
	CHECK(back == NULL);
	json_decref(m);
	sr_shard_info_release(&info);
}

/* ---- mixer ---- */

static struct sr_mix *new_mix(const struct sr_mix_params *p)
{
	struct sr_mix *m = NULL;
	struct sr_error err;

	if (sr_mix_new(p, &m, &err) < 0)
		fprintf(stderr, "sr_mix_new: %s\n", err.message);
	return m;
}

/* n prompts of source src with k samples each. */
static void add_source(struct sr_mix *m, const char *src, const char *label, int n, int k)
{
	struct sr_error err;
	char id[64], line[128];

	for (int i = 0; i < n; i++)
		for (int s = 0; s < k; s++) {
			int len;
			snprintf(id, sizeof(id), "%s-%d", src, i);
			len = snprintf(line, sizeof(line), "{\"id\":\"%s\",\"sample\":%d}\n", id, s);
			CHECK_INT(sr_mix_add(m, src, src, label, id, s, line, (size_t)len, &err), 0);
		}
}

static void test_take_exact(void)
{
	struct sr_mix_quota take[] = {{"a", 7, 0}, {"b", 3, 0}};
	struct sr_mix_params p = {.seed = 1, .take = take, .ntake = 2, .val_fraction = -1,
	                          .spill_dir = tmpdir};
	struct sr_mix *m = new_mix(&p);
	struct sr_error err;

	add_source(m, "a", "harmful", 10, 1);
	add_source(m, "b", "benign", 10, 1);
	add_source(m, "c", "benign", 10, 1);
	CHECK_INT(sr_mix_select(m, &err), 0);
	CHECK_INT(sr_mix_count(m, SR_MIX_TRAIN), 10);
	CHECK_INT(sr_mix_not_selected(m), 20);
	sr_mix_free(m);
}

static void test_take_too_small(void)
{
	struct sr_mix_quota take[] = {{"a", 11, 0}};
	struct sr_mix_params p = {.seed = 1, .take = take, .ntake = 1, .val_fraction = -1,
	                          .spill_dir = tmpdir};
	struct sr_mix *m = new_mix(&p);
	struct sr_error err;

	add_source(m, "a", "harmful", 10, 1);
	CHECK_INT(sr_mix_select(m, &err), SR_EDATA);
	CHECK(strstr(err.message, "'a' has 10 records but 11 were requested") != NULL);
	sr_mix_free(m);

	/* With replacement the same request succeeds, with one repeat at least. */
	p.replace = 1;
	m = new_mix(&p);
	add_source(m, "a", "harmful", 10, 1);
	CHECK_INT(sr_mix_select(m, &err), 0);
	CHECK_INT(sr_mix_count(m, SR_MIX_TRAIN), 11);
	CHECK(sr_mix_repeats(m) >= 1);
	CHECK_INT(sr_mix_count(m, SR_MIX_TRAIN) - sr_mix_repeats(m) + sr_mix_not_selected(m), 10);
	sr_mix_free(m);
}

/* 100 split 1:2 of --total 10 gives 3.33 and 6.67: largest remainder
 * gives 3 and 7; 1:1:1 of 10 gives 4, 3, 3 with the tie to the first name. */
static void test_ratio_largest_remainder(void)
{
	struct sr_mix_quota r2[] = {{"b", 0, 2}, {"a", 0, 1}};
	struct sr_mix_quota r3[] = {{"c", 0, 1}, {"b", 0, 1}, {"a", 0, 1}};
	struct sr_mix_params p = {.seed = 3, .ratio = r2, .nratio = 2, .total = 10,
	                          .val_fraction = -1, .spill_dir = tmpdir};
	struct sr_mix *m = new_mix(&p);
	struct sr_error err;
	json_t *c;

	add_source(m, "a", "harmful", 20, 1);
	add_source(m, "b", "benign", 20, 1);
	CHECK_INT(sr_mix_select(m, &err), 0);
	c = sr_mix_counts_json(m);
	CHECK_INT(json_integer_value(json_object_get(json_object_get(json_object_get(c, "sources"), "a"), "train")), 3);
	CHECK_INT(json_integer_value(json_object_get(json_object_get(json_object_get(c, "sources"), "b"), "train")), 7);
	json_decref(c);
	sr_mix_free(m);

	p.ratio = r3;
	p.nratio = 3;
	m = new_mix(&p);
	add_source(m, "a", "harmful", 20, 1);
	add_source(m, "b", "benign", 20, 1);
	add_source(m, "c", "benign", 20, 1);
	CHECK_INT(sr_mix_select(m, &err), 0);
	c = sr_mix_counts_json(m);
	CHECK_INT(json_integer_value(json_object_get(json_object_get(json_object_get(c, "keys"), "a"), "selected")), 4);
	CHECK_INT(json_integer_value(json_object_get(json_object_get(json_object_get(c, "keys"), "b"), "selected")), 3);
	CHECK_INT(json_integer_value(json_object_get(json_object_get(json_object_get(c, "keys"), "c"), "selected")), 3);
	json_decref(c);
	sr_mix_free(m);
}

/* Every sample of a prompt lands on one side, and each (source, label)
 * stratum gets its share of the validation set. */
static void test_val_grouped_stratified(void)
{
	struct sr_mix_params p = {.seed = 9, .val = 20, .val_fraction = -1, .spill_dir = tmpdir};
	struct sr_mix *m = new_mix(&p);
	struct sr_error err;
	char seen[2][200];
	const char *line;
	size_t len;
	json_t *c;

	memset(seen, 0, sizeof(seen));
	add_source(m, "a", "harmful", 50, 2);
	add_source(m, "b", "benign", 100, 1);
	CHECK_INT(sr_mix_select(m, &err), 0);
	CHECK_INT(sr_mix_count(m, SR_MIX_VAL), 20);
	CHECK_INT(sr_mix_count(m, SR_MIX_TRAIN), 180);
	for (int s = 0; s < 2; s++)
		for (uint64_t i = 0; i < sr_mix_count(m, s); i++) {
			char src;
			int n;
			CHECK_INT(sr_mix_read(m, s, i, &line, &len, &err), 0);
			if (sscanf(line, "{\"id\":\"%c-%d\"", &src, &n) == 2)
				seen[s][(src == 'a' ? 0 : 100) + n] = 1;
		}
	for (int i = 0; i < 200; i++)
		CHECK(!(seen[0][i] && seen[1][i]));
	c = sr_mix_counts_json(m);
	CHECK_INT(json_integer_value(json_object_get(json_object_get(json_object_get(c, "sources"), "a"), "val")), 10);
	CHECK_INT(json_integer_value(json_object_get(json_object_get(json_object_get(c, "sources"), "b"), "val")), 10);
	json_decref(c);
	sr_mix_free(m);
}

/* The order depends on the seed and the ids, not on the order of adding. */
static void test_order_independent_of_input(void)
{
	struct sr_mix_params p = {.seed = 5, .val_fraction = -1, .spill_dir = tmpdir};
	struct sr_mix *m1 = new_mix(&p), *m2 = new_mix(&p);
	struct sr_error err;
	char a[64], b[64];
	const char *line;
	size_t len;

	add_source(m1, "a", "harmful", 30, 1);
	add_source(m1, "b", "benign", 30, 1);
	add_source(m2, "b", "benign", 30, 1);
	add_source(m2, "a", "harmful", 30, 1);
	CHECK_INT(sr_mix_select(m1, &err), 0);
	CHECK_INT(sr_mix_select(m2, &err), 0);
	for (uint64_t i = 0; i < 60; i++) {
		sr_mix_read(m1, SR_MIX_TRAIN, i, &line, &len, &err);
		snprintf(a, sizeof(a), "%.*s", (int)len, line);
		sr_mix_read(m2, SR_MIX_TRAIN, i, &line, &len, &err);
		snprintf(b, sizeof(b), "%.*s", (int)len, line);
		CHECK_STR(a, b);
	}
	sr_mix_free(m1);
	sr_mix_free(m2);
}

/* Examples of every size around the 1 MiB spill write buffer, one larger
 * than the buffer, read back intact and each exactly once. */
static void test_spill_round_trip(void)
{
	static const size_t sizes[] = {100, 700000, 400000, 1048576, 1048576 + 5000, 3, 524288,
	                               524288, 2000000, 50};
	enum { N = sizeof(sizes) / sizeof(sizes[0]) };
	struct sr_mix_params p = {.seed = 3, .val_fraction = -1, .spill_dir = tmpdir};
	struct sr_mix *m = new_mix(&p);
	struct sr_error err;
	int seen[N] = {0};
	char id[32];

	for (size_t i = 0; i < N; i++) {
		char *line = malloc(sizes[i]);
		CHECK(line != NULL);
		/* Example i: its digit repeated, then a newline. */
		memset(line, (int)('0' + i), sizes[i] - 1);
		line[sizes[i] - 1] = '\n';
		snprintf(id, sizeof(id), "r-%zu", i);
		CHECK_INT(sr_mix_add(m, "a", "a", "harmful", id, 0, line, sizes[i], &err), 0);
		free(line);
	}
	CHECK_INT(sr_mix_select(m, &err), 0);
	CHECK_INT(sr_mix_count(m, SR_MIX_TRAIN), N);
	for (uint64_t i = 0; i < N; i++) {
		const char *line;
		size_t len, k;
		int whole = 1;
		CHECK_INT(sr_mix_read(m, SR_MIX_TRAIN, i, &line, &len, &err), 0);
		k = (size_t)(line[0] - '0');
		CHECK(k < N);
		if (k >= N)
			continue;
		CHECK_INT(len, sizes[k]);
		for (size_t j = 0; j + 1 < len && whole; j++)
			whole = line[j] == line[0];
		CHECK(whole);
		CHECK(line[len - 1] == '\n');
		seen[k]++;
	}
	for (size_t i = 0; i < N; i++)
		CHECK_INT(seen[i], 1);
	CHECK(sr_mix_add(m, "a", "a", "harmful", "late", 0, "{}\n", 3, &err) == SR_EUSAGE);
	sr_mix_free(m);
}

int main(void)
{
	const char *base = getenv("TMPDIR");

	snprintf(tmpdir, sizeof(tmpdir), "%s/test-shard.XXXXXX", base ? base : "/tmp");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 99;
	}
	if (!getenv("SRKIT_DATADIR") && getenv("SR_SRCDIR"))
		setenv("SRKIT_DATADIR", getenv("SR_SRCDIR"), 1);
	test_frames_bounded();
	test_plain_zstd();
	test_threads_same_bytes();
	test_add_rejects_partial_line();
	test_verify_names_frame();
	test_manifest_round_trip();
	test_take_exact();
	test_take_too_small();
	test_ratio_largest_remainder();
	test_val_grouped_stratified();
	test_order_independent_of_input();
	test_spill_round_trip();
	{
		char cmd[300];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", tmpdir);
	}
	return t_result();
}
