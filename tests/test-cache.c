/* Unit tests for lib/cache.c: keys, put/get, reopen, repair of a cut last
 * line, damaged lines, the default directory. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache.h"
#include "t.h"

static char dir[] = "/tmp/test-cache-XXXXXX";

static char *path_in(const char *name)
{
	static char buf[4][512];
	static int next;
	char *p = buf[next++ % 4];
	snprintf(p, 512, "%s/%s", dir, name);
	return p;
}

static long file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static void test_keys(void)
{
	const char *body = "{\"messages\":[]}";
	struct sr_cache_key a = sr_cache_key_make("http://h/v1", "m", body, strlen(body), 0);
	struct sr_cache_key b = sr_cache_key_make("http://h/v1", "m", body, strlen(body), 1);
	struct sr_cache_key c = sr_cache_key_make("http://h/v1", "m2", body, strlen(body), 0);
	struct sr_cache_key d = sr_cache_key_make("http://h/v1m", "", body, strlen(body), 0);
	struct sr_cache_key a2 = sr_cache_key_make("http://h/v1", "m", body, strlen(body), 0);
	char hex[33];

	CHECK(a.hi == a2.hi);
	CHECK(a.lo == a2.lo);
	CHECK(a.hi != b.hi || a.lo != b.lo);
	CHECK(a.hi != c.hi || a.lo != c.lo);
	/* Moving bytes between endpoint and model changes the key. */
	CHECK(c.hi != d.hi || c.lo != d.lo);
	sr_cache_key_format(a, hex);
	CHECK_INT(strlen(hex), 32);
	CHECK(strspn(hex, "0123456789abcdef") == 32);
}

static void test_put_get_reopen(void)
{
	struct sr_cache *c;
	struct sr_error err;
	const char *path = path_in("sub/dir/cache.jsonl");
	struct sr_cache_key k1 = {1, 2}, k2 = {3, 4}, missing = {5, 6};
	json_t *v;

	CHECK_INT(sr_cache_open(path, 1, &c, &err), 0);
	json_t *val = json_pack("{s:s,s:i}", "text", "hello\nworld", "status", 200);
	CHECK_INT(sr_cache_put(c, k1, val, &err), 0);
	json_decref(val);
	val = json_object();
	CHECK_INT(sr_cache_put(c, k2, val, &err), 0);
	json_decref(val);
	CHECK_INT(sr_cache_get(c, missing, &v, &err), 0);
	CHECK(v == NULL);
	CHECK_INT(sr_cache_get(c, k1, &v, &err), 1);
	CHECK_STR(json_string_value(json_object_get(v, "text")), "hello\nworld");
	CHECK(json_object_get(v, "key") == NULL);
	json_decref(v);
	CHECK_INT(sr_cache_count(c), 2);
	CHECK_INT(sr_cache_close(c, &err), 0);

	/* A second put for a key replaces the first after reopening. */
	CHECK_INT(sr_cache_open(path, 1, &c, &err), 0);
	CHECK_INT(sr_cache_count(c), 2);
	CHECK(sr_cache_has(c, k2));
	val = json_pack("{s:s}", "text", "second");
	CHECK_INT(sr_cache_put(c, k1, val, &err), 0);
	json_decref(val);
	CHECK_INT(sr_cache_close(c, &err), 0);
	CHECK_INT(sr_cache_open(path, 1, &c, &err), 0);
	CHECK_INT(sr_cache_get(c, k1, &v, &err), 1);
	CHECK_STR(json_string_value(json_object_get(v, "text")), "second");
	json_decref(v);
	CHECK_INT(sr_cache_count(c), 2);
	CHECK_INT(sr_cache_bad_lines(c), 0);
	CHECK_INT(sr_cache_repaired(c), 0);
	sr_cache_close(c, &err);
}

static void test_cut_last_line(void)
{
	struct sr_cache *c;
	struct sr_error err;
	const char *path = path_in("cut.jsonl");
	struct sr_cache_key k1 = {7, 8}, k2 = {9, 10};
	json_t *v;

	CHECK_INT(sr_cache_open(path, 0, &c, &err), 0);
	v = json_pack("{s:s}", "text", "kept");
	CHECK_INT(sr_cache_put(c, k1, v, &err), 0);
	CHECK_INT(sr_cache_put(c, k2, v, &err), 0);
	json_decref(v);
	sr_cache_close(c, &err);

	/* Cut the second line in the middle, as a crash during write would. */
	long size = file_size(path);
	CHECK(size > 0);
	CHECK_INT(truncate(path, size - 5), 0);
	CHECK_INT(sr_cache_open(path, 0, &c, &err), 0);
	CHECK_INT(sr_cache_repaired(c), 1);
	CHECK_INT(sr_cache_count(c), 1);
	CHECK(sr_cache_has(c, k1));
	CHECK(!sr_cache_has(c, k2));
	/* New lines start on a clean line boundary. */
	v = json_pack("{s:s}", "text", "again");
	CHECK_INT(sr_cache_put(c, k2, v, &err), 0);
	json_decref(v);
	sr_cache_close(c, &err);
	CHECK_INT(sr_cache_open(path, 0, &c, &err), 0);
	CHECK_INT(sr_cache_repaired(c), 0);
	CHECK_INT(sr_cache_bad_lines(c), 0);
	CHECK_INT(sr_cache_get(c, k2, &v, &err), 1);
	CHECK_STR(json_string_value(json_object_get(v, "text")), "again");
	json_decref(v);
	sr_cache_close(c, &err);
}

static void test_bad_lines(void)
{
	struct sr_cache *c;
	struct sr_error err;
	const char *path = path_in("bad.jsonl");
	FILE *f = fopen(path, "w");
	struct sr_cache_key k = {0x1234, 0xabcd};
	json_t *v;

	CHECK(f != NULL);
	fputs("not json at all\n", f);
	fputs("{\"key\":\"00000000000012340000000000000abcd\",\"text\":\"x\"}\n", f);
	fputs("{\"key\":\"0000000000001234000000000000abcd\",\"text\":\"ok\"}\n", f);
	/* Valid prefix but broken JSON: indexed, and a miss on lookup. */
	fputs("{\"key\":\"0000000000000001000000000000000f\",\"text\":\"x\"\"}\n", f);
	fclose(f);
	CHECK_INT(sr_cache_open(path, 0, &c, &err), 0);
	CHECK_INT(sr_cache_bad_lines(c), 2);
	CHECK_INT(sr_cache_get(c, k, &v, &err), 1);
	CHECK_STR(json_string_value(json_object_get(v, "text")), "ok");
	json_decref(v);
	struct sr_cache_key broken = {1, 15};
	CHECK_INT(sr_cache_get(c, broken, &v, &err), 0);
	sr_cache_close(c, &err);
}

static void test_open_errors(void)
{
	struct sr_cache *c;
	struct sr_error err;
	const char *blocker = path_in("file");
	FILE *f = fopen(blocker, "w");

	fclose(f);
	/* A regular file where a directory is needed. */
	CHECK_INT(sr_cache_open(path_in("file/cache.jsonl"), 0, &c, &err), SR_EIO);
	CHECK(strstr(err.message, "file/cache.jsonl") != NULL);
	CHECK(c == NULL);
}

static void test_default_dir(void)
{
	char buf[256];
	struct sr_error err;

	setenv("XDG_CACHE_HOME", "/x/cache", 1);
	CHECK_INT(sr_cache_default_dir(buf, sizeof buf, &err), 0);
	CHECK_STR(buf, "/x/cache/srkit");
	setenv("XDG_CACHE_HOME", "relative", 1);
	setenv("HOME", "/home/u", 1);
	CHECK_INT(sr_cache_default_dir(buf, sizeof buf, &err), 0);
	CHECK_STR(buf, "/home/u/.cache/srkit");
	unsetenv("XDG_CACHE_HOME");
	unsetenv("HOME");
	CHECK_INT(sr_cache_default_dir(buf, sizeof buf, &err), SR_ENOTFOUND);
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 99;
	}
	test_keys();
	test_put_get_reopen();
	test_cut_last_line();
	test_bad_lines();
	test_open_errors();
	test_default_dir();
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	return t_result();
}
