/*
 * tokenizer.c - encoding and decoding with a byte-level BPE tokenizer.
 *
 * The encode pipeline follows Hugging Face tokenizers step by step, because
 * token ids must come out identical (tests/tokenizer-reference.sh compares
 * them with the @lenml/tokenizers port):
 *
 *   1. added tokens whose "normalized" is false are cut out of the raw text
 *      (leftmost-longest match, as its Aho-Corasick automaton does);
 *   2. each remaining piece is normalized (NFC, ...);
 *   3. added tokens with "normalized": true are cut out of the result;
 *   4. the pre-tokenizer splits pieces into words and maps bytes to the
 *      byte-level alphabet;
 *   5. the BPE model turns each word into ids, merging the pair with the
 *      lowest rank first (leftmost on ties).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>
#include "tokenizer_impl.h"

/* ---- small containers ---- */

int sr_ids_push(struct sr_ids *ids, int32_t id)
{
	return sr_ids_append(ids, &id, 1);
}

int sr_ids_append(struct sr_ids *ids, const int32_t *src, size_t n)
{
	if (n > ids->cap - ids->len) {
		size_t cap = ids->cap ? ids->cap : 64;
		while (cap - ids->len < n)
			cap *= 2;
		int32_t *p = realloc(ids->data, cap * sizeof *p);
		if (!p)
			return SR_ENOMEM;
		ids->data = p;
		ids->cap = cap;
	}
	if (n)
		memcpy(ids->data + ids->len, src, n * sizeof *src);
	ids->len += n;
	return 0;
}

void sr_ids_release(struct sr_ids *ids)
{
	free(ids->data);
	ids->data = NULL;
	ids->len = ids->cap = 0;
}

/* ---- byte-level alphabet ---- */

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves,
 * the other 68 bytes take code points 256, 257, ... in byte order. All
 * code points are below 324. */
static char byte_utf8[256][3];
static int16_t codepoint_byte[324];
static pthread_once_t byte_tables_once = PTHREAD_ONCE_INIT;

static void init_byte_tables(void)
{
	int32_t next = 256;
	for (int i = 0; i < 324; i++)
		codepoint_byte[i] = -1;
	for (unsigned b = 0; b < 256; b++) {
		int printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
		int32_t cp = printable ? (int32_t)b : next++;
		utf8proc_ssize_t n = utf8proc_encode_char(cp, (utf8proc_uint8_t *)byte_utf8[b]);
		byte_utf8[b][n] = '\0';
		codepoint_byte[cp] = (int16_t)b;
	}
}

size_t tok_byte_char(unsigned byte, char out[3])
{
	pthread_once(&byte_tables_once, init_byte_tables);
	memcpy(out, byte_utf8[byte & 0xFF], 3);
	return out[1] ? 2 : 1;
}

int tok_char_byte(int32_t cp)
{
	pthread_once(&byte_tables_once, init_byte_tables);
	if (cp < 0 || cp >= 324)
		return -1;
	return codepoint_byte[cp];
}

/* ---- hash maps ---- */

static uint64_t hash_bytes(const char *s, size_t len)
{
	return sr_hash64(s, len, 0x9E3779B97F4A7C15ull);
}

static int strmap_grow(struct strmap *m)
{
	size_t ncap = m->slots ? (m->mask + 1) * 2 : 1024;
	struct strmap_entry *slots = calloc(ncap, sizeof *slots);
	if (!slots)
		return SR_ENOMEM;
	for (size_t i = 0; m->slots && i <= m->mask; i++) {
		struct strmap_entry *e = &m->slots[i];
		if (!e->key)
			continue;
		size_t j = hash_bytes(e->key, e->len) & (ncap - 1);
		while (slots[j].key)
			j = (j + 1) & (ncap - 1);
		slots[j] = *e;
	}
	free(m->slots);
	m->slots = slots;
	m->mask = ncap - 1;
	return 0;
}

/* Insert or overwrite key -> id. key must outlive the map. */
int strmap_put(struct strmap *m, const char *key, uint32_t len, int32_t id)
{
	if (!m->slots || (m->count + 1) * 4 > (m->mask + 1) * 3) {
		int rc = strmap_grow(m);
		if (rc < 0)
			return rc;
	}
	size_t j = hash_bytes(key, len) & m->mask;
	while (m->slots[j].key) {
		struct strmap_entry *e = &m->slots[j];
		if (e->len == len && memcmp(e->key, key, len) == 0) {
			e->id = id;
			e->key = key;
			return 0;
		}
		j = (j + 1) & m->mask;
	}
	m->slots[j] = (struct strmap_entry){ key, len, id };
	m->count++;
	return 0;
}

int32_t strmap_get(const struct strmap *m, const char *key, size_t len)
{
	if (!m->slots)
		return -1;
	size_t j = hash_bytes(key, len) & m->mask;
	while (m->slots[j].key) {
		const struct strmap_entry *e = &m->slots[j];
		if (e->len == len && memcmp(e->key, key, len) == 0)
			return e->id;
		j = (j + 1) & m->mask;
	}
	return -1;
}

void strmap_release(struct strmap *m)
{
	free(m->slots);
	memset(m, 0, sizeof *m);
}

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

static const struct pairmap_entry *pairmap_find(const struct pairmap *m, int32_t a, int32_t b)
{
	if (!m->slots)
		return NULL;
	uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
	size_t j = mix64(key) & m->mask;
	while (m->slots[j].key != UINT64_MAX) {
		if (m->slots[j].key == key)
			return &m->slots[j];
		j = (j + 1) & m->mask;
	}
	return NULL;
}

/* ---- error helpers ---- */

static int oom(struct sr_error *err)
{
	return sr_fail(err, SR_ENOMEM, "out of memory while tokenizing");
}

/* ---- working storage for one encode call ---- */

struct span {
	size_t off, len;
};

/* A list of strings kept in one buffer. */
struct pieces {
	struct sr_buf text;
	struct span *spans;
	size_t n, cap;
};

static int pieces_add(struct pieces *p, const char *s, size_t len)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 64;
		struct span *sp = realloc(p->spans, cap * sizeof *sp);
		if (!sp)
			return SR_ENOMEM;
		p->spans = sp;
		p->cap = cap;
	}
	size_t off = p->text.len;
	if (len && sr_buf_append(&p->text, s, len) < 0)
		return SR_ENOMEM;
	p->spans[p->n++] = (struct span){ off, len };
	return 0;
}

/* Extend the last piece by len bytes taken from s. */
static int pieces_extend(struct pieces *p, const char *s, size_t len)
{
	if (len && sr_buf_append(&p->text, s, len) < 0)
		return SR_ENOMEM;
	p->spans[p->n - 1].len += len;
	return 0;
}

static void pieces_clear(struct pieces *p)
{
	p->text.len = 0;
	if (p->text.data)
		p->text.data[0] = '\0';
	p->n = 0;
}

static void pieces_release(struct pieces *p)
{
	sr_buf_release(&p->text);
	free(p->spans);
	memset(p, 0, sizeof *p);
}

/* One BPE symbol: a token id and its neighbours in the word. */
struct symbol {
	int32_t id;
	int32_t prev, next;
	int alive;
};

struct merge_item {
	int32_t rank, pos, id;
};

struct encoder {
	const struct sr_tokenizer *tok;
	int flags;
	pcre2_match_data *md;
	pcre2_match_context *mctx;
	pcre2_jit_stack *jit;
	struct pieces a, b;
	struct sr_buf word;
	struct symbol *syms;
	size_t syms_cap;
	struct merge_item *heap;
	size_t heap_len, heap_cap;
	struct sr_ids *out;
	struct sr_error *err;
};

/* ---- BPE model ---- */

static int heap_less(const struct merge_item *x, const struct merge_item *y)
{
	return x->rank < y->rank || (x->rank == y->rank && x->pos < y->pos);
}

static int heap_push(struct encoder *e, int32_t rank, int32_t pos, int32_t id)
{
	if (e->heap_len == e->heap_cap) {
		size_t cap = e->heap_cap ? e->heap_cap * 2 : 64;
		struct merge_item *h = realloc(e->heap, cap * sizeof *h);
		if (!h)
			return SR_ENOMEM;
		e->heap = h;
		e->heap_cap = cap;
	}
	size_t i = e->heap_len++;
	e->heap[i] = (struct merge_item){ rank, pos, id };
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!heap_less(&e->heap[i], &e->heap[parent]))
			break;
		struct merge_item t = e->heap[i];
		e->heap[i] = e->heap[parent];
		e->heap[parent] = t;
		i = parent;
	}
	return 0;
}

static struct merge_item heap_pop(struct encoder *e)
{
	struct merge_item top = e->heap[0];
	e->heap[0] = e->heap[--e->heap_len];
	size_t i = 0;
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < e->heap_len && heap_less(&e->heap[l], &e->heap[m]))
			m = l;
		if (r < e->heap_len && heap_less(&e->heap[r], &e->heap[m]))
			m = r;
		if (m == i)
			break;
		struct merge_item t = e->heap[i];
		e->heap[i] = e->heap[m];
		e->heap[m] = t;
		i = m;
	}
	return top;
}

static int push_symbol(struct encoder *e, size_t *n, int32_t id)
{
	if (*n == e->syms_cap) {
		size_t cap = e->syms_cap ? e->syms_cap * 2 : 64;
		struct symbol *s = realloc(e->syms, cap * sizeof *s);
		if (!s)
			return SR_ENOMEM;
		e->syms = s;
		e->syms_cap = cap;
	}
	e->syms[*n] = (struct symbol){ id, (int32_t)*n - 1, (int32_t)*n + 1, 1 };
	(*n)++;
	return 0;
}

/* Whether every byte of s has a <0xXX> token. */
static int has_byte_tokens(const struct sr_tokenizer *tok, const char *s, size_t len)
{
	for (size_t k = 0; k < len; k++)
		if (tok->byte_ids[(unsigned char)s[k]] < 0)
			return 0;
	return 1;
}

/* Turn the characters of word into initial symbols: each character's token,
 * or its <0xXX> byte tokens (byte_fallback), or the unknown token (fused
 * with a preceding one when fuse_unk is set). */
static int initial_symbols(struct encoder *e, const char *w, size_t len, size_t *n)
{
	const struct sr_tokenizer *tok = e->tok;
	int last_unk = 0;
	size_t i = 0;
	*n = 0;
	while (i < len) {
		utf8proc_int32_t cp;
		utf8proc_ssize_t cl = utf8proc_iterate((const utf8proc_uint8_t *)w + i,
			(utf8proc_ssize_t)(len - i), &cp);
		if (cl <= 0)
			return sr_fail(e->err, SR_EDATA, "invalid UTF-8 in text");
		int32_t id = strmap_get(&tok->vocab, w + i, (size_t)cl);
		if (id >= 0) {
			if (push_symbol(e, n, id) < 0)
				return oom(e->err);
			last_unk = 0;
		} else if (tok->byte_fallback && has_byte_tokens(tok, w + i, (size_t)cl)) {
			for (utf8proc_ssize_t k = 0; k < cl; k++)
				if (push_symbol(e, n, tok->byte_ids[(unsigned char)w[i + k]]) < 0)
					return oom(e->err);
			last_unk = 0;
		} else if (tok->unk_id >= 0) {
			if (!(tok->fuse_unk && last_unk) && push_symbol(e, n, tok->unk_id) < 0)
				return oom(e->err);
			last_unk = 1;
		} else {
			return sr_fail(e->err, SR_EDATA,
				"character U+%04X has no token and the model has no unk_token", (unsigned)cp);
		}
		i += (size_t)cl;
	}
	if (*n)
		e->syms[*n - 1].next = -1;
	return 0;
}

static int try_push_pair(struct encoder *e, int32_t pos)
{
	const struct symbol *s = &e->syms[pos];
	if (s->next < 0)
		return 0;
	const struct pairmap_entry *m = pairmap_find(&e->tok->merges, s->id, e->syms[s->next].id);
	if (!m)
		return 0;
	return heap_push(e, m->rank, pos, m->id);
}

/* Encode one pre-tokenized word (already in the vocabulary's alphabet). */
static int bpe_word(struct encoder *e, const char *w, size_t len)
{
	const struct sr_tokenizer *tok = e->tok;
	size_t n;
	int rc;

	if (len == 0)
		return 0;
	if (tok->ignore_merges) {
		int32_t id = strmap_get(&tok->vocab, w, len);
		if (id >= 0)
			return sr_ids_push(e->out, id) < 0 ? oom(e->err) : 0;
	}
	if ((rc = initial_symbols(e, w, len, &n)) < 0)
		return rc;

	e->heap_len = 0;
	for (size_t i = 0; i + 1 < n; i++)
		if (try_push_pair(e, (int32_t)i) < 0)
			return oom(e->err);
	while (e->heap_len) {
		struct merge_item top = heap_pop(e);
		struct symbol *s = &e->syms[top.pos];
		if (!s->alive || s->next < 0)
			continue;
		struct symbol *right = &e->syms[s->next];
		const struct pairmap_entry *m = pairmap_find(&tok->merges, s->id, right->id);
		if (!m || m->id != top.id)
			continue; /* stale entry: one side changed since it was queued */
		s->id = top.id;
		right->alive = 0;
		s->next = right->next;
		if (s->next >= 0)
			e->syms[s->next].prev = top.pos;
		if (s->prev >= 0 && try_push_pair(e, s->prev) < 0)
			return oom(e->err);
		if (try_push_pair(e, top.pos) < 0)
			return oom(e->err);
	}
	for (int32_t i = 0; i >= 0 && n; i = e->syms[i].next)
		if (sr_ids_push(e->out, e->syms[i].id) < 0)
			return oom(e->err);
	return 0;
}

/* ---- pre-tokenizer ---- */

/* Find the next match of step's pattern in s[from..len). Returns 1 with
 * [*ms, *me), 0 for none, <0 on a matching error. */
static int step_find(struct encoder *e, const struct pre_step *st, const char *s, size_t len,
	size_t from, size_t *ms, size_t *me)
{
	if (!st->re) {
		if (st->literal_len == 0 || from >= len)
			return 0;
		const char *hit = memmem(s + from, len - from, st->literal, st->literal_len);
		if (!hit)
			return 0;
		*ms = (size_t)(hit - s);
		*me = *ms + st->literal_len;
		return 1;
	}
	if (from > len)
		return 0;
	int rc = pcre2_match(st->re, (PCRE2_SPTR)s, len, from, PCRE2_NO_UTF_CHECK, e->md, e->mctx);
	if (rc == PCRE2_ERROR_JIT_STACKLIMIT && !e->jit) {
		/* The default 32 KiB JIT stack is too small for this text: retry
		 * with one that can grow to 16 MiB. */
		e->mctx = pcre2_match_context_create(NULL);
		e->jit = pcre2_jit_stack_create(32 * 1024, 16 * 1024 * 1024, NULL);
		if (!e->mctx || !e->jit)
			return oom(e->err);
		pcre2_jit_stack_assign(e->mctx, NULL, e->jit);
		rc = pcre2_match(st->re, (PCRE2_SPTR)s, len, from, PCRE2_NO_UTF_CHECK, e->md, e->mctx);
	}
	if (rc == PCRE2_ERROR_NOMATCH)
		return 0;
	if (rc < 0) {
		PCRE2_UCHAR msg[256];
		pcre2_get_error_message(rc, msg, sizeof msg);
		return sr_fail(e->err, SR_ETOOBIG, "pre-tokenizer pattern failed on a %zu-byte text: %s",
			len, (const char *)msg);
	}
	PCRE2_SIZE *ov = pcre2_get_ovector_pointer(e->md);
	*ms = ov[0];
	*me = ov[1];
	return 1;
}

/* Length of the UTF-8 character starting at s[0]. */
static size_t char_len(const char *s, size_t avail)
{
	unsigned char c = (unsigned char)s[0];
	size_t n = 4;
	if (c < 0x80)
		n = 1;
	else if (c < 0xE0)
		n = 2;
	else if (c < 0xF0)
		n = 3;
	return n > avail ? avail : n;
}

/* Apply one Split step to the piece s[0..len), appending to out. Matches
 * and the text between them become pieces, combined by the behavior:
 * MergedWithPrevious appends a match to the text before it, MergedWithNext
 * appends the text after a match to that match, Contiguous joins runs of
 * the same kind. Empty pieces are dropped. */
static int split_piece(struct encoder *e, const struct pre_step *st, const char *s, size_t len,
	struct pieces *out)
{
	size_t from = 0, prev = 0;
	int prev_match = 0, have = 0, rc;

	/* Emit one (start, end, is_match) region under the behavior. */
#define EMIT(start, end, is_match) do { \
		size_t rs_ = (start), re_ = (end); int im_ = (is_match) != st->invert; \
		if (rs_ == re_) break; \
		switch (st->behavior) { \
		case SPLIT_REMOVED: \
			if (!im_ && pieces_add(out, s + rs_, re_ - rs_) < 0) return oom(e->err); \
			break; \
		case SPLIT_ISOLATED: \
			if (pieces_add(out, s + rs_, re_ - rs_) < 0) return oom(e->err); \
			break; \
		case SPLIT_MERGED_PREVIOUS: \
			if (im_ && !prev_match && have) { \
				if (pieces_extend(out, s + rs_, re_ - rs_) < 0) return oom(e->err); \
			} else if (pieces_add(out, s + rs_, re_ - rs_) < 0) return oom(e->err); \
			break; \
		case SPLIT_MERGED_NEXT: \
			if (prev_match && !im_ && have) { \
				if (pieces_extend(out, s + rs_, re_ - rs_) < 0) return oom(e->err); \
			} else if (pieces_add(out, s + rs_, re_ - rs_) < 0) return oom(e->err); \
			break; \
		case SPLIT_CONTIGUOUS: \
			if (im_ == prev_match && have) { \
				if (pieces_extend(out, s + rs_, re_ - rs_) < 0) return oom(e->err); \
			} else if (pieces_add(out, s + rs_, re_ - rs_) < 0) return oom(e->err); \
			break; \
		} \
		have = 1; prev_match = im_; \
	} while (0)

	while (from <= len) {
		size_t ms, me;
		if ((rc = step_find(e, st, s, len, from, &ms, &me)) < 0)
			return rc;
		if (rc == 0)
			break;
		if (ms > prev)
			EMIT(prev, ms, 0);
		EMIT(ms, me, 1);
		prev = me;
		from = me > ms ? me : me + (me < len ? char_len(s + me, len - me) : 1);
	}
	if (prev < len)
		EMIT(prev, len, 0);
#undef EMIT
	return 0;
}

static int bytelevel_piece(struct encoder *e, const struct pre_step *st, const char *s,
	size_t len, struct pieces *out)
{
	struct pieces tmp = { 0 };
	const char *src = s;
	size_t srclen = len;
	struct sr_buf prefixed = { 0 };
	int rc = 0;

	if (st->add_prefix_space && (len == 0 || s[0] != ' ')) {
		if (sr_buf_puts(&prefixed, " ") < 0 || sr_buf_append(&prefixed, s, len) < 0) {
			rc = oom(e->err);
			goto done;
		}
		src = prefixed.data;
		srclen = prefixed.len;
	}
	if (st->re) {
		struct pre_step iso = *st;
		iso.kind = PRE_SPLIT;
		iso.behavior = SPLIT_ISOLATED;
		iso.invert = 0;
		if ((rc = split_piece(e, &iso, src, srclen, &tmp)) < 0)
			goto done;
	} else if ((rc = pieces_add(&tmp, src, srclen)) < 0) {
		rc = oom(e->err);
		goto done;
	}
	for (size_t i = 0; i < tmp.n; i++) {
		const unsigned char *p = (const unsigned char *)tmp.text.data + tmp.spans[i].off;
		if ((rc = pieces_add(out, "", 0)) < 0) {
			rc = oom(e->err);
			goto done;
		}
		for (size_t k = 0; k < tmp.spans[i].len; k++) {
			char ch[3];
			size_t n = tok_byte_char(p[k], ch);
			if (pieces_extend(out, ch, n) < 0) {
				rc = oom(e->err);
				goto done;
			}
		}
	}
done:
	pieces_release(&tmp);
	sr_buf_release(&prefixed);
	return rc;
}

/* Pre-tokenize s[0..len) and run the model on every word. */
static int encode_normalized(struct encoder *e, const char *s, size_t len)
{
	const struct sr_tokenizer *tok = e->tok;
	struct pieces *cur = &e->a, *next = &e->b;
	int rc;

	if (len == 0)
		return 0;
	pieces_clear(cur);
	if (pieces_add(cur, s, len) < 0)
		return oom(e->err);
	for (size_t k = 0; k < tok->n_pre; k++) {
		const struct pre_step *st = &tok->pre[k];
		pieces_clear(next);
		for (size_t i = 0; i < cur->n; i++) {
			const char *p = cur->text.data + cur->spans[i].off;
			size_t plen = cur->spans[i].len;
			rc = st->kind == PRE_SPLIT ? split_piece(e, st, p, plen, next)
				: bytelevel_piece(e, st, p, plen, next);
			if (rc < 0)
				return rc;
		}
		struct pieces *t = cur;
		cur = next;
		next = t;
	}
	for (size_t i = 0; i < cur->n; i++)
		if ((rc = bpe_word(e, cur->text.data + cur->spans[i].off, cur->spans[i].len)) < 0)
			return rc;
	return 0;
}

/* ---- normalizer ---- */

static int is_ascii(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80)
			return 0;
	return 1;
}

static int lowercase(const char *s, size_t len, struct sr_buf *out, struct sr_error *err)
{
	size_t i = 0;
	while (i < len) {
		utf8proc_int32_t cp;
		utf8proc_uint8_t enc[4];
		utf8proc_ssize_t cl = utf8proc_iterate((const utf8proc_uint8_t *)s + i,
			(utf8proc_ssize_t)(len - i), &cp);
		if (cl <= 0)
			return sr_fail(err, SR_EDATA, "invalid UTF-8 in text");
		utf8proc_ssize_t el = utf8proc_encode_char(utf8proc_tolower(cp), enc);
		if (sr_buf_append(out, enc, (size_t)el) < 0)
			return oom(err);
		i += (size_t)cl;
	}
	return 0;
}

static int unicode_form(enum norm_kind kind, const char *s, size_t len, struct sr_buf *out,
	struct sr_error *err)
{
	utf8proc_option_t opt = UTF8PROC_STABLE;
	switch (kind) {
	case NORM_NFC: opt |= UTF8PROC_COMPOSE; break;
	case NORM_NFD: opt |= UTF8PROC_DECOMPOSE; break;
	case NORM_NFKC: opt |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT; break;
	case NORM_NFKD: opt |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT; break;
	default: break;
	}
	utf8proc_uint8_t *res = NULL;
	utf8proc_ssize_t rl = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)len, &res, opt);
	if (rl < 0)
		return sr_fail(err, rl == UTF8PROC_ERROR_NOMEM ? SR_ENOMEM : SR_EDATA,
			"cannot normalize text: %s", utf8proc_errmsg(rl));
	int rc = sr_buf_append(out, res, (size_t)rl);
	free(res);
	return rc < 0 ? oom(err) : 0;
}

/* Replace every match of the step's pattern in s by its text. */
static int replace_all(const struct norm_step *st, const char *s, size_t len, struct sr_buf *out,
	struct sr_error *err)
{
	pcre2_match_data *md = st->re ? pcre2_match_data_create(1, NULL) : NULL;
	size_t pos = 0;
	int rc = 0;

	if (st->re && !md)
		return oom(err);
	while (pos <= len && rc == 0) {
		size_t ms, me;
		if (st->re) {
			int m = pcre2_match(st->re, (PCRE2_SPTR)s, len, pos, PCRE2_NO_UTF_CHECK, md, NULL);
			if (m == PCRE2_ERROR_NOMATCH)
				break;
			if (m < 0) {
				rc = sr_fail(err, SR_ETOOBIG, "normalizer pattern failed on a %zu-byte text", len);
				break;
			}
			ms = pcre2_get_ovector_pointer(md)[0];
			me = pcre2_get_ovector_pointer(md)[1];
		} else {
			const char *hit = memmem(s + pos, len - pos, st->literal, st->literal_len);
			if (!hit)
				break;
			ms = (size_t)(hit - s);
			me = ms + st->literal_len;
		}
		if (sr_buf_append(out, s + pos, ms - pos) < 0 ||
		    sr_buf_append(out, st->text, st->text_len) < 0) {
			rc = oom(err);
			break;
		}
		pos = me;
		if (me == ms) {
			/* An empty match: keep the next character and go on after it. */
			size_t cl = me < len ? char_len(s + me, len - me) : 1;
			if (me < len && sr_buf_append(out, s + me, cl) < 0)
				rc = oom(err);
			pos = me + cl;
		}
	}
	if (rc == 0 && pos < len && sr_buf_append(out, s + pos, len - pos) < 0)
		rc = oom(err);
	pcre2_match_data_free(md);
	return rc;
}

/* Run the normalizer steps over s[0..len), leaving the result in out. */
static int normalize(const struct sr_tokenizer *tok, const char *s, size_t len,
	struct sr_buf *out, struct sr_error *err)
{
	struct sr_buf tmp = { 0 };
	int rc = 0;

	out->len = 0;
	if (sr_buf_append(out, s, len) < 0)
		return oom(err);
	for (size_t k = 0; k < tok->n_norms && rc == 0; k++) {
		const struct norm_step *st = &tok->norms[k];
		sr_buf_reset(&tmp);
		switch (st->kind) {
		case NORM_LOWERCASE:
			rc = lowercase(out->data, out->len, &tmp, err);
			break;
		case NORM_PREPEND:
			/* An empty text stays empty. */
			if (out->len == 0)
				continue;
			if (sr_buf_append(&tmp, st->text, st->text_len) < 0 ||
			    sr_buf_append(&tmp, out->data, out->len) < 0)
				rc = oom(err);
			break;
		case NORM_REPLACE:
			rc = replace_all(st, out->data, out->len, &tmp, err);
			break;
		default:
			/* ASCII text is in every normalization form already. */
			if (is_ascii(out->data, out->len))
				continue;
			rc = unicode_form(st->kind, out->data, out->len, &tmp, err);
			break;
		}
		if (rc == 0 && !tmp.data && sr_buf_append(&tmp, "", 0) < 0)
			rc = oom(err);
		struct sr_buf t = *out;
		*out = tmp;
		tmp = t;
	}
	sr_buf_release(&tmp);
	return rc;
}

/* ---- added tokens ---- */

static int is_word_char(int32_t cp)
{
	if (cp == '_')
		return 1;
	utf8proc_category_t c = utf8proc_category(cp);
	return (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO) ||
		(c >= UTF8PROC_CATEGORY_ND && c <= UTF8PROC_CATEGORY_NO);
}

static int is_space_cp(int32_t cp)
{
	/* Rust's char::is_whitespace: the Unicode White_Space property. */
	switch (cp) {
	case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D: case 0x20: case 0x85: case 0xA0:
	case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
		return 1;
	default:
		return cp >= 0x2000 && cp <= 0x200A;
	}
}

/* Code point that ends at s[end) (end > 0). */
static int32_t cp_before(const char *s, size_t end, size_t *start)
{
	size_t i = end - 1;
	while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80)
		i--;
	utf8proc_int32_t cp = -1;
	utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(end - i), &cp);
	if (start)
		*start = i;
	return cp;
}

/* Find the leftmost-longest added token in s[from..len) among those whose
 * "normalized" flag equals normalized. Returns its index or -1. */
static long find_added(const struct sr_tokenizer *tok, const char *s, size_t len, size_t from,
	int normalized, int skip_special, size_t *ms)
{
	for (size_t i = from; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		/* Within a first-byte group the longest tokens come first. */
		for (uint32_t k = tok->added_start[c]; k < tok->added_start[c + 1]; k++) {
			const struct added_token *a = &tok->added[tok->added_sorted[k]];
			if (a->normalized != (unsigned)normalized || (skip_special && a->special))
				continue;
			if (a->len > len - i || memcmp(a->content, s + i, a->len) != 0)
				continue;
			*ms = i;
			return (long)tok->added_sorted[k];
		}
	}
	return -1;
}

typedef int (*segment_fn)(struct encoder *e, const char *s, size_t len);

/* Split s at added tokens of one kind, passing the text between them to fn
 * and appending each token's id. */
static int split_added(struct encoder *e, const char *s, size_t len, int normalized,
	segment_fn fn)
{
	const struct sr_tokenizer *tok = e->tok;
	int skip_special = (e->flags & SR_ENCODE_SPLIT_SPECIAL) != 0;
	size_t pos = 0, text_start = 0;
	int rc;

	if (tok->n_added_kind[normalized][0] == 0 &&
	    (skip_special || tok->n_added_kind[normalized][1] == 0))
		return fn(e, s, len);
	while (pos < len) {
		size_t ms;
		long k = find_added(tok, s, len, pos, normalized, skip_special, &ms);
		if (k < 0)
			break;
		const struct added_token *a = &tok->added[k];
		size_t start = ms, stop = ms + a->len;
		pos = stop;
		if (a->single_word) {
			size_t dummy;
			int left_ok = start == 0 || !is_word_char(cp_before(s, start, &dummy));
			utf8proc_int32_t next = -1;
			if (stop < len)
				utf8proc_iterate((const utf8proc_uint8_t *)s + stop,
					(utf8proc_ssize_t)(len - stop), &next);
			int right_ok = stop == len || !is_word_char(next);
			if (!left_ok || !right_ok)
				continue;
		}
		if (a->lstrip) {
			size_t cs;
			while (start > text_start && is_space_cp(cp_before(s, start, &cs)))
				start = cs;
		}
		if (a->rstrip) {
			while (stop < len) {
				utf8proc_int32_t cp;
				utf8proc_ssize_t cl = utf8proc_iterate((const utf8proc_uint8_t *)s + stop,
					(utf8proc_ssize_t)(len - stop), &cp);
				if (cl <= 0 || !is_space_cp(cp))
					break;
				stop += (size_t)cl;
			}
			pos = stop;
		}
		if ((rc = fn(e, s + text_start, start - text_start)) < 0)
			return rc;
		if (sr_ids_push(e->out, a->id) < 0)
			return oom(e->err);
		text_start = stop;
	}
	return fn(e, s + text_start, len - text_start);
}

static int normalized_segment(struct encoder *e, const char *s, size_t len)
{
	return encode_normalized(e, s, len);
}

/* Normalize a piece of raw text, then cut out normalized added tokens. */
static int raw_segment(struct encoder *e, const char *s, size_t len)
{
	struct sr_buf norm = { 0 };
	int rc;

	if (len == 0)
		return 0;
	if (e->tok->n_norms == 0)
		return split_added(e, s, len, 1, normalized_segment);
	if ((rc = normalize(e->tok, s, len, &norm, e->err)) < 0) {
		sr_buf_release(&norm);
		return rc;
	}
	rc = split_added(e, norm.data ? norm.data : "", norm.len, 1, normalized_segment);
	sr_buf_release(&norm);
	return rc;
}

static void encoder_release(struct encoder *e)
{
	pcre2_match_data_free(e->md);
	pcre2_match_context_free(e->mctx);
	pcre2_jit_stack_free(e->jit);
	pieces_release(&e->a);
	pieces_release(&e->b);
	sr_buf_release(&e->word);
	free(e->syms);
	free(e->heap);
}

int sr_tokenizer_encode(const struct sr_tokenizer *tok, const char *text, size_t len,
	int flags, struct sr_ids *ids, struct sr_error *err)
{
	struct encoder e = { .tok = tok, .flags = flags, .out = ids, .err = err };
	int rc;

	if (sr_utf8_valid_prefix(text, len) != len)
		return sr_fail(err, SR_EDATA, "text is not valid UTF-8 (at byte %zu)",
			sr_utf8_valid_prefix(text, len));
	/* Enough match data for every pattern: one pair of offsets is used. */
	e.md = pcre2_match_data_create(1, NULL);
	if (!e.md) {
		encoder_release(&e);
		return oom(err);
	}

	rc = 0;
	if ((flags & SR_ENCODE_ADD_SPECIAL) && sr_ids_append(ids, tok->prefix_ids, tok->n_prefix) < 0)
		rc = oom(err);
	if (rc == 0)
		rc = split_added(&e, text, len, 0, raw_segment);
	if (rc == 0 && (flags & SR_ENCODE_ADD_SPECIAL) &&
	    sr_ids_append(ids, tok->suffix_ids, tok->n_suffix) < 0)
		rc = oom(err);
	encoder_release(&e);
	return rc;
}

/* ---- decoding ---- */

/* Append s to out, replacing each maximal invalid UTF-8 sequence by U+FFFD
 * the way Rust's String::from_utf8_lossy does. */
static int append_lossy(struct sr_buf *out, const char *s, size_t len)
{
	static const char repl[] = "\xEF\xBF\xBD";
	size_t i = 0;
	while (i < len) {
		size_t ok = sr_utf8_valid_prefix(s + i, len - i);
		if (sr_buf_append(out, s + i, ok) < 0)
			return SR_ENOMEM;
		i += ok;
		if (i >= len)
			break;
		/* Skip the longest prefix of a valid sequence (at least one byte). */
		unsigned char c = (unsigned char)s[i];
		size_t need = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 :
			c >= 0xF0 && c <= 0xF4 ? 4 : 1;
		size_t skip = 1;
		for (size_t k = 1; k < need && i + k < len; k++) {
			unsigned char d = (unsigned char)s[i + k];
			unsigned char lo = 0x80, hi = 0xBF;
			if (k == 1) {
				if (c == 0xE0) lo = 0xA0;
				if (c == 0xED) hi = 0x9F;
				if (c == 0xF0) lo = 0x90;
				if (c == 0xF4) hi = 0x8F;
			}
			if (d < lo || d > hi)
				break;
			skip++;
		}
		if (sr_buf_append(out, repl, 3) < 0)
			return SR_ENOMEM;
		i += skip;
	}
	return 0;
}

/* Map a byte-level token back to bytes. A token with a character outside
 * the alphabet, such as an added token that contains a space, is kept as
 * its own UTF-8 bytes. */
static int bytelevel_bytes(const char *s, size_t len, struct sr_buf *out)
{
	size_t start = out->len, i = 0;
	while (i < len) {
		utf8proc_int32_t cp;
		utf8proc_ssize_t cl = utf8proc_iterate((const utf8proc_uint8_t *)s + i,
			(utf8proc_ssize_t)(len - i), &cp);
		int b = cl > 0 ? tok_char_byte(cp) : -1;
		if (b < 0) {
			out->len = start;
			return sr_buf_append(out, s, len);
		}
		char c = (char)b;
		if (sr_buf_append(out, &c, 1) < 0)
			return SR_ENOMEM;
		i += (size_t)cl;
	}
	return 0;
}

/* Byte value of a "<0xXX>" token, or -1. */
static int fallback_byte(const char *s, size_t len)
{
	if (len != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>')
		return -1;
	int v = 0;
	for (int k = 3; k < 5; k++) {
		char c = s[k];
		int digit;
		if (c >= '0' && c <= '9')
			digit = c - '0';
		else if (c >= 'A' && c <= 'F')
			digit = c - 'A' + 10;
		else
			return -1;
		v = v * 16 + digit;
	}
	return v;
}

static int check_id(const struct sr_tokenizer *tok, int32_t id, struct sr_error *err)
{
	if (id < 0 || (size_t)id >= tok->n_ids || !tok->tokens[id])
		return sr_fail(err, SR_EDATA, "token id %ld is not in the vocabulary",
			(long)id);
	return 0;
}

/* The piece at index i of p. */
#define PIECE(p, i) ((p)->text.data + (p)->spans[i].off)

/* ByteLevel: join the tokens and map characters back to bytes. */
static int dec_bytelevel(const struct pieces *cur, struct pieces *next, int raw)
{
	struct sr_buf acc = { 0 }, lossy = { 0 };
	int rc = 0;

	for (size_t i = 0; i < cur->n && rc == 0; i++)
		rc = bytelevel_bytes(PIECE(cur, i), cur->spans[i].len, &acc);
	if (rc == 0 && raw)
		rc = pieces_add(next, acc.data ? acc.data : "", acc.len);
	else if (rc == 0 && (rc = append_lossy(&lossy, acc.data ? acc.data : "", acc.len)) == 0)
		rc = pieces_add(next, lossy.data ? lossy.data : "", lossy.len);
	sr_buf_release(&acc);
	sr_buf_release(&lossy);
	return rc;
}

/* ByteFallback: each run of <0xXX> tokens becomes its bytes, or one U+FFFD
 * per byte when they are not valid UTF-8. */
static int dec_bytefallback(const struct pieces *cur, struct pieces *next, int raw)
{
	struct sr_buf acc = { 0 };
	int rc = 0;

	for (size_t i = 0; i < cur->n && rc == 0; i++) {
		if (fallback_byte(PIECE(cur, i), cur->spans[i].len) < 0) {
			rc = pieces_add(next, PIECE(cur, i), cur->spans[i].len);
			continue;
		}
		sr_buf_reset(&acc);
		size_t j = i;
		for (; j < cur->n && rc == 0; j++) {
			int b = fallback_byte(PIECE(cur, j), cur->spans[j].len);
			if (b < 0)
				break;
			char c = (char)b;
			rc = sr_buf_append(&acc, &c, 1);
		}
		if (rc < 0)
			break;
		if (raw || sr_utf8_valid_prefix(acc.data, acc.len) == acc.len)
			rc = pieces_add(next, acc.data, acc.len);
		else
			for (size_t b = 0; b < acc.len && rc == 0; b++)
				rc = pieces_add(next, "\xEF\xBF\xBD", 3);
		i = j - 1;
	}
	sr_buf_release(&acc);
	return rc;
}

static int dec_fuse(const struct pieces *cur, struct pieces *next)
{
	int rc = pieces_add(next, "", 0);
	for (size_t i = 0; i < cur->n && rc == 0; i++)
		rc = pieces_extend(next, PIECE(cur, i), cur->spans[i].len);
	return rc;
}

/* Strip: remove up to start copies of the content from the front of each
 * token and up to stop copies from its end. */
static int dec_strip(const struct dec_step *d, const struct pieces *cur, struct pieces *next)
{
	int rc = 0;
	for (size_t i = 0; i < cur->n && rc == 0; i++) {
		const char *s = PIECE(cur, i);
		size_t len = cur->spans[i].len;
		for (int n = 0; n < d->start && len >= d->content_len &&
		     memcmp(s, d->content, d->content_len) == 0; n++) {
			s += d->content_len;
			len -= d->content_len;
		}
		for (int n = 0; n < d->stop && len >= d->content_len &&
		     memcmp(s + len - d->content_len, d->content, d->content_len) == 0; n++)
			len -= d->content_len;
		rc = pieces_add(next, s, len);
	}
	return rc;
}

/* Replace: every occurrence of the pattern in each token by the content. */
static int dec_replace(const struct dec_step *d, const struct pieces *cur, struct pieces *next)
{
	int rc = 0;
	for (size_t i = 0; i < cur->n && rc == 0; i++) {
		const char *s = PIECE(cur, i);
		size_t len = cur->spans[i].len, p = 0;
		if ((rc = pieces_add(next, "", 0)) < 0)
			break;
		while (p < len && rc == 0) {
			const char *hit = d->pattern_len ?
				memmem(s + p, len - p, d->pattern, d->pattern_len) : NULL;
			size_t upto = hit ? (size_t)(hit - s) : len;
			rc = pieces_extend(next, s + p, upto - p);
			if (hit && rc == 0)
				rc = pieces_extend(next, d->content, d->content_len);
			p = hit ? upto + d->pattern_len : len;
		}
	}
	return rc;
}

/* Run the decoder steps over the token strings in cur, leaving the result
 * in cur. raw keeps invalid UTF-8 as it is. */
static int decode_chain(const struct sr_tokenizer *tok, struct pieces *cur, int raw)
{
	struct pieces next = { 0 };
	int rc = 0;

	for (size_t k = 0; k < tok->n_dec && rc == 0; k++) {
		const struct dec_step *d = &tok->dec[k];
		pieces_clear(&next);
		switch (d->kind) {
		case DEC_BYTELEVEL: rc = dec_bytelevel(cur, &next, raw); break;
		case DEC_BYTEFALLBACK: rc = dec_bytefallback(cur, &next, raw); break;
		case DEC_FUSE: rc = dec_fuse(cur, &next); break;
		case DEC_STRIP: rc = dec_strip(d, cur, &next); break;
		case DEC_REPLACE: rc = dec_replace(d, cur, &next); break;
		}
		struct pieces t = *cur;
		*cur = next;
		next = t;
	}
	pieces_release(&next);
	return rc < 0 ? SR_ENOMEM : 0;
}

int sr_tokenizer_decode(const struct sr_tokenizer *tok, const int32_t *ids, size_t n,
	int flags, struct sr_buf *out, struct sr_error *err)
{
	struct pieces cur = { 0 };
	int rc = 0;

	for (size_t i = 0; i < n; i++) {
		if ((rc = check_id(tok, ids[i], err)) < 0)
			goto done;
		if ((flags & SR_DECODE_SKIP_SPECIAL) && tok->is_special[ids[i]])
			continue;
		if (pieces_add(&cur, tok->tokens[ids[i]], tok->token_len[ids[i]]) < 0) {
			rc = oom(err);
			goto done;
		}
	}
	if (!tok->has_decoder) {
		/* Without a decoder Hugging Face joins the tokens with spaces. */
		for (size_t i = 0; i < cur.n; i++)
			if ((i && sr_buf_puts(out, " ") < 0) ||
			    sr_buf_append(out, cur.text.data + cur.spans[i].off, cur.spans[i].len) < 0) {
				rc = oom(err);
				goto done;
			}
		goto done;
	}
	if ((rc = decode_chain(tok, &cur, (flags & SR_DECODE_RAW) != 0)) < 0) {
		rc = oom(err);
		goto done;
	}
	for (size_t i = 0; i < cur.n; i++) {
		const char *s = cur.text.data + cur.spans[i].off;
		size_t len = cur.spans[i].len;
		if ((flags & SR_DECODE_RAW) ? sr_buf_append(out, s, len) < 0 :
		    append_lossy(out, s, len) < 0) {
			rc = oom(err);
			goto done;
		}
	}
	if (!out->data && sr_buf_append(out, "", 0) < 0)
		rc = oom(err);
done:
	pieces_release(&cur);
	return rc;
}

int sr_tokenizer_token_bytes(const struct sr_tokenizer *tok, int32_t id, struct sr_buf *out,
	struct sr_error *err)
{
	int rc;
	if ((rc = check_id(tok, id, err)) < 0)
		return rc;
	const char *s = tok->tokens[id];
	size_t len = tok->token_len[id];
	if (tok->added_index[id] >= 0)
		return sr_buf_append(out, s, len) < 0 ? oom(err) : 0;
	int b = tok->byte_fallback ? fallback_byte(s, len) : -1;
	if (b >= 0) {
		char c = (char)b;
		return sr_buf_append(out, &c, 1) < 0 ? oom(err) : 0;
	}
	struct pieces cur = { 0 };
	rc = pieces_add(&cur, s, len);
	if (rc == 0 && tok->has_decoder)
		rc = decode_chain(tok, &cur, 1);
	for (size_t i = 0; rc == 0 && i < cur.n; i++)
		rc = sr_buf_append(out, cur.text.data + cur.spans[i].off, cur.spans[i].len);
	pieces_release(&cur);
	return rc < 0 ? oom(err) : 0;
}

/* ---- lookups ---- */

size_t sr_tokenizer_vocab_size(const struct sr_tokenizer *tok)
{
	return tok->n_ids;
}

int32_t sr_tokenizer_token_id(const struct sr_tokenizer *tok, const char *token)
{
	size_t len = strlen(token);
	for (size_t k = 0; k < tok->n_added; k++)
		if (tok->added[k].len == len && memcmp(tok->added[k].content, token, len) == 0)
			return tok->added[k].id;
	return strmap_get(&tok->vocab, token, len);
}

const char *sr_tokenizer_token(const struct sr_tokenizer *tok, int32_t id)
{
	if (id < 0 || (size_t)id >= tok->n_ids)
		return NULL;
	return tok->tokens[id];
}

int sr_tokenizer_is_special(const struct sr_tokenizer *tok, int32_t id)
{
	return id >= 0 && (size_t)id < tok->n_ids && tok->is_special[id];
}

int32_t sr_tokenizer_bos_id(const struct sr_tokenizer *tok) { return tok->bos_id; }
int32_t sr_tokenizer_eos_id(const struct sr_tokenizer *tok) { return tok->eos_id; }
int32_t sr_tokenizer_pad_id(const struct sr_tokenizer *tok) { return tok->pad_id; }

const char *sr_tokenizer_chat_template(const struct sr_tokenizer *tok)
{
	return tok->chat_template;
}
