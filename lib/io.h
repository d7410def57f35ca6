/*
 * io.h - byte streams: inputs that may be zstd-compressed (detected by the
 * magic number, not the name) and outputs that are checked on every write
 * and committed atomically.
 *
 * Ownership: sr_input_open and sr_output_open return new objects that the
 * caller frees with sr_input_free / sr_output_free (both accept NULL).
 */
#ifndef SR_IO_H
#define SR_IO_H

#include <stddef.h>
#include <sys/types.h>
#include "sr.h"

struct sr_input;

/* Open path for reading ("-" or NULL = standard input). A zstd frame magic at
 * the start switches to streaming decompression. */
int sr_input_open(const char *path, struct sr_input **out, struct sr_error *err);
/* Read up to cap decompressed bytes. Returns the count, 0 at end of input, or a
 * negative code (a truncated or corrupt zstd stream is SR_EDATA). */
ssize_t sr_input_read(struct sr_input *in, void *buf, size_t cap, struct sr_error *err);
/* The name used in messages: the path, or "-" for standard input. Borrowed. */
const char *sr_input_name(const struct sr_input *in);
int sr_input_is_zstd(const struct sr_input *in);
void sr_input_free(struct sr_input *in);

/* Read a whole (possibly compressed) file into a new NUL-terminated buffer,
 * refusing files larger than max bytes. Caller frees *data. */
int sr_read_file(const char *path, size_t max, char **data, size_t *len, struct sr_error *err);

struct sr_output;

enum sr_output_flags {
	SR_OUTPUT_ATOMIC = 1, /* write PATH.tmp.PID, rename over PATH on commit */
	SR_OUTPUT_APPEND = 2, /* append to an existing file (not with ATOMIC) */
	SR_OUTPUT_FSYNC = 4,  /* fsync before rename/close */
};

/* Open path for writing ("-" or NULL = standard output, never atomic).
 * SIGPIPE is ignored process-wide by the first call so that a closed pipe
 * shows up as SR_EPIPE from a write. */
int sr_output_open(const char *path, int flags, struct sr_output **out, struct sr_error *err);
/* Buffered write. Every failure is reported: EPIPE as SR_EPIPE, ENOSPC and
 * others as SR_EIO naming the file. */
int sr_output_write(struct sr_output *o, const void *buf, size_t len, struct sr_error *err);
int sr_output_printf(struct sr_output *o, struct sr_error *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Push buffered bytes to the kernel. */
int sr_output_flush(struct sr_output *o, struct sr_error *err);
/* Flush, fsync the file. */
int sr_output_sync(struct sr_output *o, struct sr_error *err);
/* Flush, (fsync,) close and for ATOMIC outputs rename into place. The object
 * stays allocated; free it with sr_output_free. */
int sr_output_commit(struct sr_output *o, struct sr_error *err);
/* Free; an uncommitted ATOMIC output's temporary file is removed. */
void sr_output_free(struct sr_output *o);
const char *sr_output_name(const struct sr_output *o);
/* Bytes written so far. */
uint64_t sr_output_bytes(const struct sr_output *o);

#endif
