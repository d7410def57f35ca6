/*
 * opt.h - option values shared by every tool: number parsing with overflow
 * checks and size suffixes, --help/--version output, and the common
 * record-stream options (--on-error, --quarantine, --stats, -o).
 */
#ifndef SR_OPT_H
#define SR_OPT_H

#include <stdint.h>
#include <stdio.h>

/* Parse a non-negative integer. With suffixes, K/M/G/T (powers of 1024, also
 * "KiB", "k") multiply. Returns 0, or SR_EUSAGE on junk, sign or overflow. */
int sr_parse_u64(const char *s, int allow_suffix, uint64_t *out);
/* Parse an int in [min, max]. */
int sr_parse_int(const char *s, long min, long max, long *out);
/* Parse a finite double in [min, max]. */
int sr_parse_double(const char *s, double min, double max, double *out);

/* Print "PROG (srkit) VERSION" to stdout. */
void sr_print_version(const char *prog);

#endif
