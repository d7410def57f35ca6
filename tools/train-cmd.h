/*
 * train-cmd.h - the subcommands of sr-train, one function each, returning
 * a process exit status.
 */
#ifndef SR_TRAIN_TOOL_H
#define SR_TRAIN_TOOL_H

#include <stddef.h>
#include <stdint.h>

int sr_train_cmd_init(int argc, char **argv);
int sr_train_cmd_eval(int argc, char **argv);
int sr_train_cmd_generate(int argc, char **argv);

/* Apply --threads; returns 0 or the usage exit status. */
int sr_train_set_threads(const char *arg);

/* Options that every subcommand takes, at values no subcommand uses for
 * its own options. */
enum { SR_TRAIN_OPT_THREADS = 0x1f0, SR_TRAIN_OPT_VERSION };

#define SR_TRAIN_COMMON_OPTIONS \
	{"threads", required_argument, NULL, SR_TRAIN_OPT_THREADS}, \
	{"quiet", no_argument, NULL, 'q'}, \
	{"help", no_argument, NULL, 'h'}, \
	{"version", no_argument, NULL, SR_TRAIN_OPT_VERSION}

#define SR_TRAIN_COMMON_HELP \
	"  --threads N          OpenMP threads (default: all cores)\n" \
	"  -q, --quiet          no progress bar or notices\n" \
	"  -h, --help           show this help; --version the version\n"

/* Apply option c when it is one of SR_TRAIN_COMMON_OPTIONS: -q lowers the
 * message verbosity, --threads sets the OpenMP threads, and --help prints
 * usage to stdout. Returns 0 when c is not a common option, 1 when it was
 * applied, or 2 when the subcommand must return *status now (after --help,
 * --version or an invalid --threads). */
int sr_train_common_option(int c, const char *arg, const char *usage, int *status);
/* Format a byte count as "12.3 MiB". */
void sr_train_human_bytes(uint64_t b, char *buf, size_t cap);

#endif
