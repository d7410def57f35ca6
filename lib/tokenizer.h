/*
 * tokenizer.h - byte-level BPE tokenizers in the Hugging Face tokenizer.json
 * format: loading, encoding, decoding, saving, and the `sr-train tokenize`
 * subcommand.
 *
 * Ownership: sr_tokenizer_load and sr_bpe_train (bpe_train.h) return a new
 * tokenizer that the caller frees with sr_tokenizer_free (accepts NULL). A
 * loaded tokenizer is never modified by encoding or decoding, so one
 * tokenizer may be shared by threads that each pass their own output
 * buffers. Strings returned by lookup functions are borrowed from the
 * tokenizer and live as long as it does. struct sr_ids is caller-owned and
 * released with sr_ids_release.
 *
 * What is supported from tokenizer.json: model type BPE (vocab, merges as
 * "a b" strings or ["a", "b"] pairs, ignore_merges, byte_fallback,
 * unk_token, fuse_unk); added tokens (special or not, lstrip, rstrip,
 * single_word, normalized); normalizers NFC, NFD, NFKC, NFKD, Lowercase,
 * Prepend, Replace, Sequence; pre-tokenizers Split (Regex or String pattern, every behavior,
 * invert), ByteLevel (add_prefix_space, use_regex), Digits, Sequence; the
 * TemplateProcessing post-processor; decoders ByteLevel, ByteFallback,
 * Fuse, Strip, Replace, Sequence. Anything else is rejected at load time
 * with SR_EDATA naming the type, never silently ignored.
 */
#ifndef SR_TOKENIZER_H
#define SR_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>
#include "sr.h"
#include "util.h"

struct sr_tokenizer;

/* A growable array of token ids. Zero-initialise it before first use. */
struct sr_ids {
	int32_t *data;
	size_t len, cap;
};

/* Append one id; returns 0 or SR_ENOMEM (ids unchanged). */
int sr_ids_push(struct sr_ids *ids, int32_t id);
/* Append n ids; returns 0 or SR_ENOMEM (ids unchanged). */
int sr_ids_append(struct sr_ids *ids, const int32_t *src, size_t n);
void sr_ids_release(struct sr_ids *ids);

/* Flags for sr_tokenizer_encode. The default (0) matches Hugging Face's
 * tokenizer.encode(text, add_special_tokens=False): added and special tokens
 * written in the text are recognised and become their ids. */
enum sr_encode_flags {
	/* Add the special tokens of the post-processor (e.g. BOS), as Hugging
	 * Face's add_special_tokens=True does. When tokenizer.json has no
	 * TemplateProcessing, tokenizer_config.json's add_bos_token and
	 * add_eos_token are used instead. */
	SR_ENCODE_ADD_SPECIAL = 1,
	/* Treat added tokens in the text as plain text, so "<|im_end|>" in a
	 * user message is split into ordinary tokens (transformers calls this
	 * split_special_tokens). */
	SR_ENCODE_SPLIT_SPECIAL = 2,
};

/* Flags for sr_tokenizer_decode. */
enum sr_decode_flags {
	/* Leave out tokens marked special (added tokens with "special": true). */
	SR_DECODE_SKIP_SPECIAL = 1,
	/* Output the decoded bytes as they are. By default invalid UTF-8 is
	 * replaced by U+FFFD (one per maximal invalid sequence), as Hugging
	 * Face's decoders do. */
	SR_DECODE_RAW = 2,
};

/* Load a tokenizer. path is a tokenizer.json file or a directory holding
 * one. A tokenizer_config.json in the same directory is read when present
 * for the BOS, EOS and PAD tokens, add_bos_token/add_eos_token and the chat
 * template. Returns 0, SR_EIO or SR_ENOTFOUND (cannot read), SR_EDATA
 * (malformed or unsupported content, named in err), SR_ENOMEM. */
int sr_tokenizer_load(const char *path, struct sr_tokenizer **out, struct sr_error *err);
void sr_tokenizer_free(struct sr_tokenizer *tok);

/* Encode len bytes of UTF-8 text and append the ids to ids. Returns 0,
 * SR_EDATA (text is not valid UTF-8, or a character has no token and the
 * model has neither unk_token nor byte_fallback), SR_ENOMEM. On failure ids
 * may hold a partial result beyond its old length; its old contents stay. */
int sr_tokenizer_encode(const struct sr_tokenizer *tok, const char *text, size_t len,
	int flags, struct sr_ids *ids, struct sr_error *err);

/* Decode n ids and append the text to out (NUL-terminated). Returns 0,
 * SR_EDATA (an id outside the vocabulary), SR_ENOMEM. */
int sr_tokenizer_decode(const struct sr_tokenizer *tok, const int32_t *ids, size_t n,
	int flags, struct sr_buf *out, struct sr_error *err);

/* Append the raw bytes one token stands for to out, for streaming output
 * where a character may span tokens: the byte-level mapping and byte
 * fallback are undone, an added token gives its content. Returns 0,
 * SR_EDATA (unknown id), SR_ENOMEM. */
int sr_tokenizer_token_bytes(const struct sr_tokenizer *tok, int32_t id, struct sr_buf *out,
	struct sr_error *err);

/* Number of ids: one more than the largest id in the vocabulary and the
 * added tokens. The embedding table of a model needs at least this many
 * rows. */
size_t sr_tokenizer_vocab_size(const struct sr_tokenizer *tok);

/* Id of a token given in its tokenizer.json spelling (e.g. "<|im_end|>",
 * "<|eot_id|>", "Ġthe"), or -1 when there is none. Added tokens first. */
int32_t sr_tokenizer_token_id(const struct sr_tokenizer *tok, const char *token);
/* The tokenizer.json spelling of an id (borrowed), or NULL when unknown. */
const char *sr_tokenizer_token(const struct sr_tokenizer *tok, int32_t id);
/* Whether id is an added token marked special. */
int sr_tokenizer_is_special(const struct sr_tokenizer *tok, int32_t id);

/* Ids of the BOS, EOS and PAD tokens named by tokenizer_config.json (or set
 * by training), or -1 when not defined. */
int32_t sr_tokenizer_bos_id(const struct sr_tokenizer *tok);
int32_t sr_tokenizer_eos_id(const struct sr_tokenizer *tok);
int32_t sr_tokenizer_pad_id(const struct sr_tokenizer *tok);

/* tokenizer_config.json's chat_template string (borrowed), or NULL. */
const char *sr_tokenizer_chat_template(const struct sr_tokenizer *tok);

/* Write DIR/tokenizer.json (model BPE with vocab and merges, added tokens,
 * normalizer, pre-tokenizer, decoder, post-processor, loadable by Hugging
 * Face tokenizers) and DIR/tokenizer_config.json (bos/eos/pad tokens, the
 * chat template, tokenizer_class). The directory must exist. Each file is
 * written to a temporary name and renamed. Returns 0, SR_EIO, SR_ENOMEM. */
int sr_tokenizer_save(const struct sr_tokenizer *tok, const char *dir, struct sr_error *err);

/* The `sr-train tokenize` subcommand: argv[0] is "tokenize". Reads one JSON
 * string per line (--raw: plain text lines), writes one JSON array of ids
 * per line; --decode reads arrays and writes strings. Prints its own
 * messages through lib/msg.h and returns a process exit status (0, 1, 2 or
 * 3). Run `sr-train tokenize --help` for the options. */
int sr_tokenize_cmd(int argc, char **argv);

#endif
