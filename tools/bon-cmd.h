/*
 * bon-cmd.h - the subcommands of sr-bon, one entry point each. Every
 * subcommand takes its own argv (argv[0] is the subcommand name) and
 * returns the process exit status.
 */
#ifndef SR_BON_CMD_H
#define SR_BON_CMD_H

#include <jansson.h>
#include "bon.h"
#include "run.h"

int bon_sample_main(int argc, char **argv);
int bon_judge_main(int argc, char **argv);
int bon_score_main(int argc, char **argv);
int bon_plot_main(int argc, char **argv);
int bon_convert_main(int argc, char **argv);
int bon_run_main(int argc, char **argv);

/* Scoring steps shared by `score` and `run` (bon-score.c). */
int bon_score_option(struct sr_bon_options *o, int opt, const char *arg);
int bon_score_read(struct sr_run *run, struct sr_bon *b, struct sr_error *err);
int bon_score_write(struct sr_run *run, json_t *report, int table, const char *svg_path,
                    struct sr_error *err);

/* Option values of the scoring options, which `score` and `run` share. */
enum {
	BON_OPT_AGGREGATE = SR_OPT_TOOL_BASE,
	BON_OPT_ORDERED,
	BON_OPT_BOOTSTRAP,
	BON_OPT_CONFIDENCE,
	BON_OPT_SEED,
	BON_OPT_FORMAT,
	BON_OPT_SVG,
	BON_OPT_LABEL,
	BON_OPT_TOOL_NEXT, /* subcommands number their own options from here */
};

#define BON_SCORE_LONG_OPTIONS \
	{ "k", required_argument, NULL, 'k' }, \
	{ "aggregate", required_argument, NULL, BON_OPT_AGGREGATE }, \
	{ "ordered", no_argument, NULL, BON_OPT_ORDERED }, \
	{ "bootstrap", required_argument, NULL, BON_OPT_BOOTSTRAP }, \
	{ "confidence", required_argument, NULL, BON_OPT_CONFIDENCE }, \
	{ "seed", required_argument, NULL, BON_OPT_SEED }, \
	{ "format", required_argument, NULL, BON_OPT_FORMAT }, \
	{ "svg", required_argument, NULL, BON_OPT_SVG }, \
	{ "label", required_argument, NULL, BON_OPT_LABEL }

#define BON_SCORE_HELP \
"  -k, --k LIST            values of k, e.g. 1,4,16 (default: powers of two up\n" \
"                          to the largest sample count, and that count)\n" \
"      --aggregate MODE    any-safe (default): k samples fail the attack if one\n" \
"                          is safe; any-unsafe: they succeed if one is unsafe\n" \
"      --ordered           count the first k samples (index 0..k-1) instead of\n" \
"                          the unbiased estimator, as for attack logs\n" \
"      --bootstrap N       bootstrap resamples for the intervals (default 1000,\n" \
"                          0 = no intervals)\n" \
"      --confidence X      interval coverage (default 0.95)\n" \
"      --seed N            bootstrap seed (default 0); in run also the sampling\n" \
"                          seed\n" \
"      --format FMT        json (default: the report as one line) or table\n" \
"      --svg FILE          also draw the report as SVG into FILE\n" \
"      --label NAME        name of the evaluated model, kept in the report\n"

#endif
