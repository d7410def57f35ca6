/*
 * cache.c - the append-only response cache (see cache.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "cache.h"

#define KEY_PREFIX "{\"key\":\""
#define KEY_PREFIX_LEN (sizeof KEY_PREFIX - 1)
/* Longest cache line accepted on open; longer ones are counted as bad. */
#define CACHE_LINE_MAX ((size_t)1 << 30)

struct slot {
	uint64_t hi, lo;
	off_t off;      /* start of the line */
	size_t len;     /* line length without the newline */
	int used;
};

struct sr_cache {
	char *path;
	int fd;
	struct slot *slots;
	size_t nslots, count;
	size_t bad_lines;
	int repaired;
	double fsync_interval;
	double last_sync;
	int dirty;
};

static double now_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

struct sr_cache_key sr_cache_key_make(const char *endpoint, const char *model,
                                      const char *body, size_t body_len, int sample)
{
	XXH3_state_t *st = XXH3_createState();
	struct sr_cache_key key = {0, 0};
	char idx[32];
	int n = snprintf(idx, sizeof idx, "%d", sample);

	if (!st)
		abort();
	XXH3_128bits_reset(st);
	/* Each part is followed by a NUL so that no two different splits of
	 * the same bytes hash alike. */
	XXH3_128bits_update(st, endpoint ? endpoint : "", strlen(endpoint ? endpoint : "") + 1);
	XXH3_128bits_update(st, model ? model : "", strlen(model ? model : "") + 1);
	XXH3_128bits_update(st, body, body_len);
	XXH3_128bits_update(st, "", 1);
	XXH3_128bits_update(st, idx, (size_t)n);
	XXH128_hash_t h = XXH3_128bits_digest(st);
	XXH3_freeState(st);
	key.hi = h.high64;
	key.lo = h.low64;
	return key;
}

void sr_cache_key_format(struct sr_cache_key key, char buf[33])
{
	snprintf(buf, 33, "%016llx%016llx", (unsigned long long)key.hi, (unsigned long long)key.lo);
}

static int parse_hex_key(const char *s, struct sr_cache_key *key)
{
	uint64_t part[2] = {0, 0};

	for (int i = 0; i < 32; i++) {
		int c = (unsigned char)s[i], v;
		if (c >= '0' && c <= '9')
			v = c - '0';
		else if (c >= 'a' && c <= 'f')
			v = c - 'a' + 10;
		else
			return -1;
		part[i / 16] = part[i / 16] << 4 | (uint64_t)v;
	}
	key->hi = part[0];
	key->lo = part[1];
	return 0;
}

static size_t slot_index(const struct sr_cache *c, struct sr_cache_key key)
{
	size_t i = (size_t)(key.lo ^ (key.hi >> 7)) & (c->nslots - 1);

	while (c->slots[i].used && (c->slots[i].hi != key.hi || c->slots[i].lo != key.lo))
		i = (i + 1) & (c->nslots - 1);
	return i;
}

static int index_grow(struct sr_cache *c)
{
	size_t old_n = c->nslots, new_n = old_n ? old_n * 2 : 1024;
	struct slot *old = c->slots, *fresh = calloc(new_n, sizeof *fresh);

	if (!fresh)
		return SR_ENOMEM;
	c->slots = fresh;
	c->nslots = new_n;
	for (size_t i = 0; i < old_n; i++) {
		if (!old[i].used)
			continue;
		struct sr_cache_key k = {old[i].hi, old[i].lo};
		c->slots[slot_index(c, k)] = old[i];
	}
	free(old);
	return 0;
}

static int index_set(struct sr_cache *c, struct sr_cache_key key, off_t off, size_t len)
{
	if ((c->count + 1) * 4 >= c->nslots * 3 && index_grow(c) < 0)
		return SR_ENOMEM;
	struct slot *s = &c->slots[slot_index(c, key)];
	if (!s->used) {
		s->used = 1;
		s->hi = key.hi;
		s->lo = key.lo;
		c->count++;
	}
	s->off = off;
	s->len = len;
	return 0;
}

/* Index one complete line found at off. */
static int index_line(struct sr_cache *c, const char *line, size_t len, off_t off)
{
	struct sr_cache_key key;

	if (len < KEY_PREFIX_LEN + 34 || memcmp(line, KEY_PREFIX, KEY_PREFIX_LEN) != 0 ||
	    line[KEY_PREFIX_LEN + 32] != '"' || line[len - 1] != '}' ||
	    parse_hex_key(line + KEY_PREFIX_LEN, &key) < 0) {
		c->bad_lines++;
		return 0;
	}
	return index_set(c, key, off, len);
}

static int mkdir_parents(const char *path)
{
	char *copy = strdup(path);

	if (!copy)
		return -1;
	for (char *p = copy + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(copy, 0700) < 0 && errno != EEXIST) {
			free(copy);
			return -1;
		}
		*p = '/';
	}
	free(copy);
	return 0;
}

/* Read the file from the start, index every complete line and cut off an
 * incomplete last line. Called with the exclusive lock held. */
static int scan_file(struct sr_cache *c, struct sr_error *err)
{
	size_t cap = 1 << 20, have = 0;
	char *buf = malloc(cap);
	off_t base = 0;  /* file offset of buf[0] */
	int rc = 0;

	if (!buf)
		return sr_fail(err, SR_ENOMEM, "out of memory reading cache '%s'", c->path);
	for (;;) {
		if (have == cap) {
			if (cap >= CACHE_LINE_MAX) {
				/* One line longer than the cap: skip to its end. */
				c->bad_lines++;
				base += (off_t)have;
				have = 0;
				char ch;
				ssize_t r;
				while ((r = pread(c->fd, &ch, 1, base)) == 1) {
					base++;
					if (ch == '\n')
						break;
				}
				continue;
			}
			char *bigger = realloc(buf, cap * 2);
			if (!bigger) {
				rc = sr_fail(err, SR_ENOMEM, "out of memory reading cache '%s'", c->path);
				goto out;
			}
			buf = bigger;
			cap *= 2;
		}
		ssize_t r = pread(c->fd, buf + have, cap - have, base + (off_t)have);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			rc = sr_fail(err, SR_EIO, "cannot read cache '%s': %s", c->path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		have += (size_t)r;

		size_t start = 0;
		char *nl;
		while ((nl = memchr(buf + start, '\n', have - start)) != NULL) {
			size_t len = (size_t)(nl - (buf + start));
			if (len > 0 && (rc = index_line(c, buf + start, len, base + (off_t)start)) < 0) {
				sr_fail(err, rc, "out of memory indexing cache '%s'", c->path);
				goto out;
			}
			start += len + 1;
		}
		memmove(buf, buf + start, have - start);
		base += (off_t)start;
		have -= start;
	}
	if (have > 0) {
		/* A crash cut the last line short: drop it. */
		if (ftruncate(c->fd, base) < 0) {
			rc = sr_fail(err, SR_EIO, "cannot repair cache '%s': %s", c->path, strerror(errno));
			goto out;
		}
		c->repaired = 1;
		if (fsync(c->fd) < 0) {
			rc = sr_fail(err, SR_EIO, "cannot fsync cache '%s': %s", c->path, strerror(errno));
			goto out;
		}
	}
out:
	free(buf);
	return rc;
}

int sr_cache_open(const char *path, double fsync_interval, struct sr_cache **out,
                  struct sr_error *err)
{
	struct sr_cache *c = calloc(1, sizeof *c);
	int rc;

	*out = NULL;
	if (!c || !(c->path = strdup(path))) {
		free(c);
		return sr_fail(err, SR_ENOMEM, "out of memory opening cache '%s'", path);
	}
	c->fd = -1;
	c->fsync_interval = fsync_interval;
	c->last_sync = now_mono();
	if (mkdir_parents(path) < 0) {
		rc = sr_fail(err, SR_EIO, "cannot create the directory of cache '%s': %s", path,
		             strerror(errno));
		goto fail;
	}
	c->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (c->fd < 0) {
		rc = sr_fail(err, SR_EIO, "cannot open cache '%s': %s", path, strerror(errno));
		goto fail;
	}
	if ((rc = index_grow(c)) < 0) {
		sr_fail(err, rc, "out of memory opening cache '%s'", path);
		goto fail;
	}
	if (flock(c->fd, LOCK_EX) < 0) {
		rc = sr_fail(err, SR_EIO, "cannot lock cache '%s': %s", path, strerror(errno));
		goto fail;
	}
	rc = scan_file(c, err);
	flock(c->fd, LOCK_UN);
	if (rc < 0)
		goto fail;
	*out = c;
	return 0;
fail:
	if (c->fd >= 0)
		close(c->fd);
	free(c->slots);
	free(c->path);
	free(c);
	return rc;
}

int sr_cache_has(const struct sr_cache *c, struct sr_cache_key key)
{
	return c->slots[slot_index(c, key)].used;
}

int sr_cache_get(struct sr_cache *c, struct sr_cache_key key, json_t **value, struct sr_error *err)
{
	struct slot *s = &c->slots[slot_index(c, key)];
	char *buf;
	size_t got = 0;

	*value = NULL;
	if (!s->used)
		return 0;
	if (!(buf = malloc(s->len)))
		return sr_fail(err, SR_ENOMEM, "out of memory reading cache '%s'", c->path);
	while (got < s->len) {
		ssize_t r = pread(c->fd, buf + got, s->len - got, s->off + (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			int e = r < 0 ? errno : EIO;
			free(buf);
			return sr_fail(err, SR_EIO, "cannot read cache '%s': %s", c->path, strerror(e));
		}
		got += (size_t)r;
	}
	json_t *v = json_loadb(buf, s->len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
	free(buf);
	if (!json_is_object(v)) {
		/* A damaged line counts as a miss, so the response is fetched again. */
		json_decref(v);
		return 0;
	}
	json_object_del(v, "key");
	*value = v;
	return 1;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int sr_cache_put(struct sr_cache *c, struct sr_cache_key key, json_t *value, struct sr_error *err)
{
	char hex[33];
	char *dump;
	int rc = 0;

	if (!json_is_object(value))
		return sr_fail(err, SR_EUSAGE, "cache value is not a JSON object");
	if (!(dump = json_dumps(value, JSON_COMPACT)))
		return sr_fail(err, SR_ENOMEM, "out of memory writing cache '%s'", c->path);
	sr_cache_key_format(key, hex);

	/* {"key":"HEX"} or {"key":"HEX",<members of value>} and a newline. */
	size_t dlen = strlen(dump);
	size_t len = KEY_PREFIX_LEN + 32 + 1 + dlen + 1;
	char *line = malloc(len + 1);
	if (!line) {
		free(dump);
		return sr_fail(err, SR_ENOMEM, "out of memory writing cache '%s'", c->path);
	}
	size_t pos = 0;
	memcpy(line, KEY_PREFIX, KEY_PREFIX_LEN);
	pos += KEY_PREFIX_LEN;
	memcpy(line + pos, hex, 32);
	pos += 32;
	line[pos++] = '"';
	if (dlen > 2) {
		line[pos++] = ',';
		memcpy(line + pos, dump + 1, dlen - 1);
		pos += dlen - 1;
	} else {
		line[pos++] = '}';
	}
	line[pos++] = '\n';
	free(dump);

	if (flock(c->fd, LOCK_EX) < 0) {
		rc = sr_fail(err, SR_EIO, "cannot lock cache '%s': %s", c->path, strerror(errno));
		goto out;
	}
	off_t off = lseek(c->fd, 0, SEEK_END);
	if (off < 0 || write_all(c->fd, line, pos) < 0) {
		int e = errno;
		/* Leave no partial line behind for the next writer. */
		if (off >= 0 && ftruncate(c->fd, off) < 0)
			e = errno;
		flock(c->fd, LOCK_UN);
		rc = sr_fail(err, SR_EIO, "cannot write cache '%s': %s", c->path, strerror(e));
		goto out;
	}
	flock(c->fd, LOCK_UN);
	c->dirty = 1;
	if ((rc = index_set(c, key, off, pos - 1)) < 0) {
		sr_fail(err, rc, "out of memory indexing cache '%s'", c->path);
		goto out;
	}
	rc = sr_cache_tick(c, err);
out:
	free(line);
	return rc;
}

int sr_cache_sync(struct sr_cache *c, struct sr_error *err)
{
	if (!c->dirty)
		return 0;
	if (fsync(c->fd) < 0)
		return sr_fail(err, SR_EIO, "cannot fsync cache '%s': %s", c->path, strerror(errno));
	c->dirty = 0;
	c->last_sync = now_mono();
	return 0;
}

int sr_cache_tick(struct sr_cache *c, struct sr_error *err)
{
	if (c->dirty && now_mono() - c->last_sync >= c->fsync_interval)
		return sr_cache_sync(c, err);
	return 0;
}

size_t sr_cache_count(const struct sr_cache *c)
{
	return c->count;
}

size_t sr_cache_bad_lines(const struct sr_cache *c)
{
	return c->bad_lines;
}

int sr_cache_repaired(const struct sr_cache *c)
{
	return c->repaired;
}

const char *sr_cache_path(const struct sr_cache *c)
{
	return c->path;
}

int sr_cache_close(struct sr_cache *c, struct sr_error *err)
{
	int rc;

	if (!c)
		return 0;
	rc = sr_cache_sync(c, err);
	if (close(c->fd) < 0 && rc == 0)
		rc = sr_fail(err, SR_EIO, "cannot close cache '%s': %s", c->path, strerror(errno));
	free(c->slots);
	free(c->path);
	free(c);
	return rc;
}

int sr_cache_default_dir(char *buf, size_t cap, struct sr_error *err)
{
	const char *xdg = getenv("XDG_CACHE_HOME");
	const char *home = getenv("HOME");
	int n;

	/* The XDG base directory spec says a relative XDG_CACHE_HOME is invalid. */
	if (xdg && xdg[0] == '/')
		n = snprintf(buf, cap, "%s/srkit", xdg);
	else if (home && home[0])
		n = snprintf(buf, cap, "%s/.cache/srkit", home);
	else
		return sr_fail(err, SR_ENOTFOUND,
		               "no cache directory: neither XDG_CACHE_HOME nor HOME is set");
	if (n < 0 || (size_t)n >= cap)
		return sr_fail(err, SR_ETOOBIG, "cache directory name is too long");
	return 0;
}
