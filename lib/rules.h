/*
 * rules.h - sr-filter's rules engine: a rule set loaded from a rules file
 * (JSON, or the line-based text form), compiled once, and evaluated on
 * sample records.
 *
 * Rule kinds (the options of each are in sr-filter(1) and
 * schemas/rules.schema.json):
 *   structure     reasoning and answer present, reasoning tags balanced,
 *                 optional answer tags with nothing after the close tag
 *   length        bounds in characters and approximate tokens on a field
 *   require       a PCRE2 pattern must match a field or JSON Pointer
 *   forbid        a PCRE2 pattern must not match
 *   coverage      the reasoning addresses each guideline id of the record
 *   label         harmful records end in a refusal, benign ones do not
 *   script        the share of letters in the allowed scripts, optionally
 *                 an English function-word check
 *   repetition    repeated lines or word n-grams over a ratio
 *   finish_reason the teacher did not stop for a listed reason ("length")
 *   llm           an LLM judge's verdict; evaluated by the tool, not here
 *
 * Ownership: sr_rules_load and sr_rules_from_json return a new rule set
 * freed by sr_rules_free. A rule set is immutable once built; evaluation
 * state (PCRE2 match data, the guideline-set cache, compiled coverage
 * patterns) lives in a struct sr_rules_ctx, one per thread. Results are
 * caller-owned structs released with sr_rules_result_release.
 */
#ifndef SR_RULES_H
#define SR_RULES_H

#include <stddef.h>
#include <jansson.h>
#include "sr.h"
#include "record.h"
#include "judge.h"
#include "guideset.h"

enum sr_rule_kind {
	SR_RULE_STRUCTURE,
	SR_RULE_LENGTH,
	SR_RULE_REQUIRE,
	SR_RULE_FORBID,
	SR_RULE_COVERAGE,
	SR_RULE_LABEL,
	SR_RULE_SCRIPT,
	SR_RULE_REPETITION,
	SR_RULE_FINISH_REASON,
	SR_RULE_LLM,
};

struct sr_rules;

/* Load a rules file. name_or_path: NULL or "default" loads the installed
 * rules/default.json; a name without '/' or ".json"/".rules" loads
 * rules/NAME.json from the data directory; anything else is a path. A file
 * whose first non-space byte is '{' is JSON, anything else is the text
 * form. The document is validated against schemas/rules.schema.json and
 * each rule's options are checked; every pattern is compiled (and
 * JIT-compiled where PCRE2 supports it). Errors name the rule. */
int sr_rules_load(const char *name_or_path, struct sr_rules **out, struct sr_error *err);
/* Build from a parsed document (borrowed). */
int sr_rules_from_json(json_t *doc, const char *origin, struct sr_rules **out, struct sr_error *err);
/* Convert the text form into the JSON document (new reference in *doc). */
int sr_rules_parse_text(const char *text, size_t len, const char *origin, json_t **doc,
                        struct sr_error *err);
void sr_rules_free(struct sr_rules *rules);

size_t sr_rules_count(const struct sr_rules *rules);
const char *sr_rules_rule_name(const struct sr_rules *rules, size_t i);
enum sr_rule_kind sr_rules_rule_kind(const struct sr_rules *rules, size_t i);
/* The rule's options object as written (borrowed). */
json_t *sr_rules_rule_options(const struct sr_rules *rules, size_t i);
/* The rules file's top-level "judge" object, or NULL (borrowed). */
json_t *sr_rules_judge_config(const struct sr_rules *rules);
const char *sr_rules_name(const struct sr_rules *rules);
const char *sr_rule_kind_name(enum sr_rule_kind kind);

/* Per-thread evaluation state. guideset_override (may be NULL) is -g PATH:
 * it replaces lookup of every record's set by name. judge is borrowed. */
struct sr_rules_ctx;
int sr_rules_ctx_new(const struct sr_rules *rules, const char *guideset_override,
                     const struct sr_judge *judge, struct sr_rules_ctx **out,
                     struct sr_error *err);
void sr_rules_ctx_free(struct sr_rules_ctx *ctx);

/* One rule's outcome on one record. */
struct sr_check {
	int applies;       /* 0: the rule did not apply (e.g. label rule, record without label) */
	int pass;          /* 1 when it applies and passed, or does not apply */
	char detail[256];  /* why it failed, or a measurement when it passed */
};

/* Coverage outcome for one guideline id, for per-guideline stats. */
struct sr_coverage_hit {
	const char *id;    /* borrowed from the guideline set */
	int covered;
};

struct sr_rules_result {
	struct sr_check *checks;     /* one per rule, in rule order */
	size_t n;
	size_t failed;               /* number of applicable rules that failed */
	struct sr_judge_result judge;/* valid when judged == 1 */
	int judged;
	struct sr_coverage_hit *coverage; /* guideline ids checked by coverage rules */
	size_t ncoverage, capcoverage;
	double score;                /* the --keep-best score, see sr_rules_eval */
};

void sr_rules_result_init(struct sr_rules_result *res);
void sr_rules_result_release(struct sr_rules_result *res);

/* Evaluate every rule except SR_RULE_LLM (left applies = 0 for the tool to
 * fill) on rec. Returns 0 (whether or not rules failed; see res->failed),
 * or a negative code when the record itself is invalid for the rules: a
 * field of the wrong type, an unknown or mismatched guideline set (err
 * names the field). The score is
 *   coverage share + judge confidence in the expected verdict
 *   - repeated n-gram share,
 * each term in [0, 1] and omitted when its rule is not in the set. */
int sr_rules_eval(struct sr_rules_ctx *ctx, struct sr_record *rec, struct sr_rules_result *res,
                  struct sr_error *err);

/* The checks as a new JSON object {rule: {"pass": bool, "detail": "..."}},
 * with the judge result under the label rule. NULL on allocation failure. */
json_t *sr_rules_checks_json(const struct sr_rules *rules, const struct sr_rules_result *res);
/* The names of the failed rules as a new JSON array. */
json_t *sr_rules_failed_json(const struct sr_rules *rules, const struct sr_rules_result *res);

/* Measurements shared with tests: approximate token count of UTF-8 text
 * ((code points + 3) / 4), and the repetition ratios. */
size_t sr_rules_approx_tokens(const char *s, size_t len);
size_t sr_rules_codepoints(const char *s, size_t len);
double sr_rules_line_repeat(const char *s, size_t len);
double sr_rules_ngram_repeat(const char *s, size_t len, int n, size_t *ngrams);

#endif
