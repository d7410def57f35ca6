/*
 * tokenizer_json.c - reading and writing the Hugging Face tokenizer.json
 * and tokenizer_config.json files.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "io.h"
#include "tokenizer_impl.h"

/* tokenizer.json for a large vocabulary is tens of MB; this caps hostile input. */
#define TOK_MAX_FILE ((size_t)1 << 30)

static int oom(struct sr_error *err)
{
	return sr_fail(err, SR_ENOMEM, "out of memory loading the tokenizer");
}

static int bad(struct sr_error *err, const char *field, const char *fmt, const char *value)
{
	int rc = sr_fail(err, SR_EDATA, fmt, value);
	if (err && field)
		snprintf(err->field, sizeof err->field, "%s", field);
	return rc;
}

static int get_bool(const json_t *obj, const char *key, int dflt)
{
	const json_t *v = json_object_get(obj, key);
	return json_is_boolean(v) ? json_is_true(v) : dflt;
}

static const char *type_of(const json_t *obj)
{
	const char *t = json_string_value(json_object_get(obj, "type"));
	return t ? t : "";
}

/* ---- model ---- */

static int set_token(struct sr_tokenizer *tok, int32_t id, const char *s, size_t len)
{
	tok->tokens[id] = s;
	tok->token_len[id] = (uint32_t)len;
	return 0;
}

static int max_id(const json_t *root, size_t *n_ids, struct sr_error *err)
{
	const json_t *vocab = json_object_get(json_object_get(root, "model"), "vocab");
	const char *key;
	const json_t *val;
	size_t i;
	json_int_t top = -1;

	json_object_foreach((json_t *)vocab, key, val) {
		if (!json_is_integer(val) || json_integer_value(val) < 0 ||
		    json_integer_value(val) >= TOK_MAX_VOCAB)
			return bad(err, "/model/vocab", "vocab entry '%s' has no valid id", key);
		if (json_integer_value(val) > top)
			top = json_integer_value(val);
	}
	json_array_foreach(json_object_get(root, "added_tokens"), i, val) {
		json_t *id = json_object_get(val, "id");
		if (!json_is_integer(id) || json_integer_value(id) < 0 ||
		    json_integer_value(id) >= TOK_MAX_VOCAB)
			return bad(err, "/added_tokens", "added token %s has no valid id",
				json_string_value(json_object_get(val, "content")) ?
				json_string_value(json_object_get(val, "content")) : "?");
		if (json_integer_value(id) > top)
			top = json_integer_value(id);
	}
	*n_ids = (size_t)(top + 1);
	return 0;
}

static int pairmap_put(struct pairmap *m, int32_t a, int32_t b, int32_t rank, int32_t id)
{
	if (!m->slots || (m->count + 1) * 4 > (m->mask + 1) * 3) {
		size_t ncap = m->slots ? (m->mask + 1) * 2 : 1024;
		struct pairmap_entry *slots = malloc(ncap * sizeof *slots);
		if (!slots)
			return SR_ENOMEM;
		for (size_t i = 0; i < ncap; i++)
			slots[i].key = UINT64_MAX;
		for (size_t i = 0; m->slots && i <= m->mask; i++) {
			if (m->slots[i].key == UINT64_MAX)
				continue;
			uint64_t k = m->slots[i].key;
			k ^= k >> 33; k *= 0xff51afd7ed558ccdull; k ^= k >> 33;
			k *= 0xc4ceb9fe1a85ec53ull; k ^= k >> 33;
			size_t j = k & (ncap - 1);
			while (slots[j].key != UINT64_MAX)
				j = (j + 1) & (ncap - 1);
			slots[j] = m->slots[i];
		}
		free(m->slots);
		m->slots = slots;
		m->mask = ncap - 1;
	}
	uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
	uint64_t h = key;
	h ^= h >> 33; h *= 0xff51afd7ed558ccdull; h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull; h ^= h >> 33;
	size_t j = h & m->mask;
	while (m->slots[j].key != UINT64_MAX && m->slots[j].key != key)
		j = (j + 1) & m->mask;
	if (m->slots[j].key == UINT64_MAX)
		m->count++;
	m->slots[j] = (struct pairmap_entry){ key, rank, id };
	return 0;
}

/* Split one merge entry into its two sides: "a b" or ["a", "b"]. */
static int merge_sides(const json_t *entry, size_t rank, const char **a, size_t *alen,
	const char **b, size_t *blen, struct sr_error *err)
{
	char where[64];
	snprintf(where, sizeof where, "/model/merges/%zu", rank);
	if (json_is_string(entry)) {
		const char *s = json_string_value(entry);
		const char *sp = strchr(s, ' ');
		if (!sp || strchr(sp + 1, ' '))
			return bad(err, where, "merge '%s' is not two tokens separated by one space", s);
		*a = s;
		*alen = (size_t)(sp - s);
		*b = sp + 1;
		*blen = strlen(sp + 1);
		return 0;
	}
	if (json_is_array(entry) && json_array_size(entry) == 2 &&
	    json_is_string(json_array_get(entry, 0)) && json_is_string(json_array_get(entry, 1))) {
		*a = json_string_value(json_array_get(entry, 0));
		*alen = json_string_length(json_array_get(entry, 0));
		*b = json_string_value(json_array_get(entry, 1));
		*blen = json_string_length(json_array_get(entry, 1));
		return 0;
	}
	return bad(err, where, "%s", "a merge is neither \"a b\" nor [\"a\", \"b\"]");
}

static int load_merges(struct sr_tokenizer *tok, const json_t *merges, struct sr_error *err)
{
	struct sr_buf joined = { 0 };
	size_t n = json_array_size(merges);
	int rc = 0;

	if (merges && !json_is_array(merges))
		return bad(err, "/model/merges", "%s", "merges is not an array");
	tok->merge_pairs = malloc((n ? n : 1) * sizeof *tok->merge_pairs);
	if (!tok->merge_pairs)
		return oom(err);
	for (size_t i = 0; i < n; i++) {
		const char *a = NULL, *b = NULL;
		size_t alen = 0, blen = 0;
		if ((rc = merge_sides(json_array_get(merges, i), i, &a, &alen, &b, &blen, err)) < 0)
			break;
		int32_t ia = strmap_get(&tok->vocab, a, alen);
		int32_t ib = strmap_get(&tok->vocab, b, blen);
		joined.len = 0;
		if (sr_buf_append(&joined, a, alen) < 0 || sr_buf_append(&joined, b, blen) < 0) {
			rc = oom(err);
			break;
		}
		int32_t im = strmap_get(&tok->vocab, joined.data, joined.len);
		if (ia < 0 || ib < 0 || im < 0) {
			char where[64];
			snprintf(where, sizeof where, "/model/merges/%zu", i);
			rc = bad(err, where, "merge into '%s' uses a token that is not in the vocab",
				joined.data);
			break;
		}
		/* A repeated pair takes the later rank: in the reference
		 * implementation's rank map a later entry replaces an earlier one. */
		if (pairmap_put(&tok->merges, ia, ib, (int32_t)i, im) < 0) {
			rc = oom(err);
			break;
		}
		tok->merge_pairs[i][0] = ia;
		tok->merge_pairs[i][1] = ib;
		tok->n_merges = i + 1;
	}
	sr_buf_release(&joined);
	return rc;
}

static int load_model(struct sr_tokenizer *tok, const json_t *model, struct sr_error *err)
{
	const json_t *vocab = json_object_get(model, "vocab");
	const char *key;
	const json_t *val;
	int rc;

	if (!json_is_object(model))
		return bad(err, "/model", "%s", "tokenizer.json has no model object");
	if (strcmp(type_of(model), "BPE") != 0 &&
	    !(type_of(model)[0] == '\0' && json_object_get(model, "merges")))
		return bad(err, "/model/type", "model type '%s' is not supported (only BPE)",
			type_of(model));
	if (!json_is_object(vocab))
		return bad(err, "/model/vocab", "%s", "the model has no vocab object");
	for (const char *const *k = (const char *const[]){ "continuing_subword_prefix",
		"end_of_word_suffix", NULL }; *k; k++) {
		const json_t *v = json_object_get(model, *k);
		if (v && !json_is_null(v) && !(json_is_string(v) && json_string_length(v) == 0))
			return bad(err, "/model", "model option '%s' is not supported", *k);
	}

	tok->vocab_keys = calloc(json_object_size(vocab) + 1, sizeof *tok->vocab_keys);
	if (!tok->vocab_keys)
		return oom(err);
	json_object_foreach((json_t *)vocab, key, val) {
		int32_t id = (int32_t)json_integer_value(val);
		char *copy = strdup(key);
		if (!copy)
			return oom(err);
		tok->vocab_keys[tok->n_vocab_keys++] = copy;
		if (strlen(copy) > TOK_MAX_TOKEN_BYTES)
			return bad(err, "/model/vocab", "vocab entry '%.64s...' is too long", copy);
		if (strmap_put(&tok->vocab, copy, (uint32_t)strlen(copy), id) < 0)
			return oom(err);
		set_token(tok, id, copy, strlen(copy));
	}
	if ((rc = load_merges(tok, json_object_get(model, "merges"), err)) < 0)
		return rc;

	tok->ignore_merges = get_bool(model, "ignore_merges", 0);
	tok->byte_fallback = get_bool(model, "byte_fallback", 0);
	tok->fuse_unk = get_bool(model, "fuse_unk", 0);
	tok->unk_id = -1;
	const char *unk = json_string_value(json_object_get(model, "unk_token"));
	if (unk && (tok->unk_id = strmap_get(&tok->vocab, unk, strlen(unk))) < 0)
		return bad(err, "/model/unk_token", "unk_token '%s' is not in the vocab", unk);
	for (unsigned b = 0; b < 256; b++) {
		char name[8];
		snprintf(name, sizeof name, "<0x%02X>", b);
		tok->byte_ids[b] = strmap_get(&tok->vocab, name, 6);
	}

	/* Keep the options (everything but vocab and merges) for saving. */
	tok->model_options = json_deep_copy(model);
	if (!tok->model_options)
		return oom(err);
	json_object_del(tok->model_options, "vocab");
	json_object_del(tok->model_options, "merges");
	return 0;
}

static int load_added(struct sr_tokenizer *tok, const json_t *added, struct sr_error *err)
{
	size_t i;
	const json_t *a;

	if (added && !json_is_array(added))
		return bad(err, "/added_tokens", "%s", "added_tokens is not an array");
	tok->added = calloc(json_array_size(added) + 1, sizeof *tok->added);
	if (!tok->added)
		return oom(err);
	json_array_foreach((json_t *)added, i, a) {
		const json_t *content = json_object_get(a, "content");
		if (!json_is_string(content) || json_string_length(content) == 0)
			return bad(err, "/added_tokens", "%s", "an added token has no content");
		struct added_token *t = &tok->added[tok->n_added];
		t->len = json_string_length(content);
		t->content = malloc(t->len + 1);
		if (!t->content)
			return oom(err);
		memcpy(t->content, json_string_value(content), t->len + 1);
		tok->n_added++;
		t->id = (int32_t)json_integer_value(json_object_get(a, "id"));
		t->special = get_bool(a, "special", 0);
		t->lstrip = get_bool(a, "lstrip", 0);
		t->rstrip = get_bool(a, "rstrip", 0);
		t->single_word = get_bool(a, "single_word", 0);
		/* A missing "normalized" is taken as the opposite of "special". */
		t->normalized = get_bool(a, "normalized", !t->special);
		set_token(tok, t->id, t->content, t->len);
		tok->added_index[t->id] = (int32_t)(tok->n_added - 1);
		tok->is_special[t->id] = t->special;
	}
	return 0;
}

static int cmp_added(const void *x, const void *y, void *arg)
{
	const struct sr_tokenizer *sort_tok = arg;
	const struct added_token *a = &sort_tok->added[*(const uint32_t *)x];
	const struct added_token *b = &sort_tok->added[*(const uint32_t *)y];
	unsigned char ca = (unsigned char)a->content[0], cb = (unsigned char)b->content[0];
	if (ca != cb)
		return ca < cb ? -1 : 1;
	if (a->len != b->len)
		return a->len > b->len ? -1 : 1;
	return *(const uint32_t *)x < *(const uint32_t *)y ? -1 : 1;
}

/* Group the added tokens by first byte, longest first, for matching. */
static int index_added(struct sr_tokenizer *tok, struct sr_error *err)
{
	tok->added_sorted = malloc((tok->n_added + 1) * sizeof *tok->added_sorted);
	if (!tok->added_sorted)
		return oom(err);
	for (size_t i = 0; i < tok->n_added; i++) {
		tok->added_sorted[i] = (uint32_t)i;
		tok->n_added_kind[tok->added[i].normalized][tok->added[i].special]++;
	}
	qsort_r(tok->added_sorted, tok->n_added, sizeof *tok->added_sorted, cmp_added, tok);
	size_t k = 0;
	for (unsigned b = 0; b < 256; b++) {
		tok->added_start[b] = (uint32_t)k;
		while (k < tok->n_added && (unsigned char)tok->added[tok->added_sorted[k]].content[0] == b)
			k++;
	}
	tok->added_start[256] = (uint32_t)k;
	return 0;
}

/* ---- normalizer, pre-tokenizer, decoder, post-processor ---- */

static int copy_string(const json_t *v, char **out, size_t *len, struct sr_error *err)
{
	*len = json_string_length(v);
	*out = malloc(*len + 1);
	if (!*out)
		return oom(err);
	memcpy(*out, json_is_string(v) ? json_string_value(v) : "", *len + 1);
	return 0;
}

static int load_normalizer(struct sr_tokenizer *tok, const json_t *n, struct sr_error *err)
{
	static const struct { const char *name; enum norm_kind kind; } kinds[] = {
		{ "NFC", NORM_NFC }, { "NFD", NORM_NFD }, { "NFKC", NORM_NFKC },
		{ "NFKD", NORM_NFKD }, { "Lowercase", NORM_LOWERCASE }, { "Prepend", NORM_PREPEND },
		{ "Replace", NORM_REPLACE },
	};
	if (!n || json_is_null(n))
		return 0;
	if (strcmp(type_of(n), "Sequence") == 0) {
		size_t i;
		const json_t *sub;
		json_array_foreach(json_object_get(n, "normalizers"), i, sub) {
			int rc = load_normalizer(tok, sub, err);
			if (rc < 0)
				return rc;
		}
		return 0;
	}
	for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
		if (strcmp(type_of(n), kinds[k].name) != 0)
			continue;
		struct norm_step *p = realloc(tok->norms, (tok->n_norms + 1) * sizeof *p);
		if (!p)
			return oom(err);
		tok->norms = p;
		struct norm_step *st = &p[tok->n_norms++];
		memset(st, 0, sizeof *st);
		st->kind = kinds[k].kind;
		if (st->kind == NORM_PREPEND) {
			const json_t *prefix = json_object_get(n, "prepend");
			if (!json_is_string(prefix))
				return bad(err, "/normalizer", "%s", "Prepend has no prepend string");
			return copy_string(prefix, &st->text, &st->text_len, err);
		}
		if (st->kind == NORM_REPLACE) {
			const json_t *pat = json_object_get(n, "pattern");
			const char *regex = json_string_value(json_object_get(pat, "Regex"));
			const json_t *lit = json_object_get(pat, "String");
			int rc = copy_string(json_object_get(n, "content"), &st->text, &st->text_len, err);
			if (rc < 0)
				return rc;
			if (regex)
				return tok_compile_pattern(regex, &st->re, err);
			if (!json_is_string(lit) || json_string_length(lit) == 0)
				return bad(err, "/normalizer", "%s", "Replace pattern is neither Regex nor a non-empty String");
			return copy_string(lit, &st->literal, &st->literal_len, err);
		}
		return 0;
	}
	return bad(err, "/normalizer", "normalizer type '%s' is not supported", type_of(n));
}

int tok_compile_pattern(const char *pattern, pcre2_code **out, struct sr_error *err)
{
	int code;
	PCRE2_SIZE off;
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
		PCRE2_UTF | PCRE2_UCP, &code, &off, NULL);
	if (!re) {
		PCRE2_UCHAR msg[256];
		pcre2_get_error_message(code, msg, sizeof msg);
		return sr_fail(err, SR_EDATA, "split pattern does not compile at offset %zu: %s",
			(size_t)off, (const char *)msg);
	}
	/* Without JIT support the interpreter runs the same pattern, slower. */
	(void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
	*out = re;
	return 0;
}

static int add_pre(struct sr_tokenizer *tok, struct pre_step **out, struct sr_error *err)
{
	struct pre_step *p = realloc(tok->pre, (tok->n_pre + 1) * sizeof *p);
	if (!p)
		return oom(err);
	tok->pre = p;
	*out = &p[tok->n_pre++];
	memset(*out, 0, sizeof **out);
	return 0;
}

static int load_pre(struct sr_tokenizer *tok, const json_t *p, struct sr_error *err)
{
	struct pre_step *st;
	const char *type = type_of(p);
	int rc;

	if (!p || json_is_null(p))
		return 0;
	if (strcmp(type, "Sequence") == 0) {
		size_t i;
		const json_t *sub;
		json_array_foreach(json_object_get(p, "pretokenizers"), i, sub)
			if ((rc = load_pre(tok, sub, err)) < 0)
				return rc;
		return 0;
	}
	if (strcmp(type, "Split") == 0) {
		static const char *const names[] = { "Removed", "Isolated", "MergedWithPrevious",
			"MergedWithNext", "Contiguous" };
		const json_t *pat = json_object_get(p, "pattern");
		const char *behavior = json_string_value(json_object_get(p, "behavior"));
		if ((rc = add_pre(tok, &st, err)) < 0)
			return rc;
		st->kind = PRE_SPLIT;
		st->invert = get_bool(p, "invert", 0);
		st->behavior = SPLIT_ISOLATED;
		int found = 0;
		for (int k = 0; behavior && k < 5; k++)
			if (strcmp(behavior, names[k]) == 0) {
				st->behavior = (enum split_behavior)k;
				found = 1;
			}
		if (!found)
			return bad(err, "/pre_tokenizer", "split behavior '%s' is not supported",
				behavior ? behavior : "(none)");
		const char *regex = json_string_value(json_object_get(pat, "Regex"));
		const json_t *lit = json_object_get(pat, "String");
		if (regex)
			return tok_compile_pattern(regex, &st->re, err);
		if (!json_is_string(lit))
			return bad(err, "/pre_tokenizer", "%s", "split pattern is neither Regex nor String");
		st->literal_len = json_string_length(lit);
		st->literal = malloc(st->literal_len + 1);
		if (!st->literal)
			return oom(err);
		memcpy(st->literal, json_string_value(lit), st->literal_len + 1);
		return 0;
	}
	if (strcmp(type, "ByteLevel") == 0) {
		if ((rc = add_pre(tok, &st, err)) < 0)
			return rc;
		st->kind = PRE_BYTELEVEL;
		st->add_prefix_space = get_bool(p, "add_prefix_space", 1);
		tok->byte_level = 1;
		if (get_bool(p, "use_regex", 1))
			return tok_compile_pattern(TOK_GPT2_PATTERN, &st->re, err);
		return 0;
	}
	if (strcmp(type, "Digits") == 0) {
		if ((rc = add_pre(tok, &st, err)) < 0)
			return rc;
		st->kind = PRE_SPLIT;
		st->behavior = SPLIT_ISOLATED;
		return tok_compile_pattern(get_bool(p, "individual_digits", 0) ? "[0-9]" : "[0-9]+",
			&st->re, err);
	}
	return bad(err, "/pre_tokenizer", "pre-tokenizer type '%s' is not supported", type);
}


static int load_decoder(struct sr_tokenizer *tok, const json_t *d, struct sr_error *err)
{
	static const struct { const char *name; enum dec_kind kind; } kinds[] = {
		{ "ByteLevel", DEC_BYTELEVEL }, { "ByteFallback", DEC_BYTEFALLBACK },
		{ "Fuse", DEC_FUSE }, { "Strip", DEC_STRIP }, { "Replace", DEC_REPLACE },
	};
	const char *type = type_of(d);
	int rc;

	if (!d || json_is_null(d))
		return 0;
	tok->has_decoder = 1;
	if (strcmp(type, "Sequence") == 0) {
		size_t i;
		const json_t *sub;
		json_array_foreach(json_object_get(d, "decoders"), i, sub)
			if ((rc = load_decoder(tok, sub, err)) < 0)
				return rc;
		return 0;
	}
	for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
		if (strcmp(type, kinds[k].name) != 0)
			continue;
		struct dec_step *p = realloc(tok->dec, (tok->n_dec + 1) * sizeof *p);
		if (!p)
			return oom(err);
		tok->dec = p;
		struct dec_step *st = &p[tok->n_dec++];
		memset(st, 0, sizeof *st);
		st->kind = kinds[k].kind;
		if (st->kind == DEC_STRIP) {
			st->start = (int)json_integer_value(json_object_get(d, "start"));
			st->stop = (int)json_integer_value(json_object_get(d, "stop"));
			return copy_string(json_object_get(d, "content"), &st->content, &st->content_len, err);
		}
		if (st->kind == DEC_REPLACE) {
			const json_t *lit = json_object_get(json_object_get(d, "pattern"), "String");
			if (!json_is_string(lit))
				return bad(err, "/decoder", "%s", "only String patterns are supported in Replace");
			if ((rc = copy_string(lit, &st->pattern, &st->pattern_len, err)) < 0)
				return rc;
			return copy_string(json_object_get(d, "content"), &st->content, &st->content_len, err);
		}
		return 0;
	}
	return bad(err, "/decoder", "decoder type '%s' is not supported", type);
}

static int push_id(int32_t **arr, size_t *n, int32_t id)
{
	int32_t *p = realloc(*arr, (*n + 1) * sizeof *p);
	if (!p)
		return SR_ENOMEM;
	*arr = p;
	p[(*n)++] = id;
	return 0;
}

/* Collect the special tokens a post-processor adds around one sequence.
 * Sets *templated when it defines them (even as none). */
static int load_post(struct sr_tokenizer *tok, const json_t *p, int *templated,
	struct sr_error *err)
{
	const char *type = type_of(p);
	int rc;

	if (!p || json_is_null(p) || strcmp(type, "ByteLevel") == 0)
		return 0;
	if (strcmp(type, "Sequence") == 0) {
		size_t i;
		const json_t *sub;
		json_array_foreach(json_object_get(p, "processors"), i, sub)
			if ((rc = load_post(tok, sub, templated, err)) < 0)
				return rc;
		return 0;
	}
	if (strcmp(type, "BertProcessing") == 0 || strcmp(type, "RobertaProcessing") == 0) {
		const json_t *cls = json_array_get(json_object_get(p, "cls"), 1);
		const json_t *sep = json_array_get(json_object_get(p, "sep"), 1);
		if (!json_is_integer(cls) || !json_is_integer(sep))
			return bad(err, "/post_processor", "%s", "cls or sep is missing");
		*templated = 1;
		if (push_id(&tok->prefix_ids, &tok->n_prefix, (int32_t)json_integer_value(cls)) < 0 ||
		    push_id(&tok->suffix_ids, &tok->n_suffix, (int32_t)json_integer_value(sep)) < 0)
			return oom(err);
		return 0;
	}
	if (strcmp(type, "TemplateProcessing") == 0) {
		const json_t *single = json_object_get(p, "single");
		const json_t *specials = json_object_get(p, "special_tokens");
		const json_t *piece;
		size_t i;
		int after = 0;
		*templated = 1;
		json_array_foreach(single, i, piece) {
			if (json_object_get(piece, "Sequence")) {
				after = 1;
				continue;
			}
			const char *name = json_string_value(json_object_get(
				json_object_get(piece, "SpecialToken"), "id"));
			const json_t *ids = json_object_get(json_object_get(specials, name ? name : ""), "ids");
			if (!name || !json_is_array(ids))
				return bad(err, "/post_processor", "template names an unknown special token '%s'",
					name ? name : "?");
			size_t k;
			const json_t *id;
			json_array_foreach(ids, k, id) {
				rc = after ? push_id(&tok->suffix_ids, &tok->n_suffix, (int32_t)json_integer_value(id))
					: push_id(&tok->prefix_ids, &tok->n_prefix, (int32_t)json_integer_value(id));
				if (rc < 0)
					return oom(err);
			}
		}
		return 0;
	}
	return bad(err, "/post_processor", "post-processor type '%s' is not supported", type);
}

/* ---- tokenizer_config.json ---- */

/* A token named in tokenizer_config.json: a string or {"content": ...}. */
static const char *config_token(const json_t *config, const char *key)
{
	const json_t *v = json_object_get(config, key);
	if (json_is_object(v))
		v = json_object_get(v, "content");
	return json_string_value(v);
}

static int load_config(struct sr_tokenizer *tok, const json_t *config, int templated,
	struct sr_error *err)
{
	static const char *const keys[] = { "bos_token", "eos_token", "pad_token" };
	int32_t *ids[] = { &tok->bos_id, &tok->eos_id, &tok->pad_id };

	tok->bos_id = tok->eos_id = tok->pad_id = -1;
	if (!config)
		return 0;
	for (int k = 0; k < 3; k++) {
		const char *name = config_token(config, keys[k]);
		if (name && (*ids[k] = sr_tokenizer_token_id(tok, name)) < 0)
			return bad(err, keys[k], "tokenizer_config.json names token '%s', which is not in the vocabulary", name);
	}

	const json_t *tmpl = json_object_get(config, "chat_template");
	const char *text = json_string_value(tmpl);
	if (json_is_array(tmpl)) {
		/* A list of named templates: take "default", else the first. */
		size_t i;
		const json_t *t;
		json_array_foreach(tmpl, i, t) {
			const char *name = json_string_value(json_object_get(t, "name"));
			if (!text || (name && strcmp(name, "default") == 0))
				text = json_string_value(json_object_get(t, "template"));
		}
	}
	if (text && !(tok->chat_template = strdup(text)))
		return oom(err);

	if (!templated) {
		if (get_bool(config, "add_bos_token", 0) && tok->bos_id >= 0 &&
		    push_id(&tok->prefix_ids, &tok->n_prefix, tok->bos_id) < 0)
			return oom(err);
		if (get_bool(config, "add_eos_token", 0) && tok->eos_id >= 0 &&
		    push_id(&tok->suffix_ids, &tok->n_suffix, tok->eos_id) < 0)
			return oom(err);
	}
	return 0;
}

/* ---- whole tokenizer ---- */

static json_t *incref_or_null(json_t *v)
{
	return v ? json_incref(v) : json_null();
}

int sr_tokenizer_from_json(json_t *root, json_t *config, struct sr_tokenizer **out,
	struct sr_error *err)
{
	struct sr_tokenizer *tok;
	int templated = 0;
	int rc;

	*out = NULL;
	if (!json_is_object(root))
		return bad(err, NULL, "%s", "tokenizer.json is not a JSON object");
	if (!(tok = calloc(1, sizeof *tok)))
		return oom(err);
	if ((rc = max_id(root, &tok->n_ids, err)) < 0)
		goto fail;
	tok->tokens = calloc(tok->n_ids + 1, sizeof *tok->tokens);
	tok->token_len = calloc(tok->n_ids + 1, sizeof *tok->token_len);
	tok->is_special = calloc(tok->n_ids + 1, 1);
	tok->added_index = malloc((tok->n_ids + 1) * sizeof *tok->added_index);
	if (!tok->tokens || !tok->token_len || !tok->is_special || !tok->added_index) {
		rc = oom(err);
		goto fail;
	}
	for (size_t i = 0; i < tok->n_ids; i++)
		tok->added_index[i] = -1;

	if ((rc = load_model(tok, json_object_get(root, "model"), err)) < 0 ||
	    (rc = load_added(tok, json_object_get(root, "added_tokens"), err)) < 0 ||
	    (rc = index_added(tok, err)) < 0 ||
	    (rc = load_normalizer(tok, json_object_get(root, "normalizer"), err)) < 0 ||
	    (rc = load_pre(tok, json_object_get(root, "pre_tokenizer"), err)) < 0 ||
	    (rc = load_decoder(tok, json_object_get(root, "decoder"), err)) < 0 ||
	    (rc = load_post(tok, json_object_get(root, "post_processor"), &templated, err)) < 0 ||
	    (rc = load_config(tok, config, templated, err)) < 0)
		goto fail;

	for (unsigned b = 0; b < 256; b++) {
		char ch[3];
		tok_byte_char(b, ch);
		tok->byte_token[b] = strmap_get(&tok->vocab, ch, strlen(ch));
	}
	tok->normalizer_json = incref_or_null(json_object_get(root, "normalizer"));
	tok->pre_tokenizer_json = incref_or_null(json_object_get(root, "pre_tokenizer"));
	tok->post_processor_json = incref_or_null(json_object_get(root, "post_processor"));
	tok->decoder_json = incref_or_null(json_object_get(root, "decoder"));
	tok->config = config ? json_incref(config) : NULL;
	*out = tok;
	return 0;
fail:
	sr_tokenizer_free(tok);
	return rc;
}

void sr_tokenizer_free(struct sr_tokenizer *tok)
{
	if (!tok)
		return;
	for (size_t i = 0; i < tok->n_vocab_keys; i++)
		free(tok->vocab_keys[i]);
	free(tok->vocab_keys);
	free(tok->tokens);
	free(tok->token_len);
	strmap_release(&tok->vocab);
	free(tok->merges.slots);
	free(tok->merge_pairs);
	for (size_t i = 0; i < tok->n_added; i++)
		free(tok->added[i].content);
	free(tok->added);
	free(tok->added_sorted);
	free(tok->is_special);
	free(tok->added_index);
	for (size_t i = 0; i < tok->n_norms; i++) {
		free(tok->norms[i].text);
		free(tok->norms[i].literal);
		pcre2_code_free(tok->norms[i].re);
	}
	free(tok->norms);
	for (size_t i = 0; i < tok->n_pre; i++) {
		pcre2_code_free(tok->pre[i].re);
		free(tok->pre[i].literal);
	}
	free(tok->pre);
	for (size_t i = 0; i < tok->n_dec; i++) {
		free(tok->dec[i].content);
		free(tok->dec[i].pattern);
	}
	free(tok->dec);
	free(tok->prefix_ids);
	free(tok->suffix_ids);
	free(tok->chat_template);
	json_decref(tok->normalizer_json);
	json_decref(tok->pre_tokenizer_json);
	json_decref(tok->post_processor_json);
	json_decref(tok->decoder_json);
	json_decref(tok->model_options);
	json_decref(tok->config);
	free(tok);
}

static int parse_file(const char *path, int optional, json_t **out, struct sr_error *err)
{
	char *data = NULL;
	size_t len = 0;
	json_error_t jerr;
	struct stat st;
	int rc;

	*out = NULL;
	if (optional && stat(path, &st) != 0 && errno == ENOENT)
		return 0;
	if ((rc = sr_read_file(path, TOK_MAX_FILE, &data, &len, err)) < 0)
		return rc;
	*out = json_loadb(data, len, JSON_ALLOW_NUL, &jerr);
	/* tokenizer_config.json may hold integers beyond 64 bits (Llama 3's
	 * model_max_length is 1e30). It has no integer the tokenizer needs, so
	 * such a file is read with every number as a double. */
	if (!*out && optional && strstr(jerr.text, "too big"))
		*out = json_loadb(data, len, JSON_DECODE_INT_AS_REAL, &jerr);
	free(data);
	if (!*out) {
		rc = sr_fail(err, SR_EDATA, "invalid JSON: %s", jerr.text);
		if (err) {
			snprintf(err->file, sizeof err->file, "%.*s", (int)sizeof err->file - 1, path);
			err->line = jerr.line;
			err->column = jerr.column;
		}
		return rc;
	}
	return 0;
}

/* Newer transformers releases save the chat template beside
 * tokenizer_config.json as chat_template.jinja (the template text) or
 * chat_template.json ({"chat_template": ...}). Read either when present. */
static int load_template_file(struct sr_tokenizer *tok, const char *config_path,
	struct sr_error *err)
{
	char path[4096];
	const char *slash = strrchr(config_path, '/');
	int dir_len = slash ? (int)(slash - config_path) + 1 : 0;
	struct stat st;
	char *data = NULL;
	size_t len;
	json_t *root = NULL;
	int rc;

	snprintf(path, sizeof path, "%.*schat_template.jinja", dir_len, config_path);
	if (stat(path, &st) == 0) {
		if ((rc = sr_read_file(path, TOK_MAX_FILE, &data, &len, err)) < 0)
			return rc;
		tok->chat_template = data;
		return 0;
	}
	snprintf(path, sizeof path, "%.*schat_template.json", dir_len, config_path);
	if ((rc = parse_file(path, 1, &root, err)) < 0 || !root)
		return rc;
	const char *text = json_string_value(json_object_get(root, "chat_template"));
	if (text && !(tok->chat_template = strdup(text)))
		rc = oom(err);
	json_decref(root);
	return rc;
}

int sr_tokenizer_load(const char *path, struct sr_tokenizer **out, struct sr_error *err)
{
	char json_path[4096], config_path[4096];
	json_t *root = NULL, *config = NULL;
	struct stat st;
	int rc;

	*out = NULL;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		snprintf(json_path, sizeof json_path, "%s/tokenizer.json", path);
		snprintf(config_path, sizeof config_path, "%s/tokenizer_config.json", path);
	} else {
		const char *slash = strrchr(path, '/');
		snprintf(json_path, sizeof json_path, "%s", path);
		if (slash)
			snprintf(config_path, sizeof config_path, "%.*s/tokenizer_config.json",
				(int)(slash - path), path);
		else
			snprintf(config_path, sizeof config_path, "tokenizer_config.json");
	}
	if ((rc = parse_file(json_path, 0, &root, err)) < 0 ||
	    (rc = parse_file(config_path, 1, &config, err)) < 0)
		goto done;
	if ((rc = sr_tokenizer_from_json(root, config, out, err)) < 0 && err && !err->file[0])
		snprintf(err->file, sizeof err->file, "%.*s", (int)sizeof err->file - 1, json_path);
	if (rc == 0 && !(*out)->chat_template &&
	    (rc = load_template_file(*out, config_path, err)) < 0) {
		sr_tokenizer_free(*out);
		*out = NULL;
	}
done:
	json_decref(root);
	json_decref(config);
	return rc;
}

/* ---- saving ---- */

static json_t *added_json(const struct added_token *t)
{
	return json_pack("{s:I, s:s%, s:b, s:b, s:b, s:b, s:b}", "id", (json_int_t)t->id,
		"content", t->content, t->len, "single_word", t->single_word, "lstrip", t->lstrip,
		"rstrip", t->rstrip, "normalized", t->normalized, "special", t->special);
}

static int cmp_key_id(const void *x, const void *y, void *arg)
{
	const struct sr_tokenizer *tok = arg;
	const char *a = *(char *const *)x, *b = *(char *const *)y;
	int32_t ia = strmap_get(&tok->vocab, a, strlen(a)), ib = strmap_get(&tok->vocab, b, strlen(b));
	return ia < ib ? -1 : ia > ib;
}

static json_t *model_json(const struct sr_tokenizer *tok)
{
	json_t *model = json_deep_copy(tok->model_options);
	json_t *vocab = json_object(), *merges = json_array();
	char **keys = malloc((tok->n_vocab_keys + 1) * sizeof *keys);
	/* id -> vocabulary spelling, which an added token may shadow in tokens. */
	const char **spelling = calloc(tok->n_ids + 1, sizeof *spelling);
	int pairs = 0, ok = model && vocab && merges && keys && spelling;

	for (size_t i = 0; ok && i < tok->n_vocab_keys; i++) {
		keys[i] = tok->vocab_keys[i];
		pairs |= strchr(keys[i], ' ') != NULL;
	}
	if (ok)
		qsort_r(keys, tok->n_vocab_keys, sizeof *keys, cmp_key_id, (void *)tok);
	for (size_t i = 0; ok && i < tok->n_vocab_keys; i++) {
		int32_t id = strmap_get(&tok->vocab, keys[i], strlen(keys[i]));
		spelling[id] = keys[i];
		ok = json_object_set_new(vocab, keys[i], json_integer(id)) == 0;
	}
	/* The "a b" string form is the older one that more readers accept.
	 * Pairs are needed only when a token contains a space. */
	for (size_t i = 0; ok && i < tok->n_merges; i++) {
		const char *a = spelling[tok->merge_pairs[i][0]];
		const char *b = spelling[tok->merge_pairs[i][1]];
		json_t *m = pairs ? json_pack("[s, s]", a, b) : json_sprintf("%s %s", a, b);
		ok = m && json_array_append_new(merges, m) == 0;
	}
	free(keys);
	free(spelling);
	if (!ok) {
		json_decref(model);
		json_decref(vocab);
		json_decref(merges);
		return NULL;
	}
	/* json_object_set_new takes the value even when it fails. */
	if (json_object_set_new(model, "vocab", vocab) < 0 ||
	    json_object_set_new(model, "merges", merges) < 0) {
		json_decref(model);
		return NULL;
	}
	return model;
}

static int write_json(const json_t *v, const char *dir, const char *name, struct sr_error *err)
{
	char path[4096];
	struct sr_output *o = NULL;
	char *text;
	int rc;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	if (!(text = json_dumps(v, JSON_INDENT(2))))
		return sr_fail(err, SR_ENOMEM, "out of memory writing '%s'", path);
	if ((rc = sr_output_open(path, SR_OUTPUT_ATOMIC, &o, err)) == 0 &&
	    (rc = sr_output_write(o, text, strlen(text), err)) == 0 &&
	    (rc = sr_output_write(o, "\n", 1, err)) == 0)
		rc = sr_output_commit(o, err);
	sr_output_free(o);
	free(text);
	return rc;
}

int sr_tokenizer_save(const struct sr_tokenizer *tok, const char *dir, struct sr_error *err)
{
	json_t *root = NULL, *added = json_array(), *model = model_json(tok);
	int rc = 0;

	for (size_t i = 0; added && i < tok->n_added; i++)
		if (json_array_append_new(added, added_json(&tok->added[i])) < 0)
			json_decref(added), added = NULL;
	if (added && model)
		root = json_pack("{s:s, s:n, s:n, s:o, s:O, s:O, s:O, s:O, s:o}", "version", "1.0",
			"truncation", "padding", "added_tokens", added,
			"normalizer", tok->normalizer_json, "pre_tokenizer", tok->pre_tokenizer_json,
			"post_processor", tok->post_processor_json, "decoder", tok->decoder_json,
			"model", model);
	else {
		json_decref(added);
		json_decref(model);
	}
	if (!root)
		return sr_fail(err, SR_ENOMEM, "out of memory saving the tokenizer");
	rc = write_json(root, dir, "tokenizer.json", err);
	json_decref(root);
	if (rc < 0 || (!tok->config && !tok->chat_template))
		return rc;

	/* A template read from chat_template.jinja goes into the config. */
	json_t *config = tok->config ? json_copy(tok->config) : json_object();
	if (!config)
		return sr_fail(err, SR_ENOMEM, "out of memory saving the tokenizer");
	if (tok->chat_template && !json_object_get(config, "chat_template") &&
	    json_object_set_new(config, "chat_template", json_string(tok->chat_template)) < 0)
		rc = sr_fail(err, SR_ENOMEM, "out of memory saving the tokenizer");
	if (rc == 0)
		rc = write_json(config, dir, "tokenizer_config.json", err);
	json_decref(config);
	return rc;
}
