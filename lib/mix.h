/*
 * mix.h - turning sample records into training examples and mixing them:
 * exact per-source counts or ratios, a seeded shuffle, and a validation
 * split stratified by source and label and grouped by prompt id.
 *
 * Memory: the mixer keeps each example's bytes in a spill file, created
 * in a directory the caller names and unlinked at once. Memory holds only
 * a fixed-size entry per example (struct sr_mix_entry, 56 bytes) and one
 * copy of each distinct mix key, source, label and guideline set name.
 * Selection and splitting work on the entries.
 *
 * Determinism: the order of examples is the order of a keyed XXH64 of
 * (id, sample) under the seed, and ties between equal keys fall back to the
 * example's bytes, so neither the order of the input files nor the order of
 * records within a source changes the output.
 *
 * Ownership: sr_mix_new returns a new mixer freed by sr_mix_free (accepts
 * NULL). Strings passed in are copied. Lines returned by sr_mix_read are
 * borrowed until the next call.
 */
#ifndef SR_MIX_H
#define SR_MIX_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "sr.h"
#include "record.h"
#include "shard.h"
#include "util.h"

enum sr_mix_format {
	SR_MIX_SRG,       /* assistant = open tag, reasoning, close tag, answer */
	SR_MIX_RT,        /* assistant = answer only (refusal-training control) */
	SR_MIX_RAW,       /* input records unchanged */
	SR_MIX_ALPACA,    /* instruction/input/output/system, output as in srg */
	SR_MIX_ALPACA_RT, /* the same with the answer only */
};

/* Parse "srg", "rt", "raw", "alpaca" or "alpaca-rt"; 0 or SR_EUSAGE. */
int sr_mix_format_parse(const char *name, enum sr_mix_format *out);
const char *sr_mix_format_name(enum sr_mix_format f);

/* Append rec as one training example line (with '\n') to out. system may
 * be NULL. A record missing a field the format needs (query, answer, and
 * for srg the reasoning and guidelines.tags) is SR_EDATA with err->field
 * naming it. */
int sr_mix_format_record(struct sr_record *rec, enum sr_mix_format f, const char *system,
                         struct sr_buf *out, struct sr_error *err);

/* A quota by mix key: an exact count (--take) or a weight (--ratio). */
struct sr_mix_quota {
	const char *key;
	uint64_t count;
	double weight;
};

struct sr_mix_params {
	uint64_t seed;
	const struct sr_mix_quota *take;  /* exact counts, or NULL */
	size_t ntake;
	const struct sr_mix_quota *ratio; /* weights of total, or NULL */
	size_t nratio;
	uint64_t total;                   /* with ratio */
	int replace;                      /* sample with replacement */
	uint64_t val;                     /* validation records (from val_fraction if < 0) */
	double val_fraction;              /* used when val_fraction >= 0 */
	const char *spill_dir;            /* where the spill file is created */
};

enum { SR_MIX_TRAIN = 0, SR_MIX_VAL = 1 };

struct sr_mix;

int sr_mix_new(const struct sr_mix_params *p, struct sr_mix **out, struct sr_error *err);
void sr_mix_free(struct sr_mix *m);

/* Add one example: its mix key (the --by field's value), source, label,
 * prompt id, sample index (-1 when none) and bytes (one line with '\n').
 * A NULL source or label counts as "" in the statistics. */
int sr_mix_add(struct sr_mix *m, const char *key, const char *source, const char *label,
               const char *id, int64_t sample, const char *line, size_t len,
               struct sr_error *err);
/* Note a guideline set and version seen in the input (for the manifest). */
int sr_mix_note_guidelines(struct sr_mix *m, const char *set, const char *version,
                           struct sr_error *err);

/* Apply the quotas, shuffle, and split. SR_EDATA when a key is too small
 * for its quota or the split cannot be made; err->message names which. */
int sr_mix_select(struct sr_mix *m, struct sr_error *err);

/* After sr_mix_select: number of examples in a split, and the i-th one's
 * bytes (borrowed until the next call). */
uint64_t sr_mix_count(const struct sr_mix *m, int split);
int sr_mix_read(struct sr_mix *m, int split, uint64_t i, const char **line, size_t *len,
                struct sr_error *err);

/* Write one split as DIR/train-00000.jsonl.zst, ... (or val-...), starting
 * a new shard before a record that would take the current one past
 * max_records records or max_bytes uncompressed bytes (0 = no cap). Appends
 * each shard's manifest entry to shards. Nothing is written for an empty
 * split. */
int sr_mix_write_shards(struct sr_mix *m, int split, const char *dir,
                        const struct sr_shard_params *sp, uint64_t max_records,
                        uint64_t max_bytes, json_t *shards, struct sr_error *err);

/* Counts after sr_mix_select. */
uint64_t sr_mix_added(const struct sr_mix *m);
uint64_t sr_mix_not_selected(const struct sr_mix *m); /* added but not drawn */
uint64_t sr_mix_repeats(const struct sr_mix *m);      /* extra copies under replace */

/* Per-split counts by source and by label, and the guideline sets, as a
 * new JSON object with names in byte order:
 *   {"train": N, "val": N,
 *    "sources": {NAME: {"train": N, "val": N}}, "labels": {...},
 *    "keys": {KEY: {"available": N, "selected": N}}} */
json_t *sr_mix_counts_json(const struct sr_mix *m);
/* [{"set": NAME, "version": V}, ...] in byte order (new reference). */
json_t *sr_mix_guidelines_json(const struct sr_mix *m);

#endif
