/*
 * bon-sample.h - the sampling step that `sr-bon sample` and `sr-bon run`
 * share: options, the backend (a model directory or an endpoint) and the
 * streaming loop.
 */
#ifndef SR_BON_SAMPLE_H
#define SR_BON_SAMPLE_H

#include <stdint.h>
#include "bon-judge.h"
#include "client.h"
#include "io.h"
#include "run.h"

struct sr_generator;

struct bon_sample_config {
	const char *model_dir;      /* -m: sample this model directory */
	struct sr_client_config client; /* or this endpoint */
	int n;                      /* samples per prompt */
	int greedy;                 /* add a greedy sample */
	double temperature, top_p;
	int max_tokens;
	int batch;                  /* conversations per generation call (model only) */
	uint64_t seed;
	const char *system;         /* optional system message */
	const char *template_name;  /* chat template of the model; NULL = the tokenizer's */
	const char *failed_path;
	const char *open, *close;   /* reasoning tags */
	char tag_buf[2][128];
};

struct bon_sampler {
	struct bon_sample_config *cfg;
	struct sr_generator *gen;
	struct sr_client *client;
	struct sr_output *failed;
	uint64_t samples;
};

enum {
	BON_OPT_TEMPERATURE = BON_OPT_TOOL_NEXT + 0x80,
	BON_OPT_TOP_P,
	BON_OPT_MAX_TOKENS,
	BON_OPT_GREEDY,
	BON_OPT_SYSTEM,
	BON_OPT_TEMPLATE,
	BON_OPT_GEN_BATCH,
};

#define BON_SAMPLE_LONG_OPTIONS \
	{ "model-dir", required_argument, NULL, 'm' }, \
	{ "samples", required_argument, NULL, 'n' }, \
	{ "temperature", required_argument, NULL, BON_OPT_TEMPERATURE }, \
	{ "top-p", required_argument, NULL, BON_OPT_TOP_P }, \
	{ "max-tokens", required_argument, NULL, BON_OPT_MAX_TOKENS }, \
	{ "greedy", no_argument, NULL, BON_OPT_GREEDY }, \
	{ "system", required_argument, NULL, BON_OPT_SYSTEM }, \
	{ "template", required_argument, NULL, BON_OPT_TEMPLATE }, \
	{ "gen-batch", required_argument, NULL, BON_OPT_GEN_BATCH }

#define BON_SAMPLE_HELP \
"  -n, --samples N         samples per prompt (default 1)\n" \
"      --temperature T     sampling temperature (default 1)\n" \
"      --top-p P           nucleus sampling mass (default 1 = off)\n" \
"      --max-tokens N      longest response in tokens (default 256)\n" \
"      --greedy            add one greedy sample per prompt (`greedy`: true)\n" \
"      --system TEXT       system message sent before each query\n" \
"      --template NAME     chat template of a model directory (chatml, llama3;\n" \
"                          default: the one its tokenizer names)\n" \
"      --gen-batch N       conversations generated together (default 16)\n"

void bon_sample_config_init(struct bon_sample_config *sc);
/* 1 = handled, 0 = not a sampling option, -1 = invalid (message printed). */
int bon_sample_option(struct bon_sample_config *sc, int opt, const char *arg);
int bon_sampler_open(struct bon_sampler *s, struct bon_sample_config *sc, struct sr_error *err);
/* Sample every prompt record of run and emit the sample records. */
int bon_sample_stream(struct bon_sampler *s, struct sr_run *run, struct sr_error *err);
int bon_sampler_close(struct bon_sampler *s, int rc, struct sr_error *err);

#endif
