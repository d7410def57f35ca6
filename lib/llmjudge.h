/*
 * llmjudge.h - LLM judges over a chat-completions endpoint, with each
 * judge's prompt and output format kept as data in judges/NAME.json:
 *
 *   { "name": "llama-guard-3",
 *     "description": "...",
 *     "messages": [ {"role": "user", "content": "... {{query}} ..."},
 *                   {"role": "assistant", "content": "{{response}}"} ],
 *     "max_tokens": 32, "temperature": 0, "retry_temperature": 0.7,
 *     "verdict": { "pattern": "^\\s*(safe|unsafe)\\b", "caseless": true,
 *                  "unsafe": ["unsafe"], "safe": ["safe"] },
 *     "categories": { "pattern": "\\bS(\\d{1,2})\\b",
 *                     "names": {"1": "violent crimes", ...} } }
 *
 * Message contents are templates: {{query}} is the original request (the
 * record's base_query when the query was attacked), {{attacked_query}} the
 * query as the model saw it, {{response}} what the judge is shown, and
 * {{category}} the record's category (empty when absent). The verdict
 * pattern's first capture group must equal one of the "unsafe" or "safe"
 * values, compared without case when "caseless" is set. Anything else is
 * unparseable output. Category matches are searched after the verdict,
 * their first capture group mapped through "names" (kept as is when not
 * listed).
 *
 * Ownership: sr_llmjudge_load returns a judge freed by sr_llmjudge_free
 * (accepts NULL). Request bodies and category arrays are new references.
 */
#ifndef SR_LLMJUDGE_H
#define SR_LLMJUDGE_H

#include <stddef.h>
#include <jansson.h>
#include "sr.h"

struct sr_llmjudge;

/* Load a judge by name (judges/NAME.json in the data directory) or from a
 * path (anything containing '/' or ending in ".json"). SR_ENOTFOUND for an
 * unknown name; SR_EDATA naming the member for a malformed file, an invalid
 * pattern or an unknown {{variable}}. */
int sr_llmjudge_load(const char *name_or_path, struct sr_llmjudge **out, struct sr_error *err);
void sr_llmjudge_free(struct sr_llmjudge *j);
const char *sr_llmjudge_name(const struct sr_llmjudge *j);

/* The texts of one judgement, each s[0..len) so that a U+0000 inside a
 * text reaches the judge with the rest of it. Strings are borrowed; NULL
 * reads as empty. */
struct sr_llmjudge_input {
	const char *query;          /* the original request */
	size_t query_len;
	const char *attacked_query; /* the query the model saw */
	size_t attacked_query_len;
	const char *response;       /* the text to judge */
	size_t response_len;
	const char *category;
	size_t category_len;
};

/* Build the chat request body for one judgement (new reference): messages
 * with the variables filled in, max_tokens and temperature. attempt 0 uses
 * "temperature"; a retry (attempt >= 1) uses "retry_temperature" and a
 * "seed" of attempt, so that neither the endpoint nor the client's cache
 * returns the same unparseable text again. NULL on allocation failure. */
json_t *sr_llmjudge_request(const struct sr_llmjudge *j, const struct sr_llmjudge_input *in, int attempt);

/* Parse a judge's output. On success *unsafe is 1 or 0 and *categories a
 * new array of category names (empty when none). SR_EDATA with a message
 * quoting the start of the text when the verdict is missing or unknown. */
int sr_llmjudge_parse(const struct sr_llmjudge *j, const char *text, size_t len, int *unsafe,
                      json_t **categories, struct sr_error *err);

/* Replace {{name}} variables in tmpl (see above) and return a new string
 * of *len bytes (NUL-terminated, and holding NUL bytes where the input
 * texts do), or NULL on allocation failure. An unknown variable stays as
 * it is, but sr_llmjudge_load rejects files that contain one. */
char *sr_llmjudge_fill(const char *tmpl, const struct sr_llmjudge_input *in, size_t *len);

#endif
