/*
 * filter-llm.h - sr-filter's optional LLM judge for guideline adherence.
 * Each rule of kind "llm" has its prompt filled in from the record and sent
 * to an OpenAI-compatible chat endpoint through the shared client (retries,
 * rate limits, response cache). The rule passes when the reply matches its
 * pass_pattern.
 *
 * Without --judge-endpoint (or SR_JUDGE_ENDPOINT) llm rules are not
 * applied and a notice says so. Ownership: llm_judge_new returns a judge
 * (or NULL when no endpoint is set) freed by llm_judge_free.
 */
#ifndef SR_FILTER_LLM_H
#define SR_FILTER_LLM_H

#include <getopt.h>
#include <jansson.h>
#include "record.h"
#include "rules.h"
#include "sr.h"

struct llm_judge_options {
	const char *endpoint;     /* --judge-endpoint, else $SR_JUDGE_ENDPOINT */
	const char *model;        /* --judge-model, else $SR_JUDGE_MODEL, else the rules file's */
	const char *api_key_env;  /* --judge-api-key-env (default OPENAI_API_KEY) */
	const char *cache;        /* --judge-cache FILE, "" = none (default: the client's) */
	long concurrency;
	double timeout;
	long max_retries;
};

#define LLM_JUDGE_LONG_OPTIONS(base) \
	{"judge-endpoint", required_argument, NULL, (base) + 0}, \
	{"judge-model", required_argument, NULL, (base) + 1}, \
	{"judge-api-key-env", required_argument, NULL, (base) + 2}, \
	{"judge-cache", required_argument, NULL, (base) + 3}, \
	{"judge-no-cache", no_argument, NULL, (base) + 4}, \
	{"judge-timeout", required_argument, NULL, (base) + 5}, \
	{"judge-max-retries", required_argument, NULL, (base) + 6}, \
	{"judge-concurrency", required_argument, NULL, (base) + 7}

#define LLM_JUDGE_HELP \
"      --judge-endpoint URL  OpenAI-compatible base URL (ending in /v1) for the\n" \
"                          rules of kind llm (default $SR_JUDGE_ENDPOINT)\n" \
"      --judge-model NAME  model for the LLM judge (default $SR_JUDGE_MODEL, else\n" \
"                          the rules file's judge.model)\n" \
"      --judge-api-key-env VAR  environment variable holding the key\n" \
"                          (default OPENAI_API_KEY)\n" \
"      --judge-cache FILE  response cache file; --judge-no-cache for none\n" \
"      --judge-timeout SEC, --judge-max-retries N  per-request limits\n" \
"      --judge-concurrency N  judge requests in flight at once (default 4)\n"

void llm_judge_options_init(struct llm_judge_options *o);
/* Handle option number idx (0..7) of LLM_JUDGE_LONG_OPTIONS. Returns 1 when
 * handled, 0 when idx is not one of them, a negative code on a bad value. */
int llm_judge_option(struct llm_judge_options *o, int idx, const char *arg);

struct llm_judge;
int llm_judge_new(const struct llm_judge_options *o, const struct sr_rules *rules,
                  struct llm_judge **out, struct sr_error *err);
void llm_judge_free(struct llm_judge *j);
/* Evaluate the llm rules on n records at once (their requests go out
 * concurrently), for the records that passed every other rule: fill the
 * llm rules' checks in results[r] and add failures to results[r]->failed.
 * SR_EENDPOINT when a request fails for good. */
int llm_judge_eval(struct llm_judge *j, const struct sr_rules *rules, struct sr_record **recs,
                   struct sr_rules_result **results, size_t n, struct sr_error *err);
/* Add {"llm_judge": {"requests", "failed"}} to stats. */
void llm_judge_stats(const struct llm_judge *j, json_t *stats);

#endif
