/* util.c - data-file lookup, seeded RNG, hashing, byte buffers, UTF-8. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>
#include "util.h"

#ifndef SR_PKGDATADIR
#define SR_PKGDATADIR "/usr/local/share/srkit"
#endif
#ifndef SR_SRCDIR
#define SR_SRCDIR "."
#endif

static int try_path(const char *dir, const char *rel, char *buf, size_t cap)
{
	if (!dir || !*dir)
		return 0;
	if ((size_t)snprintf(buf, cap, "%s/%s", dir, rel) >= cap)
		return 0;
	return access(buf, R_OK) == 0;
}

int sr_data_path(const char *relpath, char *buf, size_t cap, struct sr_error *err)
{
	if (try_path(getenv("SRKIT_DATADIR"), relpath, buf, cap) ||
	    try_path(SR_PKGDATADIR, relpath, buf, cap) ||
	    try_path(SR_SRCDIR, relpath, buf, cap))
		return 0;
	return sr_fail(err, SR_ENOTFOUND,
	               "data file '%s' not found in $SRKIT_DATADIR, '%s' or '%s'",
	               relpath, SR_PKGDATADIR, SR_SRCDIR);
}

/* ---- random numbers: xoshiro256** seeded through splitmix64 ---- */

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

void sr_rng_seed(struct sr_rng *r, uint64_t seed)
{
	uint64_t x = seed;
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t sr_rng_next(struct sr_rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

uint64_t sr_rng_below(struct sr_rng *r, uint64_t n)
{
	/* Rejection sampling: discard the top partial range. */
	uint64_t limit = UINT64_MAX - UINT64_MAX % n;
	uint64_t x;
	do
		x = sr_rng_next(r);
	while (x >= limit);
	return x % n;
}

double sr_rng_double(struct sr_rng *r)
{
	return (double)(sr_rng_next(r) >> 11) * 0x1.0p-53;
}

double sr_rng_normal(struct sr_rng *r)
{
	double u1, u2;
	do
		u1 = sr_rng_double(r);
	while (u1 <= 0.0);
	u2 = sr_rng_double(r);
	return sqrt(-2.0 * log(u1)) * cos(2.0 * 3.14159265358979323846 * u2);
}

/* ---- hashing ---- */

uint64_t sr_hash64(const void *data, size_t len, uint64_t seed)
{
	return XXH64(data, len, seed);
}

uint64_t sr_hash_mix(uint64_t seed, const char *key, uint64_t n)
{
	uint64_t h = XXH64(key, strlen(key), seed);
	uint64_t x = h ^ (n * 0x9E3779B97F4A7C15ULL);
	return splitmix64(&x);
}

/* ---- byte buffers ---- */

static int buf_reserve(struct sr_buf *b, size_t extra)
{
	size_t need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	size_t ncap = b->cap ? b->cap : 64;
	while (ncap < need)
		ncap *= 2;
	char *nd = realloc(b->data, ncap);
	if (!nd)
		return SR_ENOMEM;
	b->data = nd;
	b->cap = ncap;
	return 0;
}

int sr_buf_append(struct sr_buf *b, const void *p, size_t n)
{
	if (buf_reserve(b, n) < 0)
		return SR_ENOMEM;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int sr_buf_puts(struct sr_buf *b, const char *s)
{
	return sr_buf_append(b, s, strlen(s));
}

int sr_buf_printf(struct sr_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || buf_reserve(b, (size_t)n) < 0)
		return SR_ENOMEM;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

void sr_buf_reset(struct sr_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void sr_buf_release(struct sr_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

/* ---- UTF-8 ---- */

size_t sr_utf8_valid_prefix(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;
	while (i < len) {
		unsigned c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t n;
		unsigned cp;
		if (c >= 0xC2 && c <= 0xDF) {
			n = 2;
			cp = c & 0x1F;
		} else if (c >= 0xE0 && c <= 0xEF) {
			n = 3;
			cp = c & 0x0F;
		} else if (c >= 0xF0 && c <= 0xF4) {
			n = 4;
			cp = c & 0x07;
		} else {
			return i;
		}
		if (i + n > len)
			return i;
		for (size_t k = 1; k < n; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return i;
			cp = (cp << 6) | (s[i + k] & 0x3F);
		}
		if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
		    (cp >= 0xD800 && cp <= 0xDFFF))
			return i;
		i += n;
	}
	return i;
}
