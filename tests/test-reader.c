/* Unit tests for lib/io.c and lib/jsonl.c: line reading edge cases, zstd
 * input, and checked output (full disk, closed pipe, atomic commit). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>
#include "t.h"
#include "jsonl.h"
#include "io.h"

static char tmpdir[] = "/tmp/sr-test-reader-XXXXXX";

static const char *tmpfile_with(const char *name, const void *data, size_t len)
{
	static char path[4096];
	snprintf(path, sizeof path, "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "wb");
	if (!f) {
		perror(path);
		exit(1);
	}
	fwrite(data, 1, len, f);
	fclose(f);
	return path;
}

/* Read every line of path; collect them joined by '|' into out. */
static int read_all(const char *path, size_t max_line, char *out, size_t cap, long *blank,
                    struct sr_error *err)
{
	struct sr_reader *r;
	struct sr_line line;
	int rc;
	size_t n = 0;
	out[0] = '\0';
	sr_error_clear(err);
	if ((rc = sr_reader_open(path, max_line, &r, err)) < 0)
		return rc;
	while ((rc = sr_reader_next(r, &line, err)) > 0) {
		if (n + line.len + 16 < cap)
			n += (size_t)snprintf(out + n, cap - n, "%s%ld:%s", n ? "|" : "", line.lineno, line.data);
		CHECK_INT(line.data[line.len], '\0');
	}
	if (blank)
		*blank = sr_reader_blank_lines(r);
	sr_reader_free(r);
	return rc;
}

static void test_line_endings(void)
{
	char out[4096];
	long blank;
	struct sr_error err;
	const char *p;

	static const char crlf[] = "\xEF\xBB\xBF{\"a\":1}\r\n\r\n  \n{\"b\":2}\r\n{\"c\":3}";
	p = tmpfile_with("crlf.jsonl", crlf, sizeof crlf - 1);
	CHECK_INT(read_all(p, 0, out, sizeof out, &blank, &err), 0);
	CHECK_STR(out, "1:{\"a\":1}|4:{\"b\":2}|5:{\"c\":3}");
	CHECK_INT(blank, 2);

	p = tmpfile_with("empty.jsonl", "", 0);
	CHECK_INT(read_all(p, 0, out, sizeof out, &blank, &err), 0);
	CHECK_STR(out, "");
	CHECK_INT(blank, 0);

	p = tmpfile_with("bom-only.jsonl", "\xEF\xBB\xBF", 3);
	CHECK_INT(read_all(p, 0, out, sizeof out, &blank, &err), 0);
	CHECK_STR(out, "");
}

static void test_missing_file(void)
{
	char out[64];
	struct sr_error err;
	CHECK_INT(read_all("/nonexistent/x.jsonl", 0, out, sizeof out, NULL, &err), SR_EIO);
	CHECK(strstr(err.message, "/nonexistent/x.jsonl") != NULL);
}

static void test_line_cap(void)
{
	char out[4096];
	struct sr_error err;
	const char *p = tmpfile_with("long.jsonl", "{\"a\":1}\n{\"b\":\"0123456789\"}\n", 26);
	CHECK_INT(read_all(p, 10, out, sizeof out, NULL, &err), SR_ETOOBIG);
	CHECK_INT(err.line, 2);
	CHECK(strstr(err.message, "limit") != NULL);
}

static int count_sink(void *ctx, const char *bytes, size_t len)
{
	size_t *n = ctx;
	for (size_t i = 0; i < len; i++)
		if (bytes[i] != 'y')
			return SR_EDATA;
	*n += len;
	return 0;
}

static void test_skip_long_lines(void)
{
	/* A 3 MB line spans many buffer fills; skipping it must resume at the
	 * next line, with every skipped byte passed to the sink. */
	size_t big = 3u << 20, n = 0, sunk = 0;
	char *data = malloc(big + 64);
	struct sr_reader *r;
	struct sr_line line;
	struct sr_error err;
	memcpy(data, "{\"a\":1}\n", 8);
	n = 8;
	memset(data + n, 'y', big);
	n += big;
	memcpy(data + n, "\n{\"b\":2}\n", 9);
	n += 9;
	const char *p = tmpfile_with("skip.jsonl", data, n);
	free(data);
	sr_error_clear(&err);
	CHECK_INT(sr_reader_open(p, 1024, &r, &err), 0);
	sr_reader_skip_long_lines(r, count_sink, &sunk);
	CHECK_INT(sr_reader_next(r, &line, &err), 1);
	CHECK_STR(line.data, "{\"a\":1}");
	CHECK_INT(sr_reader_next(r, &line, &err), SR_ETOOBIG);
	CHECK_INT(err.line, 2);
	CHECK_INT(sunk, big);
	CHECK_INT(sr_reader_next(r, &line, &err), 1);
	CHECK_STR(line.data, "{\"b\":2}");
	CHECK_INT(line.lineno, 3);
	CHECK_INT(sr_reader_next(r, &line, &err), 0);
	sr_reader_free(r);
	unlink(p);
}

static void test_huge_line(void)
{
	/* A 100 MB line is returned whole. */
	size_t big = 100u << 20;
	char *data = malloc(big + 64);
	size_t n = 0;
	struct sr_reader *r;
	struct sr_line line;
	struct sr_error err;
	memcpy(data, "{\"q\":\"", 6);
	n = 6;
	memset(data + n, 'x', big);
	n += big;
	memcpy(data + n, "\"}\n{\"z\":0}\n", 11);
	n += 11;
	const char *p = tmpfile_with("huge.jsonl", data, n);
	free(data);
	sr_error_clear(&err);
	CHECK_INT(sr_reader_open(p, 0, &r, &err), 0);
	CHECK_INT(sr_reader_next(r, &line, &err), 1);
	CHECK_INT(line.len, big + 8);
	CHECK_INT(line.data[line.len - 1], '}');
	CHECK_INT(sr_reader_next(r, &line, &err), 1);
	CHECK_STR(line.data, "{\"z\":0}");
	CHECK_INT(line.lineno, 2);
	CHECK_INT(sr_reader_next(r, &line, &err), 0);
	sr_reader_free(r);
	unlink(p);
}

static void test_zstd(void)
{
	const char *text = "{\"a\":1}\n{\"b\":2}\n";
	size_t bound = ZSTD_compressBound(16);
	char *z = malloc(bound * 2);
	size_t zn = ZSTD_compress(z, bound, text, 16, 3);
	/* Two concatenated frames form one stream. */
	memcpy(z + zn, z, zn);
	char out[4096];
	struct sr_error err;
	const char *p = tmpfile_with("two.jsonl.zst", z, zn * 2);
	CHECK_INT(read_all(p, 0, out, sizeof out, NULL, &err), 0);
	CHECK_STR(out, "1:{\"a\":1}|2:{\"b\":2}|3:{\"a\":1}|4:{\"b\":2}");

	/* Detected by magic, not by name. */
	p = tmpfile_with("plain-name.jsonl", z, zn);
	CHECK_INT(read_all(p, 0, out, sizeof out, NULL, &err), 0);
	CHECK_STR(out, "1:{\"a\":1}|2:{\"b\":2}");

	/* A skippable frame first (as pzstd writes) still means zstd. */
	{
		char *sk = malloc(zn + 16);
		static const unsigned char skip[12] = { 0x50, 0x2A, 0x4D, 0x18, 4, 0, 0, 0, 1, 2, 3, 4 };
		memcpy(sk, skip, 12);
		memcpy(sk + 12, z, zn);
		p = tmpfile_with("skippable.zst", sk, zn + 12);
		free(sk);
		CHECK_INT(read_all(p, 0, out, sizeof out, NULL, &err), 0);
		CHECK_STR(out, "1:{\"a\":1}|2:{\"b\":2}");
	}

	/* A truncated frame is an error naming the file, not a short read. */
	p = tmpfile_with("cut.jsonl.zst", z, zn - 3);
	CHECK_INT(read_all(p, 0, out, sizeof out, NULL, &err), SR_EDATA);
	CHECK(strstr(err.message, "truncated") != NULL);
	CHECK(strstr(err.message, "cut.jsonl.zst") != NULL);

	/* A flipped byte in the data (checksummed frame) is corrupt data. */
	ZSTD_CCtx *cctx = ZSTD_createCCtx();
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
	zn = ZSTD_compress2(cctx, z, bound, text, 16);
	ZSTD_freeCCtx(cctx);
	z[zn - 6] ^= 0x55;
	p = tmpfile_with("flip.jsonl.zst", z, zn);
	CHECK_INT(read_all(p, 0, out, sizeof out, NULL, &err), SR_EDATA);
	free(z);
}

static void test_output_errors(void)
{
	struct sr_output *o;
	struct sr_error err;
	char buf[1 << 16];
	int rc = 0;

	/* A full disk is an error, not a silent truncation. */
	sr_error_clear(&err);
	if (access("/dev/full", W_OK) == 0) {
		CHECK_INT(sr_output_open("/dev/full", 0, &o, &err), 0);
		memset(buf, 'a', sizeof buf);
		for (int i = 0; i < 8 && rc == 0; i++)
			rc = sr_output_write(o, buf, sizeof buf, &err);
		if (rc == 0)
			rc = sr_output_commit(o, &err);
		CHECK_INT(rc, SR_EIO);
		CHECK(strstr(err.message, "/dev/full") != NULL);
		sr_output_free(o);
	}

	/* A closed pipe shows as SR_EPIPE. */
	int fds[2];
	CHECK_INT(pipe(fds), 0);
	int saved = dup(1);
	dup2(fds[1], 1);
	close(fds[1]);
	close(fds[0]);
	CHECK_INT(sr_output_open("-", 0, &o, &err), 0);
	rc = sr_output_write(o, buf, sizeof buf, &err);
	if (rc == 0)
		rc = sr_output_flush(o, &err);
	CHECK_INT(rc, SR_EPIPE);
	sr_output_free(o);
	dup2(saved, 1);
	close(saved);
}

static void test_atomic_output(void)
{
	char path[4096], tmp[4200];
	struct sr_output *o;
	struct sr_error err;
	snprintf(path, sizeof path, "%s/atomic.jsonl", tmpdir);
	CHECK_INT(sr_output_open(path, SR_OUTPUT_ATOMIC, &o, &err), 0);
	CHECK_INT(sr_output_write(o, "x\n", 2, &err), 0);
	CHECK_INT(sr_output_flush(o, &err), 0);
	CHECK(access(path, F_OK) != 0); /* not visible before commit */
	CHECK_INT(sr_output_commit(o, &err), 0);
	CHECK(access(path, F_OK) == 0);
	sr_output_free(o);

	/* An abandoned atomic output leaves nothing behind. */
	snprintf(path, sizeof path, "%s/abandoned.jsonl", tmpdir);
	CHECK_INT(sr_output_open(path, SR_OUTPUT_ATOMIC, &o, &err), 0);
	sr_output_write(o, "x\n", 2, &err);
	snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
	sr_output_flush(o, &err);
	CHECK(access(tmp, F_OK) == 0);
	sr_output_free(o);
	CHECK(access(tmp, F_OK) != 0);
	CHECK(access(path, F_OK) != 0);
}

static void test_read_file(void)
{
	char *data;
	size_t len;
	struct sr_error err;
	const char *p = tmpfile_with("small.json", "{\"x\":1}", 7);
	CHECK_INT(sr_read_file(p, 100, &data, &len, &err), 0);
	CHECK_INT(len, 7);
	CHECK_STR(data, "{\"x\":1}");
	free(data);
	CHECK_INT(sr_read_file(p, 3, &data, &len, &err), SR_ETOOBIG);
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	test_line_endings();
	test_missing_file();
	test_line_cap();
	test_huge_line();
	test_skip_long_lines();
	test_zstd();
	test_output_errors();
	test_atomic_output();
	test_read_file();
	char cmd[4200];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
	return t_result();
}
