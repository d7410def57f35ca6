/*
 * bpe_train.h - training a byte-level BPE tokenizer from text.
 *
 * The trained tokenizer splits text with a Llama 3 style pattern (letters,
 * up to three digits, punctuation runs, whitespace), maps bytes to the
 * printable characters of the GPT-2 byte-level alphabet and learns merges
 * by counting adjacent pairs, merging the most frequent pair each round
 * (ties go to the smaller pair of ids, so training is deterministic). Its
 * vocabulary starts with the special tokens (ids 0..n-1), then the 256
 * byte tokens, then one token per merge. Every byte has a token, so any
 * text encodes and decodes back exactly.
 *
 * Ownership: a trainer from sr_bpe_trainer_new is freed with
 * sr_bpe_trainer_free (accepts NULL). Texts passed to sr_bpe_trainer_add
 * are borrowed for the call only. The tokenizer returned by
 * sr_bpe_trainer_finish or sr_bpe_train is new and freed with
 * sr_tokenizer_free.
 */
#ifndef SR_BPE_TRAIN_H
#define SR_BPE_TRAIN_H

#include <stddef.h>
#include "sr.h"
#include "tokenizer.h"

struct sr_bpe_options {
	/* Target number of ids, special and byte tokens included. Training
	 * stops earlier when no pair occurs min_frequency times. Must be at
	 * least 256 + the number of special tokens. */
	size_t vocab_size;
	/* Pairs occurring fewer times are never merged; 0 is taken as 2. */
	size_t min_frequency;
	/* Special tokens (borrowed), given ids 0..n_special-1 in this order.
	 * NULL with n_special 0 means the ChatML set: <|endoftext|>,
	 * <|im_start|>, <|im_end|>. */
	const char *const *special_tokens;
	size_t n_special;
	/* Tokens named in tokenizer_config.json; each must be one of the
	 * special tokens, or NULL for none. When special_tokens is NULL they
	 * default to eos "<|im_end|>" and pad "<|endoftext|>", with no BOS. */
	const char *bos_token, *eos_token, *pad_token;
	/* Chat template written to tokenizer_config.json, or NULL for the
	 * ChatML template. */
	const char *chat_template;
	/* Pre-tokenizer split pattern (PCRE2 syntax, also valid for Hugging
	 * Face's Oniguruma), or NULL for the Llama 3 pattern. */
	const char *pattern;
	/* Cap on distinct pre-tokenized words kept for counting; 0 means
	 * 4 Mi. Adding text beyond it returns SR_ETOOBIG. */
	size_t max_words;
};

/* Fill opts with the defaults described above and the given vocab_size. */
void sr_bpe_options_init(struct sr_bpe_options *opts, size_t vocab_size);

struct sr_bpe_trainer;

/* Returns 0, SR_EUSAGE (inconsistent options, named in err), SR_EDATA (the
 * pattern does not compile), SR_ENOMEM. opts is copied. */
int sr_bpe_trainer_new(const struct sr_bpe_options *opts, struct sr_bpe_trainer **out,
	struct sr_error *err);
/* Count the words of len bytes of UTF-8 text. Special tokens that occur in
 * the text are cut out and not counted. Returns 0, SR_EDATA (invalid
 * UTF-8), SR_ETOOBIG (max_words reached), SR_ENOMEM. */
int sr_bpe_trainer_add(struct sr_bpe_trainer *tr, const char *text, size_t len,
	struct sr_error *err);
/* Learn the merges and return the tokenizer. The trainer can be freed
 * afterwards; it cannot be used for more text. */
int sr_bpe_trainer_finish(struct sr_bpe_trainer *tr, struct sr_tokenizer **out,
	struct sr_error *err);
void sr_bpe_trainer_free(struct sr_bpe_trainer *tr);

/* Train on n NUL-terminated texts in one call. */
int sr_bpe_train(const char *const *texts, size_t n, const struct sr_bpe_options *opts,
	struct sr_tokenizer **out, struct sr_error *err);

#endif
