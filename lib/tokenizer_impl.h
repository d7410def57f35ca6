/*
 * tokenizer_impl.h - the inside of struct sr_tokenizer, shared by
 * tokenizer.c (encoding and decoding), tokenizer_json.c (loading and
 * saving) and bpe_train.c. Not installed; not part of the library's API.
 *
 * Ownership: everything reachable from struct sr_tokenizer belongs to it
 * and is freed by sr_tokenizer_free.
 */
#ifndef SR_TOKENIZER_IMPL_H
#define SR_TOKENIZER_IMPL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <jansson.h>
#include "tokenizer.h"

/* Hard limits that keep a hostile tokenizer.json from exhausting memory. */
#define TOK_MAX_VOCAB (1u << 24)
#define TOK_MAX_TOKEN_BYTES 4096

/* String -> id map with open addressing. Keys are borrowed from the token
 * table, which outlives the map. */
struct strmap_entry {
	const char *key; /* NULL marks an empty slot */
	uint32_t len;
	int32_t id;
};

struct strmap {
	struct strmap_entry *slots;
	size_t mask, count;
};

/* (left id, right id) -> merge rank and the id of the merged token. */
struct pairmap_entry {
	uint64_t key; /* UINT64_MAX marks an empty slot */
	int32_t rank, id;
};

struct pairmap {
	struct pairmap_entry *slots;
	size_t mask, count;
};

struct added_token {
	char *content;
	size_t len;
	int32_t id;
	unsigned special : 1, lstrip : 1, rstrip : 1, single_word : 1, normalized : 1;
};

enum norm_kind {
	NORM_NFC, NORM_NFD, NORM_NFKC, NORM_NFKD, NORM_LOWERCASE, NORM_PREPEND, NORM_REPLACE,
};

/* One normalizer step. */
struct norm_step {
	enum norm_kind kind;
	char *text;          /* Prepend: the prefix; Replace: the replacement */
	size_t text_len;
	char *literal;       /* Replace with a String pattern */
	size_t literal_len;
	pcre2_code *re;      /* Replace with a Regex pattern */
};

/* Hugging Face's SplitDelimiterBehavior. */
enum split_behavior {
	SPLIT_REMOVED,
	SPLIT_ISOLATED,
	SPLIT_MERGED_PREVIOUS,
	SPLIT_MERGED_NEXT,
	SPLIT_CONTIGUOUS,
};

enum pre_kind { PRE_SPLIT, PRE_BYTELEVEL };

/* One pre-tokenizer step. Digits is a Split with a digit pattern;
 * ByteLevel with use_regex carries the GPT-2 pattern in re. */
struct pre_step {
	enum pre_kind kind;
	pcre2_code *re;          /* NULL for a String pattern */
	char *literal;           /* the String pattern, when re is NULL */
	size_t literal_len;
	enum split_behavior behavior;
	int invert;
	int add_prefix_space;    /* ByteLevel */
};

enum dec_kind { DEC_BYTELEVEL, DEC_BYTEFALLBACK, DEC_FUSE, DEC_STRIP, DEC_REPLACE };

struct dec_step {
	enum dec_kind kind;
	char *content;           /* Strip: the character; Replace: replacement */
	size_t content_len;
	char *pattern;           /* Replace: the literal to replace */
	size_t pattern_len;
	int start, stop;         /* Strip counts */
};

struct sr_tokenizer {
	/* id -> spelling as in tokenizer.json, borrowed from vocab_keys or
	 * from an added token's content (added tokens win); NULL where an id
	 * is unused. */
	const char **tokens;
	uint32_t *token_len;
	size_t n_ids;
	/* The vocabulary's strings (owned), in the order they were added. */
	char **vocab_keys;
	size_t n_vocab_keys;

	struct strmap vocab;     /* model vocabulary */
	struct pairmap merges;
	int32_t (*merge_pairs)[2]; /* by rank, for saving */
	size_t n_merges;

	struct added_token *added;
	size_t n_added;
	/* Indices into added, grouped by first byte and longest first within
	 * a group: the group of byte b is added_sorted[added_start[b] ..
	 * added_start[b + 1]). */
	uint32_t *added_sorted;
	uint32_t added_start[257];
	/* Added tokens per [normalized flag][special flag], to skip searches
	 * that cannot match. */
	size_t n_added_kind[2][2];
	unsigned char *is_special; /* n_ids flags */
	int32_t *added_index;      /* id -> index in added, or -1 */

	struct norm_step *norms;
	size_t n_norms;
	struct pre_step *pre;
	size_t n_pre;
	struct dec_step *dec;
	size_t n_dec;
	int has_decoder;

	int ignore_merges, byte_fallback, fuse_unk;
	int32_t unk_id;
	int32_t byte_ids[256];   /* <0xXX> tokens for byte fallback, or -1 */
	int byte_level;          /* a ByteLevel pre-tokenizer is present */
	int32_t byte_token[256]; /* id of each byte's byte-level character, or -1 */

	/* Special tokens added by SR_ENCODE_ADD_SPECIAL. */
	int32_t *prefix_ids, *suffix_ids;
	size_t n_prefix, n_suffix;

	int32_t bos_id, eos_id, pad_id;
	char *chat_template;

	/* The sections written back by sr_tokenizer_save. */
	json_t *normalizer_json, *pre_tokenizer_json, *post_processor_json, *decoder_json;
	json_t *model_options;   /* model object without vocab and merges */
	json_t *config;          /* tokenizer_config.json, or NULL */
};

/* Byte-level alphabet: the character (UTF-8, 1 or 2 bytes) GPT-2's
 * bytes_to_unicode gives each byte, and the way back. tok_byte_char writes
 * it NUL-terminated and returns its length. */
size_t tok_byte_char(unsigned byte, char out[3]);
/* Byte for a code point of the byte-level alphabet, or -1. */
int tok_char_byte(int32_t cp);

/* Build a tokenizer from parsed tokenizer.json (borrowed) and
 * tokenizer_config.json (borrowed, may be NULL). */
int sr_tokenizer_from_json(json_t *root, json_t *config, struct sr_tokenizer **out,
	struct sr_error *err);

/* strmap helpers used by the trainer too. */
int strmap_put(struct strmap *m, const char *key, uint32_t len, int32_t id);
int32_t strmap_get(const struct strmap *m, const char *key, size_t len);
void strmap_release(struct strmap *m);

/* Compile a split pattern for UTF-8 text with Unicode properties. */
int tok_compile_pattern(const char *pattern, pcre2_code **out, struct sr_error *err);

#define TOK_LLAMA3_PATTERN \
	"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}|" \
	" ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define TOK_GPT2_PATTERN \
	"'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"

#endif
