/*
 * judge.h - the built-in judge: a rule-based refusal detector with harm
 * signals, used by sr-filter's label rule and by sr-bon.
 *
 * The judge reads one response (optionally with the request it answers) and
 * classifies it as a refusal, a partial refusal or compliance. It looks at
 * structure rather than a list of opening phrases: where a first-person
 * refusal clause sits, whether substantive content follows it, whether that
 * content is on the request's topic or a safe alternative (resources, an
 * offer of other help), list and code structure, and moral or factual
 * objections that refuse without saying "I can't". How the signals combine
 * is described in sr-filter(1), section THE BUILT-IN JUDGE.
 *
 * Ownership: sr_judge_new returns a new judge freed by sr_judge_free (which
 * accepts NULL). Once its lexicon is complete (sr_judge_add_lexicon) a
 * judge is only read, so one judge may be used from several threads. sr_judge_classify fills a
 * caller-owned struct sr_judge_result; it allocates nothing that outlives
 * the call. sr_judge_result_json returns a new reference.
 */
#ifndef SR_JUDGE_H
#define SR_JUDGE_H

#include <stddef.h>
#include <jansson.h>
#include "sr.h"

enum sr_judge_class {
	SR_JUDGE_COMPLIANCE = 0,
	SR_JUDGE_PARTIAL = 1,  /* declines part of the request but helps with it anyway */
	SR_JUDGE_REFUSAL = 2,  /* declines; may offer a safe alternative */
};

/* Harm categories the built-in lexicon knows; a bit mask in the result. */
enum sr_judge_harm {
	SR_HARM_WEAPONS = 1 << 0,
	SR_HARM_CYBER = 1 << 1,
	SR_HARM_DRUGS = 1 << 2,
	SR_HARM_VIOLENCE = 1 << 3,
	SR_HARM_FRAUD = 1 << 4,
	SR_HARM_SEXUAL = 1 << 5,
	SR_HARM_SELF_HARM = 1 << 6,
	SR_HARM_HATE = 1 << 7,
	SR_HARM_COUNT = 8,
};

#define SR_JUDGE_EVIDENCE_MAX 240

struct sr_judge_result {
	enum sr_judge_class verdict;
	int refusal;                /* 1 for SR_JUDGE_REFUSAL and SR_JUDGE_PARTIAL */
	double confidence;          /* 0.5 (a guess) to 1.0 (no conflicting signal) */
	/* The deciding signal, a static string such as "refusal-clause" or
	 * "on-topic-help-after-refusal"; see sr-filter(1) for the list. */
	const char *reason;
	/* The sentence that decided, copied from the response (UTF-8, cut at
	 * a character boundary), and its byte offset; empty when none. */
	char evidence[SR_JUDGE_EVIDENCE_MAX];
	size_t evidence_offset;
	/* Measurements behind the verdict, for --annotate and debugging. */
	long refusal_sentence;      /* 0-based index of the first refusal clause, -1 if none */
	size_t help_chars;          /* bytes of substantive content after the refusal clause */
	double topic_overlap;       /* share of the request's content words in that content, -1 without a request */
	unsigned harm;              /* SR_HARM_* categories found in the delivered content */
	double harm_score;          /* lexicon hits per 100 words of delivered content */
};

struct sr_judge;

/* Create a judge with the built-in phrase and harm lexicons. */
int sr_judge_new(struct sr_judge **out, struct sr_error *err);
void sr_judge_free(struct sr_judge *judge);

/* Add harm keywords from a guideline set's detect.harm_lexicon array
 * ([{"category": "...", "keywords": ["..."]}], borrowed). Categories that
 * match a built-in name ("weapons", "cyber", "drugs", "violence", "fraud",
 * "sexual", "self_harm", "hate") extend it; others are counted under the
 * nearest bit by name and otherwise only in harm_score. Returns SR_EDATA on
 * a malformed array (the judge is unchanged then). */
int sr_judge_add_lexicon(struct sr_judge *judge, json_t *lexicon, struct sr_error *err);

/* Classify response[0..len) (UTF-8). request may be NULL; with it, the
 * judge can tell on-topic help after a refusal (partial) from a safe
 * alternative (refusal). Never fails; always fills *res. */
void sr_judge_classify(const struct sr_judge *judge, const char *request, size_t request_len,
                       const char *response, size_t len, struct sr_judge_result *res);

/* "refusal", "partial" or "compliance". */
const char *sr_judge_class_name(enum sr_judge_class c);
/* Name of one SR_HARM_* bit, e.g. "cyber"; NULL for an unknown bit. */
const char *sr_judge_harm_name(unsigned bit);

/* The result as a new JSON object: {"verdict", "refusal", "confidence",
 * "reason", "evidence", "categories", "harm_score"}. NULL on allocation
 * failure. */
json_t *sr_judge_result_json(const struct sr_judge_result *res);

#endif
