/*
 * sr.h - error codes and the error detail struct shared by all of libsrkit.
 *
 * Ownership: struct sr_error is caller-owned and plain data; functions that
 * take one fill it on failure and leave it alone on success. Every library
 * function that can fail returns 0 (or a positive count) on success and a
 * negative SR_E* code on failure. The library never prints and never exits.
 */
#ifndef SR_SR_H
#define SR_SR_H

#include <stddef.h>
#include <stdint.h>

enum sr_code {
	SR_OK = 0,
	SR_EDATA = -1,     /* invalid input data (exit 1) */
	SR_EUSAGE = -2,    /* bad option or argument (exit 2) */
	SR_EIO = -3,       /* read/write/system failure (exit 3) */
	SR_ENOMEM = -4,    /* allocation failed (exit 3) */
	SR_ETOOBIG = -5,   /* an input exceeded a configured cap (exit 1) */
	SR_EPIPE = -6,     /* the reader of our output went away (exit 0) */
	SR_EENDPOINT = -7, /* a remote endpoint failed (exit 3) */
	SR_ENOTFOUND = -8, /* a named guideline set, schema or field does not exist
	                      (exit 1); a missing input file is SR_EIO (exit 3) */
	SR_ESCHEMA = -9,   /* a record violates its JSON Schema (exit 1) */
};

/* Exit statuses, the same for every tool. */
enum sr_exit {
	SR_EXIT_OK = 0,
	SR_EXIT_DATA = 1,
	SR_EXIT_USAGE = 2,
	SR_EXIT_IO = 3,
};

/* Error detail. Empty strings and zero numbers mean "unknown". */
struct sr_error {
	int code;           /* the SR_E* code returned with it */
	char file[512];     /* input file name, "-" for standard input */
	long line;          /* 1-based line number */
	long column;        /* 1-based byte column within the line */
	char field[256];    /* field name or JSON Pointer */
	char message[1024]; /* what went wrong, without the location */
};

/* Fill err's code and message (err may be NULL) and return code, so
 * `return sr_fail(...)` reads naturally. The location fields are left as
 * they are: clear a reused struct with sr_error_clear first. */
int sr_fail(struct sr_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Reset err to "no error". Accepts NULL. */
void sr_error_clear(struct sr_error *err);

/* Format err as "FILE:LINE:COL: field 'F': MESSAGE" (parts omitted when unknown). */
void sr_error_format(const struct sr_error *err, char *buf, size_t cap);

/* Name of a code, e.g. "invalid input data". */
const char *sr_strerror(int code);

/* Map an SR_E* code (or 0) to the process exit status. */
int sr_exit_status(int code);

#endif
