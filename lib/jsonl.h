/*
 * jsonl.h - a streaming line reader for JSON Lines.
 *
 * Lines of any length up to a cap (default 1 GiB) are returned whole. A
 * trailing CR and a UTF-8 BOM at the start of the input are removed, and
 * blank lines (only spaces, tabs, CR) are skipped and counted. The line
 * returned is borrowed and valid until the next call.
 */
#ifndef SR_JSONL_H
#define SR_JSONL_H

#include <stddef.h>
#include "sr.h"
#include "io.h"

#define SR_LINE_MAX_DEFAULT ((size_t)1 << 30)

struct sr_line {
	const char *data; /* the line without its newline; data[len] == '\0' */
	size_t len;
	long lineno;      /* 1-based physical line number in the input */
};

struct sr_reader;

/* Open path ("-" = stdin) as a line reader; zstd input is decompressed. */
int sr_reader_open(const char *path, size_t max_line, struct sr_reader **out, struct sr_error *err);
/* Next non-blank line: 1 = *line set, 0 = end of input, <0 error (err names file and line). */
int sr_reader_next(struct sr_reader *r, struct sr_line *line, struct sr_error *err);
/* Make over-long lines recoverable: instead of stopping the reader, a line
 * longer than max_line is read through to its newline, its bytes are passed
 * to sink (when not NULL) in chunks, and sr_reader_next returns SR_ETOOBIG
 * for that line only; the next call continues with the following line. A
 * negative return from sink is returned as the error. */
typedef int (*sr_reader_sink)(void *ctx, const char *bytes, size_t len);
void sr_reader_skip_long_lines(struct sr_reader *r, sr_reader_sink sink, void *ctx);
const char *sr_reader_name(const struct sr_reader *r);
long sr_reader_blank_lines(const struct sr_reader *r);
void sr_reader_free(struct sr_reader *r);

#endif
