/*
 * bon-judge.h - the judging step that `sr-bon judge` and `sr-bon run`
 * share: options, the judge (built-in or LLM over an endpoint) and the
 * streaming loop.
 */
#ifndef SR_BON_JUDGE_H
#define SR_BON_JUDGE_H

#include <stdint.h>
#include "bon-cmd.h"
#include "client.h"
#include "io.h"
#include "run.h"

struct sr_judge;
struct sr_llmjudge;

struct bon_judge_config {
	const char *judge;          /* "builtin", a judge name or a judge file */
	struct sr_client_config client;
	int parse_retries;          /* further requests after unparseable output */
	int sees_reasoning;         /* 1: the judge is shown reasoning and answer */
	const char *failed_path;    /* records whose judge request failed */
	size_t batch;               /* records judged together */
	const char *open, *close;   /* reasoning tags for splitting `response` */
	char tag_buf[2][128];
};

struct bon_judge {
	struct bon_judge_config *cfg;
	struct sr_judge *builtin;   /* always present: it sets `refusal` */
	struct sr_llmjudge *llm;    /* NULL for the built-in judge */
	struct sr_client *client;
	struct sr_output *failed;
	uint64_t unsafe, refusals, unparseable, failed_count;
};

enum {
	BON_OPT_JUDGE = BON_OPT_TOOL_NEXT + 0x40,
	BON_OPT_ENDPOINT,
	BON_OPT_MODEL,
	BON_OPT_API_KEY_ENV,
	BON_OPT_CONCURRENCY,
	BON_OPT_CACHE,
	BON_OPT_RETRIES,
	BON_OPT_PARSE_RETRIES,
	BON_OPT_JUDGE_SEES,
	BON_OPT_FAILED,
	BON_OPT_TAGS,
	BON_OPT_BATCH,
	BON_OPT_JUDGE_ENDPOINT,
	BON_OPT_JUDGE_MODEL,
};

#define BON_JUDGE_LONG_OPTIONS \
	{ "judge", required_argument, NULL, BON_OPT_JUDGE }, \
	{ "endpoint", required_argument, NULL, BON_OPT_ENDPOINT }, \
	{ "model", required_argument, NULL, BON_OPT_MODEL }, \
	{ "api-key-env", required_argument, NULL, BON_OPT_API_KEY_ENV }, \
	{ "concurrency", required_argument, NULL, BON_OPT_CONCURRENCY }, \
	{ "cache", required_argument, NULL, BON_OPT_CACHE }, \
	{ "retries", required_argument, NULL, BON_OPT_RETRIES }, \
	{ "parse-retries", required_argument, NULL, BON_OPT_PARSE_RETRIES }, \
	{ "judge-sees", required_argument, NULL, BON_OPT_JUDGE_SEES }, \
	{ "failed", required_argument, NULL, BON_OPT_FAILED }, \
	{ "guidelines", required_argument, NULL, BON_OPT_TAGS }

#define BON_JUDGE_HELP \
"      --judge NAME        builtin (default: the refusal detector with harm\n" \
"                          signals), llama-guard-3, harmbench, or a judge file\n" \
"      --endpoint URL      chat-completions endpoint of an LLM judge (.../v1)\n" \
"      --model NAME        the judge model's name at the endpoint\n" \
"      --api-key-env VAR   environment variable holding the API key\n" \
"                          (default OPENAI_API_KEY)\n" \
"      --concurrency N     judge requests in flight (default 16)\n" \
"      --cache FILE        response cache (default under ~/.cache/srkit; \"\" = none)\n" \
"      --retries N         HTTP retries per request (default 8)\n" \
"      --parse-retries N   new requests after unparseable output (default 2)\n" \
"      --judge-sees WHAT   answer (default: the text after the reasoning) or\n" \
"                          reasoning+answer\n" \
"      --guidelines SET    take the reasoning tags from this guideline set\n" \
"                          (default <think> and </think>)\n" \
"      --failed FILE       write records whose judge request failed here\n" \
"                          (without it such a failure stops the run)\n"

void bon_judge_config_init(struct bon_judge_config *jc);
/* 1 = handled, 0 = not a judge option, -1 = invalid (message printed). */
int bon_judge_option(struct bon_judge_config *jc, int opt, const char *arg);
int bon_judge_open(struct bon_judge *j, struct bon_judge_config *jc, struct sr_error *err);
/* Judge every record of run and emit it. */
int bon_judge_stream(struct bon_judge *j, struct sr_run *run, struct sr_error *err);
void bon_judge_stats(const struct bon_judge *j, json_t *stats);
/* Commit --failed (when rc >= 0) and free everything; returns rc or the
 * commit's failure. */
int bon_judge_close(struct bon_judge *j, int rc, struct sr_error *err);

int bon_client_option(struct sr_client_config *client, int opt, const char *arg);

#endif
