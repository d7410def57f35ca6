/*
 * dedup.h - exact and near-duplicate detection over key texts.
 *
 * A key text is one or more values joined by U+001F. It is normalised
 * (normalize.h), then reduced to a fingerprint: in exact mode the xxh3-128
 * hash of the normalised text, in near mode a MinHash signature of its
 * word or character n-grams. Fingerprinting touches no shared state, so
 * sr_dedup_fingerprint_batch runs it on several threads. sr_dedup_add then
 * decides one record at a time, in input order. A record is a duplicate
 * when it matches a record kept before it, so the first record of every
 * cluster is the one kept, whatever the thread count.
 *
 * Near mode finds candidates by LSH banding and accepts a candidate only
 * when the estimated Jaccard similarity of the two signatures reaches the
 * threshold. Only kept records are indexed, so every duplicate is within
 * the threshold of the record it names and band collisions cannot chain
 * records into large clusters.
 *
 * Ownership: sr_dedup_new returns an object freed with sr_dedup_free.
 * Fingerprints are caller-owned and released with sr_dedup_print_release.
 * Ids passed in are copied; an id returned by sr_dedup_add is borrowed from
 * the index and valid until the next call on it.
 */
#ifndef SR_DEDUP_H
#define SR_DEDUP_H

#include <stddef.h>
#include <stdint.h>
#include "sr.h"
#include "util.h"

enum sr_shingle { SR_SHINGLE_AUTO, SR_SHINGLE_WORD, SR_SHINGLE_CHAR };

struct sr_dedup_config {
	int near;              /* 0: exact (xxh3-128); 1: MinHash + LSH */
	unsigned norm;         /* SR_NORM_* flags */
	enum sr_shingle shingle; /* AUTO: characters when sr_text_is_unspaced, else words */
	int ngram;             /* n-gram length in words or characters */
	int permutations;      /* MinHash values per signature, 1..1024 */
	int bands;             /* LSH bands; must divide permutations */
	double threshold;      /* minimum estimated Jaccard similarity, 0..1 */
	uint64_t seed;         /* seeds the hash functions; part of the index */
	int keep_ids;          /* store kept ids, for duplicate_of and saved indexes */
};

#define SR_DEDUP_NGRAM_DEFAULT 3
#define SR_DEDUP_PERMUTATIONS_DEFAULT 128
#define SR_DEDUP_BANDS_DEFAULT 32
#define SR_DEDUP_THRESHOLD_DEFAULT 0.5

/* Fill cfg with exact mode, all normalisation steps and the near-mode
 * defaults above. */
void sr_dedup_config_init(struct sr_dedup_config *cfg);

/* The fingerprint of one key text. */
struct sr_dedup_print {
	uint64_t hash[2];   /* exact mode: xxh3-128 of the normalised text */
	uint32_t *sig;      /* near mode: [permutations] minimum hash values */
	int unspaced;       /* near mode: character n-grams were used */
	int error;          /* 0, or the SR_E* code fingerprinting failed with */
};

struct sr_dedup;

/* Create an empty index. keyspec names the key (the --key values joined by
 * commas); it is stored in saved indexes and checked on load. SR_EUSAGE
 * for parameters out of range. */
int sr_dedup_new(const struct sr_dedup_config *cfg, const char *keyspec, struct sr_dedup **out,
                 struct sr_error *err);
void sr_dedup_free(struct sr_dedup *d);

/* Compute the fingerprint of one key text into fp (allocating fp->sig on
 * first use). scratch is a caller-owned buffer for the normalised text.
 * Returns 0, SR_EDATA for invalid UTF-8, or SR_ENOMEM. */
int sr_dedup_fingerprint(const struct sr_dedup *d, const char *text, size_t len,
                         struct sr_dedup_print *fp, struct sr_buf *scratch, struct sr_error *err);

/* Fingerprint n texts on up to threads threads (0 = all processors). Each
 * fp[i].error is set; the return value is 0 or SR_ENOMEM. */
int sr_dedup_fingerprint_batch(const struct sr_dedup *d, const char *const *texts,
                               const size_t *lens, size_t n, struct sr_dedup_print *fp,
                               int threads);

void sr_dedup_print_release(struct sr_dedup_print *fp);

/* A kept record that a new one duplicates. */
struct sr_dedup_match {
	const char *id;     /* its id (borrowed, valid until the next call); "" without keep_ids */
	size_t kept;        /* its number: records loaded from indexes come first */
	double similarity;  /* estimated Jaccard similarity; 1 in exact mode */
};

/* Decide one record. Returns 1 when fp duplicates a kept record, which
 * *match then describes. Returns 0 when the record is new: it is kept and
 * indexed under id. SR_ETOOBIG past 2^32 - 2 kept records, SR_ENOMEM. */
int sr_dedup_add(struct sr_dedup *d, const struct sr_dedup_print *fp, const char *id,
                 size_t idlen, struct sr_dedup_match *match, struct sr_error *err);

/* Number of kept records, those loaded from indexes included. */
size_t sr_dedup_count(const struct sr_dedup *d);
/* Bytes allocated by the index. */
size_t sr_dedup_memory(const struct sr_dedup *d);

/* Write every kept record's fingerprint and id to path, atomically. The
 * file records the mode, normalisation, key, shingling, n-gram length,
 * permutation count and seed. Requires keep_ids. */
int sr_dedup_save(const struct sr_dedup *d, const char *path, struct sr_error *err);
/* Add the records of a saved index as kept records. SR_EUSAGE when the
 * index was built with other parameters, SR_EDATA when it is not an index
 * or fails its checksum. */
int sr_dedup_load(struct sr_dedup *d, const char *path, struct sr_error *err);

/* Append the value at key (a top-level member name, or a JSON Pointer
 * starting with "/") of rec to out: a string's text, any other value's
 * compact JSON built from its input bytes, so number texts stay as
 * written. A number or literal is preceded by U+001E, which tells
 * sr_normalize to keep it unchanged, and a string that starts with U+001E
 * gets a second one. SR_ENOTFOUND when the record has no such value, with
 * the key in err->field. */
struct sr_record;
int sr_dedup_key_append(struct sr_record *rec, const char *key, struct sr_buf *out,
                        struct sr_error *err);

#endif
