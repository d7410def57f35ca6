/*
 * util.h - small shared helpers: data-file lookup, the project's seeded
 * random number generator, hashing, a growable byte buffer, UTF-8 checks.
 */
#ifndef SR_UTIL_H
#define SR_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include "sr.h"

/* Find a data file (e.g. "guidelines/default.json") and write its path into
 * buf. Search order: $SRKIT_DATADIR, the install prefix's share/srkit, the
 * source tree the build came from. Returns 0 or SR_ENOTFOUND. */
int sr_data_path(const char *relpath, char *buf, size_t cap, struct sr_error *err);

/* Seeded generator (xoshiro256**, seeded through splitmix64). The same seed
 * gives the same sequence on every machine. Never rand(). */
struct sr_rng { uint64_t s[4]; };
void sr_rng_seed(struct sr_rng *r, uint64_t seed);
uint64_t sr_rng_next(struct sr_rng *r);
/* Uniform in [0, n) without modulo bias; n > 0. */
uint64_t sr_rng_below(struct sr_rng *r, uint64_t n);
/* Uniform double in [0, 1) with 53 random bits. */
double sr_rng_double(struct sr_rng *r);
/* Standard normal (Box-Muller, deterministic). */
double sr_rng_normal(struct sr_rng *r);

/* xxHash wrappers. */
uint64_t sr_hash64(const void *data, size_t len, uint64_t seed);
/* Derive a 64-bit value from a seed and a string key (e.g. per-record seeds). */
uint64_t sr_hash_mix(uint64_t seed, const char *key, uint64_t n);

/* Growable byte buffer. data is always NUL-terminated when non-NULL. */
struct sr_buf { char *data; size_t len, cap; };
int sr_buf_append(struct sr_buf *b, const void *p, size_t n);
int sr_buf_puts(struct sr_buf *b, const char *s);
int sr_buf_printf(struct sr_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sr_buf_reset(struct sr_buf *b);
void sr_buf_release(struct sr_buf *b);

/* Length of the valid UTF-8 prefix of s (== len when all valid).
 * Rejects overlongs, surrogates and code points above U+10FFFF. */
size_t sr_utf8_valid_prefix(const char *s, size_t len);

#endif
