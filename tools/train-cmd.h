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
/* Format a byte count as "12.3 MiB". */
void sr_train_human_bytes(uint64_t b, char *buf, size_t cap);

#endif
