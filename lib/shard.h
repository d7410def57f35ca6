/*
 * shard.h - the shard format: JSON Lines compressed with zstd as a sequence
 * of independent frames, plus the manifest.json that lists every shard.
 *
 * A shard is a file of zstd frames. Each frame contains whole lines only
 * (a record never spans two frames), carries its content size and zstd's own
 * content checksum, and is at most frame_bytes long before compression
 * unless one record alone is longer. Damage therefore costs at most the
 * records of one frame, and `zstd -d` or any zstd reader decompresses a
 * shard as ordinary concatenated frames.
 *
 * The writer compresses frames on worker threads while the caller adds
 * records, and writes them in order, so the bytes do not depend on the
 * thread count. It writes to PATH.tmp.PID and renames over PATH on commit, so a
 * killed run never leaves a shard that looks complete.
 *
 * Checksums are XXH64 with seed 0, written as 16 lowercase hex digits: the
 * whole file's bytes, and each frame's compressed bytes.
 *
 * Ownership: sr_shard_writer_open and sr_shard_reader_open return new
 * objects freed by the matching _free (both accept NULL). The frames array
 * of a struct sr_shard_info belongs to the info and is freed by
 * sr_shard_info_release. Manifests are jansson values; sr_manifest_read
 * returns a new reference, sr_manifest_write borrows.
 */
#ifndef SR_SHARD_H
#define SR_SHARD_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "sr.h"

#define SR_SHARD_FRAME_BYTES_DEFAULT ((size_t)1 << 20)
/* Largest decompressed frame a reader accepts. */
#define SR_SHARD_FRAME_MAX ((uint64_t)1 << 31)

struct sr_shard_params {
	int level;          /* zstd level, 1..19 (ZSTD_maxCLevel() accepted) */
	size_t frame_bytes; /* uncompressed bytes per frame before it is cut */
	int threads;        /* compression threads; 0 = one per online CPU */
};

struct sr_shard_frame {
	uint64_t offset;  /* byte offset of the frame in the file */
	uint64_t bytes;   /* compressed size */
	uint64_t records; /* lines in the frame */
	uint64_t xxh64;   /* of the compressed bytes */
};

struct sr_shard_info {
	uint64_t records;   /* lines in the shard */
	uint64_t bytes;     /* file size (compressed) */
	uint64_t raw_bytes; /* JSONL bytes before compression */
	uint64_t xxh64;     /* of the whole file */
	struct sr_shard_frame *frames;
	size_t nframes;
};

void sr_shard_info_init(struct sr_shard_info *info);
void sr_shard_info_release(struct sr_shard_info *info);

/* Fill p with the defaults: level 3, 1 MiB frames, default threads. */
void sr_shard_params_init(struct sr_shard_params *p);

struct sr_shard_writer;

/* Create PATH.tmp.PID for writing. */
int sr_shard_writer_open(const char *path, const struct sr_shard_params *p,
                         struct sr_shard_writer **out, struct sr_error *err);
/* Append one record: line[0..len) must be one complete line ending in '\n'
 * (SR_EDATA otherwise). The line is copied. */
int sr_shard_writer_add(struct sr_shard_writer *w, const char *line, size_t len,
                        struct sr_error *err);
/* Uncompressed bytes added so far. */
uint64_t sr_shard_writer_raw_bytes(const struct sr_shard_writer *w);
/* Compress what is left, fsync, rename into place and fill info (which the
 * caller releases). After a failure the temporary file is removed by
 * sr_shard_writer_free and PATH is untouched. */
int sr_shard_writer_commit(struct sr_shard_writer *w, struct sr_shard_info *info,
                           struct sr_error *err);
void sr_shard_writer_free(struct sr_shard_writer *w);

struct sr_shard_reader;

/* Open a shard for reading frame by frame (the file is mapped). */
int sr_shard_reader_open(const char *path, struct sr_shard_reader **out, struct sr_error *err);
/* Decompress the next frame: 1 = *data and *len hold its lines (borrowed until
 * the next call) and *frame its position, 0 = end of file, <0 = damage
 * (SR_EDATA) with err naming the frame number (from 0) and byte offset. */
int sr_shard_reader_next(struct sr_shard_reader *r, const char **data, size_t *len,
                         struct sr_shard_frame *frame, struct sr_error *err);
/* Index of the frame the next call reads (frames read so far). */
size_t sr_shard_reader_frame_index(const struct sr_shard_reader *r);
uint64_t sr_shard_reader_size(const struct sr_shard_reader *r);
void sr_shard_reader_free(struct sr_shard_reader *r);

/* Check the shard at path against its manifest entry (an object with
 * file, records, bytes, xxh64 and frames). Returns 0, SR_EDATA with
 * err->message naming the frame on a mismatch or damage, or SR_EIO. */
int sr_shard_verify(const char *path, json_t *entry, struct sr_error *err);

/* Callback of sr_shard_verify_each: receives the lines of frame k, borrowed
 * until it returns, once the frame has matched its manifest entry. A
 * negative return (with err filled) stops the check with that code. */
typedef int (*sr_shard_frame_fn)(void *ctx, const char *data, size_t len, size_t k,
                                 const struct sr_shard_frame *frame, struct sr_error *err);
/* sr_shard_verify that also hands every good frame to fn (NULL for none),
 * so a caller can check the records without reading the shard twice. */
int sr_shard_verify_each(const char *path, json_t *entry, sr_shard_frame_fn fn, void *ctx,
                         struct sr_error *err);

/* The manifest entry for a shard (new reference). */
json_t *sr_shard_info_json(const struct sr_shard_info *info, const char *split, const char *file);

/* Format h as 16 lowercase hex digits into buf (17 bytes). */
void sr_xxh64_hex(uint64_t h, char buf[17]);
/* Parse 16 hex digits; 0 or SR_EDATA. */
int sr_xxh64_parse(const char *s, uint64_t *out);
/* XXH64 of a whole file's bytes. */
int sr_xxh64_file(const char *path, uint64_t *out, struct sr_error *err);

/* Write DIR/manifest.json atomically: two-space indent, members in the
 * order they were inserted, a final newline. */
int sr_manifest_write(const char *dir, json_t *manifest, struct sr_error *err);
/* Read DIR/manifest.json and validate it against schemas/manifest.schema.json. */
int sr_manifest_read(const char *dir, json_t **out, struct sr_error *err);

#endif
