/*
 * chat.h - chat templates: turning a `messages` array into the token ids a
 * model trains on or continues, with a mask of the tokens to learn.
 *
 * Two formats are built in, written out in C rather than interpreted from
 * Jinja:
 *
 *   chatml   <|im_start|>ROLE\nCONTENT<|im_end|>\n ...
 *            generation prompt: <|im_start|>assistant\n
 *            end of turn: <|im_end|> (and <|endoftext|> where it exists)
 *   llama3   <|begin_of_text|><|start_header_id|>ROLE<|end_header_id|>\n\n
 *            CONTENT<|eot_id|> ... with CONTENT trimmed of surrounding
 *            whitespace, as the Llama 3 template's `| trim` does
 *            generation prompt: <|start_header_id|>assistant<|end_header_id|>\n\n
 *            end of turn: <|eot_id|> (and <|end_of_text|>)
 *
 * Tokenization is done piece by piece. The template's own text (headers,
 * end-of-turn tokens) is encoded with special tokens recognised, and each
 * message's content with special tokens NOT recognised, so text such as
 * "<|im_end|>" inside a user message cannot forge a turn boundary. Because
 * content starts a new piece, the first token of an assistant reply is the
 * one the model has to produce after the generation prompt.
 *
 * The assistant mask is 1 on the tokens of an assistant message's content
 * and on its end-of-turn token, 0 everywhere else (system and user turns,
 * headers, the newline after <|im_end|>).
 *
 * Ownership: sr_chat_new returns a new object freed with sr_chat_free
 * (accepts NULL); it borrows the tokenizer, which must outlive it. struct
 * sr_chat_seq is caller-owned, zero-initialised before use, released with
 * sr_chat_seq_release. messages arrays are borrowed.
 */
#ifndef SR_CHAT_H
#define SR_CHAT_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "sr.h"
#include "util.h"
#include "tokenizer.h"

enum sr_chat_format {
	SR_CHAT_CHATML,
	SR_CHAT_LLAMA3,
};

struct sr_chat;

/* Token ids and, in parallel, 1 for tokens that carry the loss. */
struct sr_chat_seq {
	int32_t *ids;
	uint8_t *mask;
	size_t len, cap;
};

void sr_chat_seq_reset(struct sr_chat_seq *seq);
void sr_chat_seq_release(struct sr_chat_seq *seq);

/* Parse a template name ("chatml", "llama3"). Returns 0 or SR_EUSAGE. */
int sr_chat_format_parse(const char *name, enum sr_chat_format *out, struct sr_error *err);
const char *sr_chat_format_name(enum sr_chat_format format);
/* The format's Jinja template, in the form Hugging Face transformers reads
 * from tokenizer_config.json's chat_template (static string). */
const char *sr_chat_format_jinja(enum sr_chat_format format);

/* Pick the format a tokenizer was made for: from the chat_template of its
 * tokenizer_config.json when it mentions <|im_start|> or
 * <|start_header_id|>, otherwise from which of those tokens the vocabulary
 * has. Returns 0 or SR_ENOTFOUND (neither; use --template). */
int sr_chat_format_detect(const struct sr_tokenizer *tok, enum sr_chat_format *out,
	struct sr_error *err);

/* Make a renderer for a format. name NULL detects the format from the
 * tokenizer. Returns 0, SR_EUSAGE (unknown name), SR_ENOTFOUND (the
 * tokenizer lacks a token the format needs, or detection failed), SR_ENOMEM. */
int sr_chat_new(const struct sr_tokenizer *tok, const char *name, struct sr_chat **out,
	struct sr_error *err);
void sr_chat_free(struct sr_chat *chat);
enum sr_chat_format sr_chat_format_of(const struct sr_chat *chat);

/* Render messages ([{role, content}, ...], roles system, user, assistant
 * or any other string; content a string) as text, exactly as the model's
 * Jinja template would, with the generation prompt appended when
 * add_generation_prompt is set. Appends to out. Returns 0, SR_EDATA (not an
 * array of objects with string role and content; err->field names the
 * member, e.g. "/1/content"), SR_ENOMEM. */
int sr_chat_render_text(const struct sr_chat *chat, const json_t *messages,
	int add_generation_prompt, struct sr_buf *out, struct sr_error *err);

/* Encode messages for training: append ids and the assistant mask to seq.
 * Errors as for sr_chat_render_text, plus tokenizer errors; on failure seq
 * keeps its old length. */
int sr_chat_encode(const struct sr_chat *chat, const json_t *messages,
	struct sr_chat_seq *seq, struct sr_error *err);

/* Encode messages followed by the generation prompt (the assistant header),
 * for sampling a reply; all mask entries are 0. */
int sr_chat_encode_prompt(const struct sr_chat *chat, const json_t *messages,
	struct sr_chat_seq *seq, struct sr_error *err);

/* The ids that end an assistant turn; generation stops at any of them.
 * Borrowed array of *n ids (n >= 1). */
const int32_t *sr_chat_stop_ids(const struct sr_chat *chat, size_t *n);

/* Whether id ends an assistant turn. */
int sr_chat_is_stop(const struct sr_chat *chat, int32_t id);

#endif
