/*
 * bpe_train.c - learning byte-level BPE merges from text.
 *
 * Words (pre-tokenized pieces) are counted once. Each round takes the most
 * frequent adjacent pair from a max-heap whose entries may be stale. A
 * pair's count only falls once the pair exists, so a popped entry whose
 * count no longer matches is pushed again with the current count. Only the
 * words that contain the pair are rewritten.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>
#include "bpe_train.h"
#include "chat.h"
#include "tokenizer_impl.h"

#define DEFAULT_MAX_WORDS ((size_t)4 << 20)

static const char *const chatml_specials[] = { "<|endoftext|>", "<|im_start|>", "<|im_end|>" };

struct word {
	char *bytes;      /* the pre-tokenized piece, in text bytes */
	size_t len;
	uint64_t count;
	int32_t *syms;    /* current symbols (token ids) */
	size_t n;
};

/* Per pair: its count over all words and the words it occurs in (a word may
 * be listed more than once, or no longer contain the pair). */
struct pair_info {
	int32_t a, b;
	int64_t count;
	uint32_t *words;
	size_t n_words, cap_words;
};

struct heap_item {
	int64_t count;
	int32_t a, b;
};

struct sr_bpe_trainer {
	struct sr_bpe_options opts;
	char **specials;
	char *bos, *eos, *pad, *chat_template, *pattern;
	pcre2_code *re;
	pcre2_match_data *md;

	/* Distinct words: a map from bytes to index in words. */
	struct strmap word_index;
	struct word *words;
	size_t n_words, cap_words;
	int finished;
};

static int oom(struct sr_error *err)
{
	return sr_fail(err, SR_ENOMEM, "out of memory while training the tokenizer");
}

static char *dup_or_null(const char *s, int *failed)
{
	if (!s)
		return NULL;
	char *d = strdup(s);
	if (!d)
		*failed = 1;
	return d;
}

void sr_bpe_options_init(struct sr_bpe_options *opts, size_t vocab_size)
{
	memset(opts, 0, sizeof *opts);
	opts->vocab_size = vocab_size;
	opts->min_frequency = 2;
}

void sr_bpe_trainer_free(struct sr_bpe_trainer *tr)
{
	if (!tr)
		return;
	for (size_t i = 0; i < tr->opts.n_special; i++)
		free(tr->specials[i]);
	free(tr->specials);
	free(tr->bos);
	free(tr->eos);
	free(tr->pad);
	free(tr->chat_template);
	free(tr->pattern);
	pcre2_code_free(tr->re);
	pcre2_match_data_free(tr->md);
	strmap_release(&tr->word_index);
	for (size_t i = 0; i < tr->n_words; i++) {
		free(tr->words[i].bytes);
		free(tr->words[i].syms);
	}
	free(tr->words);
	free(tr);
}

static int is_special_name(const struct sr_bpe_trainer *tr, const char *name)
{
	for (size_t i = 0; i < tr->opts.n_special; i++)
		if (strcmp(tr->specials[i], name) == 0)
			return 1;
	return 0;
}

int sr_bpe_trainer_new(const struct sr_bpe_options *opts, struct sr_bpe_trainer **out,
	struct sr_error *err)
{
	struct sr_bpe_trainer *tr;
	int failed = 0, rc;
	int chatml = opts->special_tokens == NULL;

	*out = NULL;
	if (!(tr = calloc(1, sizeof *tr)))
		return oom(err);
	tr->opts = *opts;
	if (chatml)
		tr->opts.n_special = sizeof chatml_specials / sizeof chatml_specials[0];
	if (tr->opts.min_frequency == 0)
		tr->opts.min_frequency = 2;
	if (tr->opts.max_words == 0)
		tr->opts.max_words = DEFAULT_MAX_WORDS;
	tr->specials = calloc(tr->opts.n_special + 1, sizeof *tr->specials);
	failed = !tr->specials;
	for (size_t i = 0; !failed && i < tr->opts.n_special; i++)
		tr->specials[i] = dup_or_null(chatml ? chatml_specials[i] : opts->special_tokens[i], &failed);
	tr->bos = dup_or_null(opts->bos_token, &failed);
	tr->eos = dup_or_null(chatml && !opts->eos_token ? "<|im_end|>" : opts->eos_token, &failed);
	tr->pad = dup_or_null(chatml && !opts->pad_token ? "<|endoftext|>" : opts->pad_token, &failed);
	tr->chat_template = dup_or_null(opts->chat_template ? opts->chat_template :
		sr_chat_format_jinja(SR_CHAT_CHATML), &failed);
	tr->pattern = dup_or_null(opts->pattern ? opts->pattern : TOK_LLAMA3_PATTERN, &failed);
	if (failed) {
		sr_bpe_trainer_free(tr);
		return oom(err);
	}
	tr->opts.special_tokens = (const char *const *)tr->specials;

	for (size_t i = 0; i < tr->opts.n_special; i++) {
		if (tr->specials[i][0] == '\0' ||
		    sr_utf8_valid_prefix(tr->specials[i], strlen(tr->specials[i])) != strlen(tr->specials[i])) {
			rc = sr_fail(err, SR_EUSAGE, "special token %zu is empty or not valid UTF-8", i);
			goto fail;
		}
		for (size_t j = 0; j < i; j++)
			if (strcmp(tr->specials[i], tr->specials[j]) == 0) {
				rc = sr_fail(err, SR_EUSAGE, "special token '%s' is listed twice", tr->specials[i]);
				goto fail;
			}
	}
	const char *named[] = { tr->bos, tr->eos, tr->pad };
	for (int k = 0; k < 3; k++)
		if (named[k] && !is_special_name(tr, named[k])) {
			rc = sr_fail(err, SR_EUSAGE, "'%s' is not one of the special tokens", named[k]);
			goto fail;
		}
	if (tr->opts.vocab_size < 256 + tr->opts.n_special || tr->opts.vocab_size > TOK_MAX_VOCAB) {
		rc = sr_fail(err, SR_EUSAGE, "vocabulary size %zu is outside %zu..%u (256 byte tokens "
			"plus %zu special tokens at least)", tr->opts.vocab_size, 256 + tr->opts.n_special,
			TOK_MAX_VOCAB, tr->opts.n_special);
		goto fail;
	}
	if ((rc = tok_compile_pattern(tr->pattern, &tr->re, err)) < 0)
		goto fail;
	if (!(tr->md = pcre2_match_data_create(1, NULL))) {
		rc = oom(err);
		goto fail;
	}
	*out = tr;
	return 0;
fail:
	sr_bpe_trainer_free(tr);
	return rc;
}

/* ---- counting words ---- */

static int count_word(struct sr_bpe_trainer *tr, const char *s, size_t len, struct sr_error *err)
{
	int32_t k = strmap_get(&tr->word_index, s, len);
	if (k >= 0) {
		tr->words[k].count++;
		return 0;
	}
	if (tr->n_words >= tr->opts.max_words)
		return sr_fail(err, SR_ETOOBIG,
			"more than %zu distinct words in the training text; raise max_words",
			tr->opts.max_words);
	if (tr->n_words == tr->cap_words) {
		size_t cap = tr->cap_words ? tr->cap_words * 2 : 4096;
		struct word *w = realloc(tr->words, cap * sizeof *w);
		if (!w)
			return oom(err);
		tr->words = w;
		tr->cap_words = cap;
	}
	struct word *w = &tr->words[tr->n_words];
	memset(w, 0, sizeof *w);
	if (!(w->bytes = malloc(len + 1)))
		return oom(err);
	memcpy(w->bytes, s, len);
	w->bytes[len] = '\0';
	w->len = len;
	w->count = 1;
	/* The map's keys point into the words, which are never moved apart
	 * from their array (the bytes themselves stay put). */
	if (strmap_put(&tr->word_index, w->bytes, (uint32_t)len, (int32_t)tr->n_words) < 0) {
		free(w->bytes);
		return oom(err);
	}
	tr->n_words++;
	return 0;
}

/* Normalize (NFC, as the saved tokenizer does) and split one piece of text
 * without special tokens. */
static int add_plain(struct sr_bpe_trainer *tr, const char *s, size_t len, struct sr_error *err)
{
	utf8proc_uint8_t *norm = NULL;
	utf8proc_ssize_t nlen;
	size_t from = 0;
	int rc = 0;

	if (len == 0)
		return 0;
	nlen = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)len, &norm,
		UTF8PROC_STABLE | UTF8PROC_COMPOSE);
	if (nlen < 0)
		return sr_fail(err, SR_EDATA, "cannot normalize text: %s", utf8proc_errmsg(nlen));
	size_t prev = 0;
	while (from <= (size_t)nlen) {
		int m = pcre2_match(tr->re, norm, (size_t)nlen, from, PCRE2_NO_UTF_CHECK, tr->md, NULL);
		if (m == PCRE2_ERROR_NOMATCH)
			break;
		if (m < 0) {
			rc = sr_fail(err, SR_ETOOBIG, "the split pattern failed on a %zd-byte text", nlen);
			break;
		}
		PCRE2_SIZE *ov = pcre2_get_ovector_pointer(tr->md);
		if (ov[1] > ov[0]) {
			/* Text between matches is a word of its own, as with Isolated. */
			if (ov[0] > prev && (rc = count_word(tr, (const char *)norm + prev, ov[0] - prev, err)) < 0)
				break;
			if ((rc = count_word(tr, (const char *)norm + ov[0], ov[1] - ov[0], err)) < 0)
				break;
			prev = from = ov[1];
			continue;
		}
		/* An empty match: search again from the next character. */
		from = ov[1] + 1;
		while (from < (size_t)nlen && (norm[from] & 0xC0) == 0x80)
			from++;
	}
	if (rc == 0 && prev < (size_t)nlen)
		rc = count_word(tr, (const char *)norm + prev, (size_t)nlen - prev, err);
	free(norm);
	return rc;
}

int sr_bpe_trainer_add(struct sr_bpe_trainer *tr, const char *text, size_t len,
	struct sr_error *err)
{
	size_t pos = 0, start = 0;
	int rc;

	if (tr->finished)
		return sr_fail(err, SR_EUSAGE, "the trainer has already finished");
	if (sr_utf8_valid_prefix(text, len) != len)
		return sr_fail(err, SR_EDATA, "training text is not valid UTF-8 (at byte %zu)",
			sr_utf8_valid_prefix(text, len));
	/* Cut out special tokens: they get their own ids and are never merged. */
	while (pos < len) {
		size_t best = 0;
		for (size_t k = 0; k < tr->opts.n_special; k++) {
			size_t sl = strlen(tr->specials[k]);
			if (sl > best && sl <= len - pos && memcmp(text + pos, tr->specials[k], sl) == 0)
				best = sl;
		}
		if (best == 0) {
			pos++;
			continue;
		}
		if ((rc = add_plain(tr, text + start, pos - start, err)) < 0)
			return rc;
		pos += best;
		start = pos;
	}
	return add_plain(tr, text + start, len - start, err);
}

/* ---- merging ---- */

struct merge_state {
	struct pair_info *pairs;
	size_t n_pairs, cap_pairs;
	struct pairmap index;     /* (a, b) -> index in pairs, stored in rank */
	struct heap_item *heap;
	size_t heap_len, heap_cap;
};

static int heap_above(const struct heap_item *x, const struct heap_item *y)
{
	if (x->count != y->count)
		return x->count > y->count;
	if (x->a != y->a)
		return x->a < y->a;
	return x->b < y->b;
}

static int heap_push(struct merge_state *ms, int64_t count, int32_t a, int32_t b)
{
	if (ms->heap_len == ms->heap_cap) {
		size_t cap = ms->heap_cap ? ms->heap_cap * 2 : 4096;
		struct heap_item *h = realloc(ms->heap, cap * sizeof *h);
		if (!h)
			return SR_ENOMEM;
		ms->heap = h;
		ms->heap_cap = cap;
	}
	size_t i = ms->heap_len++;
	ms->heap[i] = (struct heap_item){ count, a, b };
	while (i > 0 && heap_above(&ms->heap[i], &ms->heap[(i - 1) / 2])) {
		struct heap_item t = ms->heap[i];
		ms->heap[i] = ms->heap[(i - 1) / 2];
		ms->heap[(i - 1) / 2] = t;
		i = (i - 1) / 2;
	}
	return 0;
}

static struct heap_item heap_pop(struct merge_state *ms)
{
	struct heap_item top = ms->heap[0];
	ms->heap[0] = ms->heap[--ms->heap_len];
	size_t i = 0;
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < ms->heap_len && heap_above(&ms->heap[l], &ms->heap[m]))
			m = l;
		if (r < ms->heap_len && heap_above(&ms->heap[r], &ms->heap[m]))
			m = r;
		if (m == i)
			break;
		struct heap_item t = ms->heap[i];
		ms->heap[i] = ms->heap[m];
		ms->heap[m] = t;
		i = m;
	}
	return top;
}

static uint64_t pair_hash(uint64_t key)
{
	key ^= key >> 33;
	key *= 0xff51afd7ed558ccdull;
	key ^= key >> 33;
	key *= 0xc4ceb9fe1a85ec53ull;
	key ^= key >> 33;
	return key;
}

/* Index of pair (a, b) in ms->pairs, created with count 0 when create is set;
 * -1 when absent (or out of memory, with *oom_flag set). */
static long pair_lookup(struct merge_state *ms, int32_t a, int32_t b, int create, int *oom_flag)
{
	struct pairmap *m = &ms->index;
	uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;

	if (m->slots) {
		size_t j = pair_hash(key) & m->mask;
		while (m->slots[j].key != UINT64_MAX) {
			if (m->slots[j].key == key)
				return m->slots[j].rank;
			j = (j + 1) & m->mask;
		}
	}
	if (!create)
		return -1;
	if (!m->slots || (m->count + 1) * 4 > (m->mask + 1) * 3) {
		size_t ncap = m->slots ? (m->mask + 1) * 2 : 4096;
		struct pairmap_entry *slots = malloc(ncap * sizeof *slots);
		if (!slots) {
			*oom_flag = 1;
			return -1;
		}
		for (size_t i = 0; i < ncap; i++)
			slots[i].key = UINT64_MAX;
		for (size_t i = 0; m->slots && i <= m->mask; i++) {
			if (m->slots[i].key == UINT64_MAX)
				continue;
			size_t j = pair_hash(m->slots[i].key) & (ncap - 1);
			while (slots[j].key != UINT64_MAX)
				j = (j + 1) & (ncap - 1);
			slots[j] = m->slots[i];
		}
		free(m->slots);
		m->slots = slots;
		m->mask = ncap - 1;
	}
	if (ms->n_pairs == ms->cap_pairs) {
		size_t cap = ms->cap_pairs ? ms->cap_pairs * 2 : 4096;
		struct pair_info *p = realloc(ms->pairs, cap * sizeof *p);
		if (!p) {
			*oom_flag = 1;
			return -1;
		}
		ms->pairs = p;
		ms->cap_pairs = cap;
	}
	size_t j = pair_hash(key) & m->mask;
	while (m->slots[j].key != UINT64_MAX)
		j = (j + 1) & m->mask;
	m->slots[j] = (struct pairmap_entry){ key, (int32_t)ms->n_pairs, 0 };
	m->count++;
	ms->pairs[ms->n_pairs] = (struct pair_info){ a, b, 0, NULL, 0, 0 };
	return (long)ms->n_pairs++;
}

static int pair_add_word(struct pair_info *p, uint32_t w)
{
	if (p->n_words && p->words[p->n_words - 1] == w)
		return 0;
	if (p->n_words == p->cap_words) {
		size_t cap = p->cap_words ? p->cap_words * 2 : 4;
		uint32_t *nw = realloc(p->words, cap * sizeof *nw);
		if (!nw)
			return SR_ENOMEM;
		p->words = nw;
		p->cap_words = cap;
	}
	p->words[p->n_words++] = w;
	return 0;
}

/* Add delta * count for every adjacent pair of word w. When track is not
 * -1, also record w in the lists of the pairs that contain token track. */
static int count_pairs(struct merge_state *ms, struct word *w, uint32_t wi, int64_t delta,
	int32_t track, int32_t *touched, size_t *n_touched)
{
	int failed = 0;
	for (size_t i = 0; i + 1 < w->n; i++) {
		long k = pair_lookup(ms, w->syms[i], w->syms[i + 1], delta > 0, &failed);
		if (failed)
			return SR_ENOMEM;
		if (k < 0)
			continue;
		struct pair_info *p = &ms->pairs[k];
		p->count += delta * (int64_t)w->count;
		if (delta > 0 && (track < 0 || p->a == track || p->b == track)) {
			if (pair_add_word(p, wi) < 0)
				return SR_ENOMEM;
			if (touched)
				touched[(*n_touched)++] = (int32_t)k;
		}
	}
	return 0;
}

/* Replace each (a, b) in w, left to right, by id. Returns 1 if any. */
static int merge_word(struct word *w, int32_t a, int32_t b, int32_t id)
{
	size_t o = 0;
	int any = 0;
	for (size_t i = 0; i < w->n; i++) {
		if (i + 1 < w->n && w->syms[i] == a && w->syms[i + 1] == b) {
			w->syms[o++] = id;
			i++;
			any = 1;
		} else {
			w->syms[o++] = w->syms[i];
		}
	}
	w->n = o;
	return any;
}

static void merge_state_release(struct merge_state *ms)
{
	for (size_t i = 0; i < ms->n_pairs; i++)
		free(ms->pairs[i].words);
	free(ms->pairs);
	free(ms->index.slots);
	free(ms->heap);
}

/* ---- building the tokenizer ---- */

struct vocab_build {
	char **strs;       /* id -> byte-level string (owned) */
	size_t n, cap;
	struct strmap map;
	int32_t (*merges)[2];
	size_t n_merges, cap_merges;
};

static int vocab_add(struct vocab_build *v, char *s)
{
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 1024;
		char **p = realloc(v->strs, cap * sizeof *p);
		if (!p)
			return SR_ENOMEM;
		v->strs = p;
		v->cap = cap;
	}
	v->strs[v->n] = s;
	if (strmap_put(&v->map, s, (uint32_t)strlen(s), (int32_t)v->n) < 0)
		return SR_ENOMEM;
	v->n++;
	return 0;
}

static int merge_add(struct vocab_build *v, int32_t a, int32_t b)
{
	if (v->n_merges == v->cap_merges) {
		size_t cap = v->cap_merges ? v->cap_merges * 2 : 1024;
		int32_t (*p)[2] = realloc(v->merges, cap * sizeof *p);
		if (!p)
			return SR_ENOMEM;
		v->merges = p;
		v->cap_merges = cap;
	}
	v->merges[v->n_merges][0] = a;
	v->merges[v->n_merges][1] = b;
	v->n_merges++;
	return 0;
}

static void vocab_release(struct vocab_build *v)
{
	for (size_t i = 0; i < v->n; i++)
		free(v->strs[i]);
	free(v->strs);
	strmap_release(&v->map);
	free(v->merges);
}

/* Merge pair k into token id in every word that contains it, updating the
 * pair counts and pushing the pairs that now contain id. The pair's word
 * list may name a word twice or one that lost the pair, and those are
 * skipped. touched has room for the pairs of the longest word. */
static int rewrite_words(struct sr_bpe_trainer *tr, struct merge_state *ms, long k, int32_t id,
	int32_t *touched)
{
	int32_t a = ms->pairs[k].a, b = ms->pairs[k].b;
	size_t n_list = ms->pairs[k].n_words;
	uint32_t *list = ms->pairs[k].words;
	int rc = 0;

	ms->pairs[k].words = NULL;
	ms->pairs[k].n_words = ms->pairs[k].cap_words = 0;
	for (size_t i = 0; i < n_list && rc == 0; i++) {
		struct word *w = &tr->words[list[i]];
		size_t n_touched = 0;
		int has = 0;
		for (size_t j = 0; j + 1 < w->n; j++)
			if (w->syms[j] == a && w->syms[j + 1] == b)
				has = 1;
		if (!has)
			continue;
		count_pairs(ms, w, list[i], -1, -1, NULL, NULL);
		merge_word(w, a, b, id);
		rc = count_pairs(ms, w, list[i], 1, id, touched, &n_touched);
		for (size_t t = 0; t < n_touched && rc == 0; t++) {
			const struct pair_info *p = &ms->pairs[touched[t]];
			rc = heap_push(ms, p->count, p->a, p->b);
		}
	}
	free(list);
	return rc;
}

/* Run the merge rounds until the vocabulary is full or no pair is frequent
 * enough. */
static int learn(struct sr_bpe_trainer *tr, struct vocab_build *v, struct sr_error *err)
{
	struct merge_state ms = { 0 };
	int32_t *touched = NULL;
	size_t max_len = 0;
	int rc = 0;

	for (size_t i = 0; i < tr->n_words; i++)
		if (tr->words[i].n > max_len)
			max_len = tr->words[i].n;
	touched = malloc((max_len + 1) * sizeof *touched);
	if (!touched) {
		rc = oom(err);
		goto done;
	}
	for (size_t i = 0; i < tr->n_words; i++)
		if (count_pairs(&ms, &tr->words[i], (uint32_t)i, 1, -1, NULL, NULL) < 0) {
			rc = oom(err);
			goto done;
		}
	for (size_t k = 0; k < ms.n_pairs; k++)
		if (ms.pairs[k].count > 0 && heap_push(&ms, ms.pairs[k].count, ms.pairs[k].a, ms.pairs[k].b) < 0) {
			rc = oom(err);
			goto done;
		}

	while (v->n < tr->opts.vocab_size && ms.heap_len) {
		struct heap_item top = heap_pop(&ms);
		int failed = 0;
		long k = pair_lookup(&ms, top.a, top.b, 0, &failed);
		if (k < 0 || ms.pairs[k].count <= 0)
			continue;
		if (ms.pairs[k].count != top.count) {
			if (heap_push(&ms, ms.pairs[k].count, top.a, top.b) < 0) {
				rc = oom(err);
				goto done;
			}
			continue;
		}
		if ((uint64_t)top.count < tr->opts.min_frequency)
			break;

		/* The new token's string; an existing one keeps its id. */
		size_t la = strlen(v->strs[top.a]), lb = strlen(v->strs[top.b]);
		char *s = malloc(la + lb + 1);
		if (!s) {
			rc = oom(err);
			goto done;
		}
		memcpy(s, v->strs[top.a], la);
		memcpy(s + la, v->strs[top.b], lb + 1);
		int32_t id = strmap_get(&v->map, s, la + lb);
		if (id >= 0)
			free(s);
		else {
			id = (int32_t)v->n;
			if (vocab_add(v, s) < 0) {
				free(s);
				rc = oom(err);
				goto done;
			}
		}
		if (merge_add(v, top.a, top.b) < 0) {
			rc = oom(err);
			goto done;
		}

		if (rewrite_words(tr, &ms, k, id, touched) < 0) {
			rc = oom(err);
			goto done;
		}
	}
done:
	free(touched);
	merge_state_release(&ms);
	return rc;
}

static json_t *build_tokenizer_json(const struct sr_bpe_trainer *tr, const struct vocab_build *v)
{
	json_t *added = json_array(), *vocab = json_object(), *merges = json_array();
	json_t *root = NULL;
	int ok = added && vocab && merges;

	for (size_t i = 0; ok && i < tr->opts.n_special; i++)
		ok = json_array_append_new(added, json_pack("{s:I, s:s, s:b, s:b, s:b, s:b, s:b}",
			"id", (json_int_t)i, "content", tr->specials[i], "single_word", 0, "lstrip", 0,
			"rstrip", 0, "normalized", 0, "special", 1)) == 0;
	for (size_t i = 0; ok && i < v->n; i++)
		ok = json_object_set_new(vocab, v->strs[i], json_integer((json_int_t)i)) == 0;
	for (size_t i = 0; ok && i < v->n_merges; i++)
		ok = json_array_append_new(merges, json_sprintf("%s %s", v->strs[v->merges[i][0]],
			v->strs[v->merges[i][1]])) == 0;
	if (!ok) {
		json_decref(added);
		json_decref(vocab);
		json_decref(merges);
		return NULL;
	}
	root = json_pack(
		"{s:s, s:n, s:n, s:o,"
		" s:{s:s},"
		" s:{s:s, s:[{s:s, s:{s:s}, s:s, s:b}, {s:s, s:b, s:b, s:b}]},"
		" s:{s:s, s:b, s:b, s:b},"
		" s:{s:s, s:b, s:b, s:b},"
		" s:{s:s, s:n, s:n, s:n, s:n, s:b, s:b, s:b, s:o, s:o}}",
		"version", "1.0", "truncation", "padding", "added_tokens", added,
		"normalizer", "type", "NFC",
		"pre_tokenizer", "type", "Sequence", "pretokenizers",
		"type", "Split", "pattern", "Regex", tr->pattern, "behavior", "Isolated", "invert", 0,
		"type", "ByteLevel", "add_prefix_space", 0, "trim_offsets", 1, "use_regex", 0,
		"post_processor", "type", "ByteLevel", "add_prefix_space", 0, "trim_offsets", 0,
		"use_regex", 0,
		"decoder", "type", "ByteLevel", "add_prefix_space", 0, "trim_offsets", 1, "use_regex", 0,
		"model", "type", "BPE", "dropout", "unk_token", "continuing_subword_prefix",
		"end_of_word_suffix", "fuse_unk", 0, "byte_fallback", 0, "ignore_merges", 0,
		"vocab", vocab, "merges", merges);
	return root;
}

static json_t *token_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *build_config(const struct sr_bpe_trainer *tr)
{
	return json_pack("{s:b, s:b, s:o, s:o, s:o, s:n, s:s, s:b, s:s}",
		"add_bos_token", 0, "add_eos_token", 0,
		"bos_token", token_or_null(tr->bos), "eos_token", token_or_null(tr->eos),
		"pad_token", token_or_null(tr->pad), "unk_token",
		"chat_template", tr->chat_template, "clean_up_tokenization_spaces", 0,
		"tokenizer_class", "PreTrainedTokenizerFast");
}

int sr_bpe_trainer_finish(struct sr_bpe_trainer *tr, struct sr_tokenizer **out,
	struct sr_error *err)
{
	struct vocab_build v = { 0 };
	json_t *root = NULL, *config = NULL;
	int32_t byte_id[256];
	int rc = 0;

	*out = NULL;
	if (tr->finished)
		return sr_fail(err, SR_EUSAGE, "the trainer has already finished");
	tr->finished = 1;

	/* Ids: special tokens, then the 256 bytes in byte order. */
	for (size_t i = 0; i < tr->opts.n_special && rc == 0; i++) {
		char *s = strdup(tr->specials[i]);
		if (!s || vocab_add(&v, s) < 0) {
			free(s);
			rc = oom(err);
		}
	}
	for (unsigned b = 0; b < 256 && rc == 0; b++) {
		char ch[3];
		tok_byte_char(b, ch);
		char *s = strdup(ch);
		byte_id[b] = (int32_t)v.n;
		if (!s || vocab_add(&v, s) < 0) {
			free(s);
			rc = oom(err);
		}
	}
	for (size_t i = 0; i < tr->n_words && rc == 0; i++) {
		struct word *w = &tr->words[i];
		if (!(w->syms = malloc((w->len + 1) * sizeof *w->syms))) {
			rc = oom(err);
			break;
		}
		for (size_t k = 0; k < w->len; k++)
			w->syms[k] = byte_id[(unsigned char)w->bytes[k]];
		w->n = w->len;
	}
	if (rc == 0)
		rc = learn(tr, &v, err);
	if (rc == 0 && (!(root = build_tokenizer_json(tr, &v)) || !(config = build_config(tr))))
		rc = oom(err);
	if (rc == 0)
		rc = sr_tokenizer_from_json(root, config, out, err);
	json_decref(root);
	json_decref(config);
	vocab_release(&v);
	return rc;
}

int sr_bpe_train(const char *const *texts, size_t n, const struct sr_bpe_options *opts,
	struct sr_tokenizer **out, struct sr_error *err)
{
	struct sr_bpe_trainer *tr;
	int rc;

	*out = NULL;
	if ((rc = sr_bpe_trainer_new(opts, &tr, err)) < 0)
		return rc;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = sr_bpe_trainer_add(tr, texts[i], strlen(texts[i]), err);
	if (rc == 0)
		rc = sr_bpe_trainer_finish(tr, out, err);
	sr_bpe_trainer_free(tr);
	return rc;
}
