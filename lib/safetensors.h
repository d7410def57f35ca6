/*
 * safetensors.h - read and write the safetensors format: an 8-byte
 * little-endian header length, a JSON header mapping each tensor name to
 * its dtype, shape and byte range, an optional "__metadata__" object of
 * strings, then the raw little-endian tensor bytes.
 *
 * Reading converts F32, BF16 and F16 tensors to float32. Writing stores
 * float32 data as F32 or BF16 (rounded to nearest even).
 *
 * Ownership: sr_st_open returns a new reader freed with sr_st_close
 * (accepts NULL); names and metadata it returns are borrowed from it.
 * sr_st_write borrows everything it is given.
 */
#ifndef SR_SAFETENSORS_H
#define SR_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "sr.h"

#define SR_ST_MAX_DIMS 8
/* Largest header accepted (100 MB), a cap against hostile files. */
#define SR_ST_MAX_HEADER ((uint64_t)100 * 1000 * 1000)

enum sr_st_dtype { SR_ST_F32, SR_ST_BF16, SR_ST_F16, SR_ST_OTHER };

struct sr_st_tensor {
	const char *name;          /* borrowed from the reader */
	enum sr_st_dtype dtype;
	char dtype_name[16];       /* as written in the header, e.g. "F32" */
	int ndim;
	int64_t shape[SR_ST_MAX_DIMS];
	size_t numel;
	uint64_t begin, end;       /* byte range within the data section */
};

struct sr_st_reader;

/* Open path and parse its header. Overlapping or out-of-range byte ranges,
 * a size that does not match dtype and shape, and a malformed header are
 * SR_EDATA naming the file. */
int sr_st_open(const char *path, struct sr_st_reader **out, struct sr_error *err);
/* Number of tensors and the i-th one (in header order). */
size_t sr_st_count(const struct sr_st_reader *r);
const struct sr_st_tensor *sr_st_at(const struct sr_st_reader *r, size_t i);
/* The tensor called name, or NULL. */
const struct sr_st_tensor *sr_st_find(const struct sr_st_reader *r, const char *name);
/* The metadata string for key, or NULL. */
const char *sr_st_metadata(const struct sr_st_reader *r, const char *key);
/* Read tensor name converted to float32 into dst (numel floats). A tensor
 * that is missing (SR_ENOTFOUND), of another element count or of an
 * unsupported dtype (SR_EDATA) leaves dst unspecified. */
int sr_st_read_f32(struct sr_st_reader *r, const char *name, float *dst, size_t numel,
                   struct sr_error *err);
void sr_st_close(struct sr_st_reader *r);

/* A tensor to write: float32 data borrowed from the caller. */
struct sr_st_entry {
	const char *name;
	int ndim;
	int64_t shape[SR_ST_MAX_DIMS];
	const float *data;
};

/* Write entries to path atomically (temporary file, then rename), as dtype
 * SR_ST_F32 or SR_ST_BF16. metadata, if not NULL, is an object of string
 * values stored as "__metadata__". Duplicate names are SR_EUSAGE. */
int sr_st_write(const char *path, const struct sr_st_entry *entries, size_t n,
                enum sr_st_dtype dtype, const json_t *metadata, struct sr_error *err);

/* Conversions used by the reader and writer. */
float sr_bf16_to_f32(uint16_t h);
uint16_t sr_f32_to_bf16(float f);
float sr_f16_to_f32(uint16_t h);

#endif
