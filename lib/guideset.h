/*
 * guideset.h - guideline sets: loading them (by name from the data
 * directory's guidelines/NAME.json, or from a path), and splitting a
 * completion at the set's reasoning tags.
 *
 * The guideline set file (schemas/guidelines.schema.json) looks like:
 *
 *   { "name": "default", "version": "1.0.0", "description": "...",
 *     "tags": {"open": "<think>", "close": "</think>"},
 *     "system_prompt": "... {{guidelines}} ... {{open}} ... {{close}} ...",
 *     "guidelines": [ { "id": "intent", "title": "...", "instruction": "...",
 *                       "labels": ["harmful", "benign"],
 *                       "coverage": ["PCRE2 pattern", ...] }, ... ],
 *     "few_shot": [ {"query": "...", "label": "harmful",
 *                    "response": "<think>\n...\n</think>\n\n..."} ],
 *     "refusal_only": { "system_prompt": "..." },
 *     "detect": { "framing": [ {"name": "roleplay", "pattern": "..."} ],
 *                 "purpose": [ {"name": "research", "pattern": "..."} ],
 *                 "tense": [ {"name": "past", "pattern": "..."} ],
 *                 "harm_lexicon": [ {"category": "...", "severity": "high",
 *                                    "keywords": ["..."]} ] },
 *     "builtin": { ... templates of the built-in teacher ... } }
 *
 * A record names its set in its `guidelines` member:
 *   {"set": "default", "version": "1.0.0", "ids": ["intent", ...],
 *    "tags": {"open": "<think>", "close": "</think>"}}
 *
 * Ownership: sr_guideset_load returns a new set freed by sr_guideset_free;
 * every string in it is owned by the set.
 */
#ifndef SR_GUIDESET_H
#define SR_GUIDESET_H

#include <stddef.h>
#include <jansson.h>
#include "sr.h"

struct sr_guideline {
	const char *id;
	const char *title;
	const char *instruction;
	int for_harmful, for_benign;  /* which labels it applies to */
	json_t *coverage;             /* array of pattern strings (borrowed from doc) */
};

struct sr_guideset {
	json_t *doc;                  /* the whole file (owned) */
	char *path;                   /* where it was loaded from */
	const char *name, *version;
	const char *open, *close;     /* reasoning tags */
	struct sr_guideline *g;
	size_t n;
};

/* Load a set by name ("default") or by path (anything containing '/' or
 * ending in ".json"). Validates it against the guidelines schema. */
int sr_guideset_load(const char *name_or_path, struct sr_guideset **out, struct sr_error *err);
void sr_guideset_free(struct sr_guideset *gs);
const struct sr_guideline *sr_guideset_find(const struct sr_guideset *gs, const char *id);

/* Check that a record's `guidelines` member names this set and version:
 * SR_EDATA with a message naming both versions otherwise. */
int sr_guideset_check_record(const struct sr_guideset *gs, json_t *guidelines, struct sr_error *err);

/* Cache of sets for tools that see records of several sets: returns the set
 * a record's `guidelines` member names, loading it once (override_path, if
 * given, replaces lookup by name). Borrowed, freed by sr_guideset_cache_free. */
struct sr_guideset_cache;
struct sr_guideset_cache *sr_guideset_cache_new(const char *override_path);
int sr_guideset_cache_get(struct sr_guideset_cache *c, json_t *guidelines,
                          const struct sr_guideset **out, struct sr_error *err);
void sr_guideset_cache_free(struct sr_guideset_cache *c);

/* Split a completion at the reasoning tags. On return reasoning/answer
 * point into text (not copied) with surrounding whitespace trimmed.
 * flags: SR_SPLIT_OK when exactly one open tag precedes one close tag;
 * otherwise a mix of the bits below, and reasoning is empty while answer
 * is the whole text (trimmed) when no close tag was found. */
enum {
	SR_SPLIT_OK = 0,
	SR_SPLIT_NO_OPEN = 1,      /* no open tag before the close tag */
	SR_SPLIT_NO_CLOSE = 2,     /* open tag without a close tag */
	SR_SPLIT_EXTRA_TAGS = 4,   /* more than one open or close tag */
	SR_SPLIT_EMPTY_ANSWER = 8, /* nothing after the close tag */
	SR_SPLIT_TEXT_BEFORE = 16, /* non-space text before the open tag */
};
int sr_split_completion(const char *text, size_t len, const char *open, const char *close,
                        const char **reasoning, size_t *rlen,
                        const char **answer, size_t *alen);

/* ---- teacher requests (sr-guide) ---- */

#include "util.h"

/* The parts of a teacher request that depend only on the guideline set, the
 * chosen guidelines and the record's label. Caller-owned; release with
 * sr_guideset_prompt_release. */
struct sr_guideset_prompt {
	struct sr_buf request;     /* {"messages":[system, example turns..., (the user turn follows) */
	struct sr_buf guidelines;  /* the record's `guidelines` member, complete */
};

enum {
	SR_PROMPT_REFUSAL_ONLY = 1, /* the set's refusal_only variant: no guidelines */
	SR_PROMPT_NO_FEW_SHOT = 2,  /* leave the example turns out */
};

/* Build the prompt parts for records with the given label. selected has one
 * flag per guideline (gs->n); a guideline is used when it is selected and
 * applies to the label. Example reasoning lines that start with "TITLE:" of
 * a guideline not used for the example's own label are removed. Returns 0,
 * SR_EDATA when the refusal_only variant is asked for and missing, or
 * SR_ENOMEM; out is released on failure. */
int sr_guideset_prompt_build(const struct sr_guideset *gs, const unsigned char *selected,
                             int benign, int flags, struct sr_guideset_prompt *out,
                             struct sr_error *err);
void sr_guideset_prompt_release(struct sr_guideset_prompt *p);

#endif
