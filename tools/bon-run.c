/*
 * bon-run.c - `sr-bon run`: sample, judge, score and plot in one process.
 * The samples and the judged samples go to files (--samples, --judged, or
 * temporary files removed at the end), so every step can be rerun alone.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bon-cmd.h"
#include "bon-judge.h"
#include "bon-sample.h"
#include "msg.h"
#include "opt.h"
#include "run.h"

enum {
	OPT_SAMPLES_FILE = BON_OPT_TOOL_NEXT + 0xc0,
	OPT_JUDGED_FILE,
};

static const struct option run_options[] = {
	BON_SAMPLE_LONG_OPTIONS,
	BON_SCORE_LONG_OPTIONS,
	{ "endpoint", required_argument, NULL, BON_OPT_ENDPOINT },
	{ "model", required_argument, NULL, BON_OPT_MODEL },
	{ "api-key-env", required_argument, NULL, BON_OPT_API_KEY_ENV },
	{ "concurrency", required_argument, NULL, BON_OPT_CONCURRENCY },
	{ "cache", required_argument, NULL, BON_OPT_CACHE },
	{ "retries", required_argument, NULL, BON_OPT_RETRIES },
	{ "failed", required_argument, NULL, BON_OPT_FAILED },
	{ "guidelines", required_argument, NULL, BON_OPT_TAGS },
	{ "judge", required_argument, NULL, BON_OPT_JUDGE },
	{ "judge-endpoint", required_argument, NULL, BON_OPT_JUDGE_ENDPOINT },
	{ "judge-model", required_argument, NULL, BON_OPT_JUDGE_MODEL },
	{ "judge-sees", required_argument, NULL, BON_OPT_JUDGE_SEES },
	{ "parse-retries", required_argument, NULL, BON_OPT_PARSE_RETRIES },
	{ "samples-file", required_argument, NULL, OPT_SAMPLES_FILE },
	{ "judged-file", required_argument, NULL, OPT_JUDGED_FILE },
	SR_RUN_LONG_OPTIONS,
	{ NULL, 0, NULL, 0 },
};

static void run_usage(void)
{
	printf("Usage: sr-bon run (-m DIR | --endpoint URL --model NAME) [OPTION]... [FILE]...\n"
	       "Sample N responses per prompt record, judge them and write the report;\n"
	       "the same as sr-bon sample | sr-bon judge | sr-bon score.\n\n"
	       "Sampling (see sr-bon sample):\n"
	       "  -m, --model-dir DIR     sample a model directory\n"
	       "      --endpoint URL      or a chat-completions endpoint, with --model NAME\n"
	       BON_SAMPLE_HELP
	       "      --failed FILE       write prompts whose sampling request failed here\n"
	       "      --samples-file FILE keep the samples in FILE (default: a temporary file)\n"
	       "\nJudging (see sr-bon judge):\n"
	       "      --judge NAME        builtin (default), llama-guard-3, harmbench or a file\n"
	       "      --judge-endpoint URL, --judge-model NAME   the LLM judge's endpoint\n"
	       "      --judge-sees WHAT   answer (default) or reasoning+answer\n"
	       "      --parse-retries N   new requests after unparseable output (default 2)\n"
	       "      --judged-file FILE  keep the judged samples in FILE\n"
	       "  --api-key-env, --concurrency, --cache, --retries and --guidelines apply to\n"
	       "  both sampling and judging.\n"
	       "\nScoring (see sr-bon score):\n"
	       BON_SCORE_HELP
	       SR_RUN_HELP);
}

/* Options that go to both the sampler and the judge. */
static int shared_option(struct bon_sample_config *sc, struct bon_judge_config *jc, int opt, const char *arg)
{
	switch (opt) {
	case BON_OPT_API_KEY_ENV:
	case BON_OPT_CONCURRENCY:
	case BON_OPT_CACHE:
	case BON_OPT_RETRIES:
	case BON_OPT_TAGS:
		if (bon_sample_option(sc, opt, arg) < 0 || bon_judge_option(jc, opt, arg) < 0)
			return -1;
		return 1;
	case BON_OPT_JUDGE_ENDPOINT:
		return bon_judge_option(jc, BON_OPT_ENDPOINT, arg);
	case BON_OPT_JUDGE_MODEL:
		return bon_judge_option(jc, BON_OPT_MODEL, arg);
	case BON_OPT_JUDGE:
	case BON_OPT_JUDGE_SEES:
	case BON_OPT_PARSE_RETRIES:
		return bon_judge_option(jc, opt, arg);
	case BON_OPT_SEED:
		/* --seed seeds both the sampling and the bootstrap. */
		return bon_sample_option(sc, opt, arg);
	default:
		return bon_sample_option(sc, opt, arg);
	}
}

/* A path for an intermediate file: the one given, or a new temporary file. */
static int stage_path(const char *given, char *buf, size_t cap, int *temporary, struct sr_error *err)
{
	*temporary = 0;
	if (given) {
		snprintf(buf, cap, "%s", given);
		return 0;
	}
	const char *dir = getenv("TMPDIR");
	snprintf(buf, cap, "%s/sr-bon-XXXXXX", dir && *dir ? dir : "/tmp");
	int fd = mkstemp(buf);
	if (fd < 0)
		return sr_fail(err, SR_EIO, "cannot create a temporary file in '%s'", dir && *dir ? dir : "/tmp");
	close(fd);
	*temporary = 1;
	return 0;
}

/* Stage 1: prompt records -> samples file. *skipped counts the prompt
 * records that --on-error skipped. */
static int run_sample(struct bon_sample_config *sc, int nfiles, char **files, const char *out,
                      const struct sr_run *proto, uint64_t *samples, uint64_t *skipped,
                      struct sr_error *err)
{
	struct sr_run run;
	struct bon_sampler s = {0};
	int rc;
	sr_run_init(&run, "sr-bon");
	run.on_error = proto->on_error;
	run.quarantine_path = proto->quarantine_path;
	run.max_line = proto->max_line;
	run.output_path = out;
	if ((rc = bon_sampler_open(&s, sc, err)) == 0 && (rc = sr_run_open(&run, nfiles, files, err)) == 0)
		rc = bon_sample_stream(&s, &run, err);
	*samples = s.samples;
	*skipped = run.skipped;
	rc = bon_sampler_close(&s, rc, err);
	rc = sr_run_finish(&run, rc, err);
	sr_run_release(&run);
	return rc;
}

/* Stage 2: samples file -> judged file. */
static int run_judge(struct bon_judge_config *jc, const char *in, const char *out, json_t *stats,
                     struct sr_error *err)
{
	struct sr_run run;
	struct bon_judge j = {0};
	char *files[1] = { (char *)in };
	int rc;
	sr_run_init(&run, "sr-bon");
	run.output_path = out;
	if ((rc = bon_judge_open(&j, jc, err)) == 0 && (rc = sr_run_open(&run, 1, files, err)) == 0)
		rc = bon_judge_stream(&j, &run, err);
	bon_judge_stats(&j, stats);
	rc = bon_judge_close(&j, rc, err);
	rc = sr_run_finish(&run, rc, err);
	sr_run_release(&run);
	return rc;
}

int bon_run_main(int argc, char **argv)
{
	struct sr_run run;
	struct sr_error err;
	struct bon_sample_config sc;
	struct bon_judge_config jc;
	struct sr_bon_options o;
	struct sr_bon *b = NULL;
	const char *samples_given = NULL, *judged_given = NULL, *svg_path = NULL;
	char samples_path[4096] = "", judged_path[4096] = "";
	int samples_tmp = 0, judged_tmp = 0, table = 0, opt, rc;
	uint64_t nsamples = 0, prompts_skipped = 0;

	sr_run_init(&run, "sr-bon");
	sr_error_clear(&err);
	bon_sample_config_init(&sc);
	bon_judge_config_init(&jc);
	sr_bon_options_init(&o);
	while ((opt = getopt_long(argc, argv, "m:n:k:o:qvhV", run_options, NULL)) != -1) {
		if ((rc = sr_run_option(&run, opt, optarg)) != 0 || (rc = bon_score_option(&o, opt, optarg)) != 0 ||
		    (rc = shared_option(&sc, &jc, opt, optarg)) != 0) {
			if (rc < 0)
				goto usage;
			/* --seed is a scoring option too; the sampler takes it as well. */
			if (opt == BON_OPT_SEED && bon_sample_option(&sc, opt, optarg) < 0)
				goto usage;
			continue;
		}
		switch (opt) {
		case 'h':
			run_usage();
			sr_run_release(&run);
			return SR_EXIT_OK;
		case 'V':
			sr_print_version("sr-bon");
			sr_run_release(&run);
			return SR_EXIT_OK;
		case BON_OPT_FORMAT:
			if (strcmp(optarg, "table") == 0)
				table = 1;
			else if (strcmp(optarg, "json") != 0) {
				sr_msg_usage("invalid --format value '%s' (expected json or table)", optarg);
				goto usage;
			}
			break;
		case BON_OPT_SVG:
			svg_path = optarg;
			break;
		case OPT_SAMPLES_FILE:
			samples_given = optarg;
			break;
		case OPT_JUDGED_FILE:
			judged_given = optarg;
			break;
		default:
			sr_msg_usage("invalid option");
			goto usage;
		}
	}

	if ((rc = stage_path(samples_given, samples_path, sizeof samples_path, &samples_tmp, &err)) < 0 ||
	    (rc = stage_path(judged_given, judged_path, sizeof judged_path, &judged_tmp, &err)) < 0)
		goto out;
	if ((rc = run_sample(&sc, argc - optind, argv + optind, samples_path, &run, &nsamples,
	                     &prompts_skipped, &err)) < 0)
		goto out;
	sr_msg_notice("%llu samples written; judging", (unsigned long long)nsamples);
	if ((rc = run_judge(&jc, samples_path, judged_path, run.stats, &err)) < 0)
		goto out;

	/* The judged file is our own output: the input policy applied in the
	 * sampling stage, and the quarantine file belongs to that stage. */
	char *files[1] = { judged_path };
	json_t *report = NULL;
	run.on_error = SR_ON_ERROR_FAIL;
	run.quarantine_path = NULL;
	if ((rc = sr_bon_new(&o, &b, &err)) < 0 || (rc = sr_run_open(&run, 1, files, &err)) < 0 ||
	    (rc = bon_score_read(&run, b, &err)) < 0 || (rc = sr_bon_report(b, &report, &err)) < 0)
		goto out;
	json_object_set_new(run.stats, "samples", json_integer((json_int_t)nsamples));
	run.skipped += prompts_skipped;
	rc = bon_score_write(&run, report, table, svg_path, &err);
	json_decref(report);
out:
	sr_bon_free(b);
	if (samples_tmp)
		unlink(samples_path);
	if (judged_tmp)
		unlink(judged_path);
	if (rc == SR_EUSAGE) {
		sr_msg_usage("%s", err.message);
		sr_run_release(&run);
		return SR_EXIT_USAGE;
	}
	rc = sr_run_finish(&run, rc, &err);
	return sr_run_exit(&run, rc, &err);
usage:
	sr_run_release(&run);
	return SR_EXIT_USAGE;
}
