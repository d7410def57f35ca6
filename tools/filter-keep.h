/*
 * filter-keep.h - sr-filter's --keep-best K: at most K passing samples per
 * prompt id, the best by score.
 *
 * Records arrive as a stream. Consecutive records with the same id form a
 * group; the buffer holds at most K serialised records of the current group
 * (the K best so far), so memory is K records whatever the group size. When
 * the id changes, the group's survivors are written in input order. An id
 * that comes back later (input not grouped by id) gets only the slots its
 * earlier groups left, which needs one table entry per distinct id.
 *
 * Ownership: keep_new returns a buffer freed by keep_free. Lines passed in
 * are copied. Evicted records are handed to the evict callback, which
 * borrows the line for the duration of the call.
 */
#ifndef SR_FILTER_KEEP_H
#define SR_FILTER_KEEP_H

#include <stddef.h>
#include <stdint.h>
#include "sr.h"

struct keep;

/* Write one kept line (called at group end, in input order). */
typedef int (*keep_emit_fn)(void *user, const char *line, size_t len, struct sr_error *err);
/* A record that lost its place (or never got one). */
typedef int (*keep_evict_fn)(void *user, const char *line, size_t len, struct sr_error *err);

struct keep *keep_new(size_t k, keep_emit_fn emit, keep_evict_fn evict, void *user);
void keep_free(struct keep *kb);

/* Offer a passing record with its prompt id and score. Ties keep the
 * earlier record. Returns 0 or a negative code from a callback. */
int keep_offer(struct keep *kb, const char *id, const char *line, size_t len, double score,
               struct sr_error *err);
/* Write out the current group (at end of input). */
int keep_flush(struct keep *kb, struct sr_error *err);
uint64_t keep_dropped(const struct keep *kb);
size_t keep_ids(const struct keep *kb);

#endif
