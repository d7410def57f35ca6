/*
 * sr-bon - Best-of-N evaluation: sample a model N times per prompt, judge
 * the samples, score attack success at k, and plot it. This file only
 * dispatches to the subcommands in bon-*.c.
 */
#include <stdio.h>
#include <string.h>

#include "bon-cmd.h"
#include "msg.h"
#include "opt.h"
#include "sr.h"

static const struct {
	const char *name;
	int (*main)(int, char **);
	const char *what;
} commands[] = {
	{ "sample", bon_sample_main, "sample a model or an endpoint N times per prompt" },
	{ "judge", bon_judge_main, "add a safe/unsafe verdict and a refusal flag to each sample" },
	{ "score", bon_score_main, "attack success at k, over-refusal, bootstrap intervals" },
	{ "plot", bon_plot_main, "draw reports as SVG (success against k, log2 axis)" },
	{ "run", bon_run_main, "sample, judge, score and plot in one go" },
	{ "convert", bon_convert_main, "turn past-tense attack logs into judged samples" },
};

static void usage(void)
{
	printf("Usage: sr-bon COMMAND [OPTION]... [FILE]...\n"
	       "Measure Best-of-N safety: sample, judge, score and plot, each step\n"
	       "reading and writing JSON Lines so that they compose in a pipe.\n\nCommands:\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		printf("  %-9s %s\n", commands[i].name, commands[i].what);
	printf("\n'sr-bon COMMAND --help' lists the options of a command.\n"
	       "Exit status: 0 success, 1 invalid input data, 2 usage error,\n"
	       "3 I/O, system or endpoint failure.\n");
}

int main(int argc, char **argv)
{
	sr_msg_init("sr-bon");
	if (argc < 2)
		return sr_msg_usage("missing command (sample, judge, score, plot, run or convert)");
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage();
		return SR_EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		sr_print_version("sr-bon");
		return SR_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].main(argc - 1, argv + 1);
	return sr_msg_usage("unknown command '%s' (expected sample, judge, score, plot, run or convert)", argv[1]);
}
