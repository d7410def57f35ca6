/*
 * attack.h - transforms that disguise a request, for evaluation sets that
 * measure whether a model still recognises a harmful request once it is
 * encoded, reframed or rewritten.
 *
 * Offline transforms (encodings, ciphers, word games, the code puzzle, the
 * role-play, fiction and hypothetical wrappers, and the rule-based past
 * tense) run here. Model-driven ones (past_tense, future_tense, translate,
 * persuade) only build the chat request here; the caller sends it with
 * lib/client.h and cleans the reply with sr_attack_model_text. Every
 * wording a model or a reader sees comes from a templates file
 * (templates/attacks.json), not from code.
 *
 * Ownership: sr_attack_templates_load returns an object freed with
 * sr_attack_templates_free. Results go into caller-owned struct sr_buf
 * (reset first). Names and descriptions returned are static.
 */
#ifndef SR_ATTACK_H
#define SR_ATTACK_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "sr.h"
#include "util.h"

struct sr_attack_info {
	const char *name;
	const char *description; /* one line, for --list */
	int model;               /* needs a chat-completions endpoint */
	int randomized;          /* draws from the record's generator */
	int invertible;          /* sr_attack_invert recovers the request byte for byte */
};

/* All transforms in their documented order; *n is set to the count. */
const struct sr_attack_info *sr_attack_all(size_t *n);
/* The transform called name, or NULL. */
const struct sr_attack_info *sr_attack_find(const char *name);

struct sr_attack_templates;

/* Load and check a templates file: every transform has its entry, every
 * template has its placeholders exactly once, and no unknown placeholder
 * appears. path NULL means templates/attacks.json from the data
 * directories (sr_data_path). SR_ENOTFOUND, SR_EIO, or SR_EDATA naming the
 * entry. */
int sr_attack_templates_load(const char *path, struct sr_attack_templates **out,
                             struct sr_error *err);
void sr_attack_templates_free(struct sr_attack_templates *t);

struct sr_attack_params {
	const struct sr_attack_templates *templates; /* borrowed */
	int shift;               /* caesar: 1..25 */
	const char *language;    /* translate: target language name */
};

/* Apply offline transform name to the request text[0..len) into out. rng
 * picks the template variant and the random choices of split and code;
 * seed it per record so results do not depend on order. SR_EUSAGE for a
 * model-driven or unknown name, SR_EDATA when the request cannot be
 * transformed (split with every separator already in the text). */
int sr_attack_apply(const char *name, const char *text, size_t len,
                    const struct sr_attack_params *p, struct sr_rng *rng, struct sr_buf *out,
                    struct sr_error *err);

/* Recover the request from the output of an invertible transform, trying
 * every template variant. Returns 0, SR_ENOTFOUND when text does not match
 * any variant, SR_EUSAGE for a transform without an inverse. leetspeak,
 * whose digits are ambiguous, is decoded best-effort here: every 4 3 1 0 5
 * 7 becomes a e i o s t. */
int sr_attack_invert(const char *name, const char *text, size_t len,
                     const struct sr_attack_params *p, struct sr_buf *out, struct sr_error *err);

/* Build the chat-completions body (new reference) that asks a model to
 * apply model-driven transform name to the request text[0..len).
 * temperature < 0 leaves it out; max_tokens 0 leaves it out. NULL with err
 * on failure. */
json_t *sr_attack_model_request(const char *name, const char *text, size_t len,
                                const struct sr_attack_params *p, double temperature,
                                long max_tokens, struct sr_error *err);

/* Clean a model's reply into the disguised request: drop a reasoning block
 * that opens it (from open to close, the guideline set's tags; NULL tags
 * keep the reply whole), trim white space, drop one pair of quotes around
 * the whole reply, and drop a leading label line such as "Rewritten
 * request:". SR_EDATA when nothing is left or the reply ends inside its
 * reasoning. */
int sr_attack_model_text(const char *reply, size_t len, const char *open, const char *close,
                         struct sr_buf *out, struct sr_error *err);

/* Codecs, shared with decoders elsewhere. Encoders cannot fail except for
 * memory; decoders return SR_EDATA for text outside the alphabet. */
int sr_base64_encode(const void *data, size_t len, struct sr_buf *out);
int sr_base64_decode(const char *text, size_t len, struct sr_buf *out);
int sr_hex_encode(const void *data, size_t len, struct sr_buf *out);
int sr_hex_decode(const char *text, size_t len, struct sr_buf *out);
/* Shift ASCII letters by shift (mod 26); other bytes stay. rot13 is 13. */
int sr_caesar(const char *text, size_t len, int shift, struct sr_buf *out);
/* Reverse the order of the words, keeping each run of white space in its
 * mirrored place, so that applying it twice gives the text back. */
int sr_reverse_words(const char *text, size_t len, struct sr_buf *out);
/* The rule-based past-tense rewrite of a request. */
int sr_past_tense_rules(const char *text, size_t len, struct sr_buf *out);

#endif
