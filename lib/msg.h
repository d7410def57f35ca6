/*
 * msg.h - the one place that prints diagnostics for the tools.
 *
 * Every line goes to standard error as "PROG: error: ...", "PROG: warning: ..."
 * or "PROG: ..." (notices). Standard output carries records only.
 * For tools, not for the library: lib/ code never calls these.
 */
#ifndef SR_MSG_H
#define SR_MSG_H

#include "sr.h"

/* Set the program name used as prefix (borrowed; must outlive all calls). */
void sr_msg_init(const char *progname);
const char *sr_msg_progname(void);

/* Verbosity: 0 = errors and warnings, 1 = notices (default), 2 = debug. */
extern int sr_msg_verbosity;

void sr_msg_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void sr_msg_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void sr_msg_notice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void sr_msg_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Print err as an error line: "PROG: error: FILE:LINE:COL: field 'F': MSG". */
void sr_msg_report(const struct sr_error *err);
/* Same, as a warning (used when a bad record is skipped). */
void sr_msg_report_warn(const struct sr_error *err);

/* Print a usage error and the hint "Try 'PROG --help'." and return SR_EXIT_USAGE. */
int sr_msg_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
