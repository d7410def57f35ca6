/*
 * cache.h - an append-only file of responses, one JSON object per line,
 * looked up by a 128-bit key.
 *
 * Each line is {"key":"<32 hex digits>", ...value members...}. The file is
 * only ever appended to, each line with a single write(2) under an
 * exclusive flock(2), so several processes may share one cache file. On
 * open the whole file is indexed (key -> offset), and a last line that a
 * crash cut short is removed. A later line for the same key replaces an
 * earlier one. Lines that are not valid JSON objects with a key are
 * skipped and counted, never fatal.
 *
 * Durability: sr_cache_put returns once the line is in the kernel (so it
 * survives the process being killed), and fsyncs when the last fsync is
 * older than the configured interval; sr_cache_tick and sr_cache_close
 * fsync whatever is still unsynced (so it survives a power loss too).
 *
 * Ownership: sr_cache_open returns a cache freed by sr_cache_close.
 * sr_cache_get returns a new reference; sr_cache_put borrows its value.
 */
#ifndef SR_CACHE_H
#define SR_CACHE_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "sr.h"

struct sr_cache_key {
	uint64_t hi, lo;
};

struct sr_cache;

/* Hash of the parts that identify one response: the endpoint URL, the
 * model, the exact request body bytes and the sample index. */
struct sr_cache_key sr_cache_key_make(const char *endpoint, const char *model,
                                      const char *body, size_t body_len, int sample);

/* Write the key as 32 lowercase hex digits and a NUL into buf[33]. */
void sr_cache_key_format(struct sr_cache_key key, char buf[33]);

/* Open (creating it and its parent directories) and index path. A cut last
 * line is truncated away. fsync_interval is in seconds (0 = fsync every
 * put). SR_EIO naming the file on failure. */
int sr_cache_open(const char *path, double fsync_interval, struct sr_cache **out,
                  struct sr_error *err);

/* Look key up: 1 and a new reference in *value (the stored object without
 * its "key" member), 0 when absent, or SR_EIO when the file cannot be read. */
int sr_cache_get(struct sr_cache *c, struct sr_cache_key key, json_t **value, struct sr_error *err);
int sr_cache_has(const struct sr_cache *c, struct sr_cache_key key);

/* Append value (a JSON object, borrowed) under key. Returns 0 once the line
 * is written to the kernel, or SR_EIO (the cache is unchanged in memory). */
int sr_cache_put(struct sr_cache *c, struct sr_cache_key key, json_t *value, struct sr_error *err);

/* Fsync if anything was written since the last fsync and the interval has
 * passed. Call it regularly, for example once per event-loop turn. */
int sr_cache_tick(struct sr_cache *c, struct sr_error *err);
/* Fsync now if anything is unsynced. */
int sr_cache_sync(struct sr_cache *c, struct sr_error *err);

/* Counts for messages and statistics. */
size_t sr_cache_count(const struct sr_cache *c);       /* distinct keys */
size_t sr_cache_bad_lines(const struct sr_cache *c);   /* lines skipped on open */
int sr_cache_repaired(const struct sr_cache *c);       /* 1 if a cut last line was removed */
const char *sr_cache_path(const struct sr_cache *c);

/* Fsync and close. Returns 0 or SR_EIO; c is freed either way. Accepts NULL. */
int sr_cache_close(struct sr_cache *c, struct sr_error *err);

/* The default cache directory: $XDG_CACHE_HOME/srkit, else $HOME/.cache/srkit.
 * SR_ENOTFOUND when neither variable is set. */
int sr_cache_default_dir(char *buf, size_t cap, struct sr_error *err);

#endif
