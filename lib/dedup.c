/* dedup.c - exact (xxh3-128) and near (MinHash + LSH) duplicate index. */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>
#include "dedup.h"
#include "io.h"
#include "normalize.h"
#include "record.h"

#define NONE UINT32_MAX         /* empty slot, end of a chain */
#define MAX_KEPT (UINT32_MAX - 1)
#define INDEX_MAGIC "SRDEDUP\0"
#define INDEX_VERSION 1

/* Exact mode: one open-addressing table of 128-bit hashes. */
struct exact_slot {
	uint64_t h0, h1;
	uint32_t kept;              /* kept record number, NONE when empty */
	uint32_t unused;
};

/* Near mode: per band, a table from the band's 32-bit key to the newest kept
 * record with that key; older ones follow through next[]. */
struct band_slot {
	uint32_t key;
	uint32_t head;
};

struct sr_dedup {
	struct sr_dedup_config cfg;
	char *keyspec;
	int rows;                   /* permutations / bands */
	size_t nkept;

	/* ids of kept records (keep_ids): id i is idbuf[idoff[i] .. idoff[i+1]) */
	char *idbuf;
	size_t idlen, idcap;
	uint64_t *idoff;
	size_t idoffcap;
	char *idout;                /* the id sr_dedup_add returned last */
	size_t idoutcap;

	struct exact_slot *exact;
	size_t exact_mask;          /* slots - 1; slots is a power of two */

	uint64_t *mul, *add;        /* [permutations] hash-function parameters */
	uint32_t *sigs;             /* [nkept][permutations] */
	uint32_t *next;             /* [nkept][bands] chain links */
	size_t sigcap;              /* kept records sigs/next/stamp have room for */
	struct band_slot *btab;     /* [bands][bslots] */
	size_t bslots;              /* per band, power of two */
	uint32_t *stamp;            /* [nkept] last query that visited the record */
	uint32_t query;
};

void sr_dedup_config_init(struct sr_dedup_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->norm = SR_NORM_ALL;
	cfg->shingle = SR_SHINGLE_AUTO;
	cfg->ngram = SR_DEDUP_NGRAM_DEFAULT;
	cfg->permutations = SR_DEDUP_PERMUTATIONS_DEFAULT;
	cfg->bands = SR_DEDUP_BANDS_DEFAULT;
	cfg->threshold = SR_DEDUP_THRESHOLD_DEFAULT;
}

/* A 64-bit finaliser (the one of SplitMix64), for combining hashes. */
static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

int sr_dedup_new(const struct sr_dedup_config *cfg, const char *keyspec, struct sr_dedup **out,
                 struct sr_error *err)
{
	struct sr_dedup *d;

	*out = NULL;
	if (cfg->ngram < 1 || cfg->ngram > 64)
		return sr_fail(err, SR_EUSAGE, "n-gram length %d is out of range (1 to 64)", cfg->ngram);
	if (cfg->near) {
		if (cfg->permutations < 1 || cfg->permutations > 1024)
			return sr_fail(err, SR_EUSAGE, "permutation count %d is out of range (1 to 1024)",
			               cfg->permutations);
		if (cfg->bands < 1 || cfg->permutations % cfg->bands != 0)
			return sr_fail(err, SR_EUSAGE,
			               "band count %d does not divide the permutation count %d",
			               cfg->bands, cfg->permutations);
		if (!(cfg->threshold >= 0 && cfg->threshold <= 1))
			return sr_fail(err, SR_EUSAGE, "threshold %g is out of range (0 to 1)",
			               cfg->threshold);
	}
	d = calloc(1, sizeof *d);
	if (!d)
		return sr_fail(err, SR_ENOMEM, "out of memory");
	d->cfg = *cfg;
	d->keyspec = strdup(keyspec ? keyspec : "");
	if (!d->keyspec)
		goto nomem;

	if (cfg->near) {
		struct sr_rng rng;
		size_t p = (size_t)cfg->permutations;

		d->rows = cfg->permutations / cfg->bands;
		d->mul = malloc(p * sizeof *d->mul);
		d->add = malloc(p * sizeof *d->add);
		if (!d->mul || !d->add)
			goto nomem;
		sr_rng_seed(&rng, cfg->seed);
		for (size_t i = 0; i < p; i++) {
			d->mul[i] = sr_rng_next(&rng) | 1; /* odd, so the multiply is a bijection */
			d->add[i] = sr_rng_next(&rng);
		}
		d->bslots = 1024;
		d->btab = malloc((size_t)cfg->bands * d->bslots * sizeof *d->btab);
		if (!d->btab)
			goto nomem;
		for (size_t i = 0; i < (size_t)cfg->bands * d->bslots; i++)
			d->btab[i].head = NONE;
	} else {
		d->exact_mask = 1023;
		d->exact = malloc((d->exact_mask + 1) * sizeof *d->exact);
		if (!d->exact)
			goto nomem;
		for (size_t i = 0; i <= d->exact_mask; i++)
			d->exact[i].kept = NONE;
	}
	*out = d;
	return 0;

nomem:
	sr_dedup_free(d);
	return sr_fail(err, SR_ENOMEM, "out of memory");
}

void sr_dedup_free(struct sr_dedup *d)
{
	if (!d)
		return;
	free(d->keyspec);
	free(d->idbuf);
	free(d->idoff);
	free(d->idout);
	free(d->exact);
	free(d->mul);
	free(d->add);
	free(d->sigs);
	free(d->next);
	free(d->btab);
	free(d->stamp);
	free(d);
}

size_t sr_dedup_count(const struct sr_dedup *d)
{
	return d->nkept;
}

size_t sr_dedup_memory(const struct sr_dedup *d)
{
	size_t bytes = sizeof *d + d->idcap + d->idoffcap * sizeof *d->idoff;

	if (d->exact)
		bytes += (d->exact_mask + 1) * sizeof *d->exact;
	if (d->cfg.near) {
		size_t p = (size_t)d->cfg.permutations, b = (size_t)d->cfg.bands;
		bytes += 2 * p * sizeof(uint64_t);
		bytes += d->sigcap * (p * sizeof *d->sigs + b * sizeof *d->next + sizeof *d->stamp);
		bytes += b * d->bslots * sizeof *d->btab;
	}
	return bytes;
}

/* ---- fingerprints ---- */

void sr_dedup_print_release(struct sr_dedup_print *fp)
{
	if (!fp)
		return;
	free(fp->sig);
	fp->sig = NULL;
}

static int grow_u64(uint64_t **arr, size_t *cap, size_t need)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap : 64;
	while (n < need)
		n *= 2;
	uint64_t *p = realloc(*arr, n * sizeof *p);
	if (!p)
		return SR_ENOMEM;
	*arr = p;
	*cap = n;
	return 0;
}

static int word_byte(unsigned char c)
{
	return !(c == ' ' || (c >= 0x09 && c <= 0x0D) || c == 0x1F);
}

/* Hash each word n-gram of text into *h. A text of fewer than n words
 * gives one n-gram of all its words; an empty text gives none. */
static int word_shingles(const char *text, size_t len, int n, uint64_t **h, size_t *cap,
                         size_t *count)
{
	size_t nw = 0, i = 0;

	/* First pass: one hash per word, stored from the start of *h. */
	while (i < len) {
		while (i < len && !word_byte((unsigned char)text[i]))
			i++;
		if (i == len)
			break;
		size_t start = i;
		while (i < len && word_byte((unsigned char)text[i]))
			i++;
		if (grow_u64(h, cap, nw + 1) < 0)
			return SR_ENOMEM;
		(*h)[nw++] = XXH3_64bits(text + start, i - start);
	}
	if (nw == 0) {
		*count = 0;
		return 0;
	}
	/* Second pass, in place: n-gram j combines words j .. j+n-1, which are
	 * not yet overwritten when n-gram j is written. */
	size_t ngrams = nw >= (size_t)n ? nw - (size_t)n + 1 : 1;
	size_t width = nw >= (size_t)n ? (size_t)n : nw;
	for (size_t j = 0; j < ngrams; j++) {
		uint64_t acc = 0x9e3779b97f4a7c15ULL;
		for (size_t k = 0; k < width; k++)
			acc = mix64(acc ^ (*h)[j + k]);
		(*h)[j] = acc;
	}
	*count = ngrams;
	return 0;
}

/* Decode one code point; invalid bytes count as themselves. */
static size_t next_cp(const unsigned char *s, size_t len, uint32_t *cp)
{
	unsigned char c = s[0];
	size_t n = 1;
	uint32_t v = c;

	if (c >= 0xC0 && c < 0xE0) {
		n = 2;
		v = c & 0x1Fu;
	} else if (c >= 0xE0 && c < 0xF0) {
		n = 3;
		v = c & 0x0Fu;
	} else if (c >= 0xF0 && c < 0xF8) {
		n = 4;
		v = c & 0x07u;
	}
	if (n > len) {
		n = 1;
		v = c;
	}
	for (size_t k = 1; k < n; k++)
		v = (v << 6) | (s[k] & 0x3Fu);
	*cp = v;
	return n;
}

/* Hash each n-gram of code points, white space left out. */
static int char_shingles(const char *text, size_t len, int n, uint64_t **h, size_t *cap,
                         size_t *count)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t nc = 0, i = 0;

	while (i < len) {
		uint32_t cp;
		i += next_cp(s + i, len - i, &cp);
		if (cp < 0x80 && !word_byte((unsigned char)cp))
			continue;
		if (cp == 0x3000)
			continue;
		if (grow_u64(h, cap, nc + 1) < 0)
			return SR_ENOMEM;
		(*h)[nc++] = mix64(cp + 0x100000000ULL);
	}
	if (nc == 0) {
		*count = 0;
		return 0;
	}
	size_t ngrams = nc >= (size_t)n ? nc - (size_t)n + 1 : 1;
	size_t width = nc >= (size_t)n ? (size_t)n : nc;
	for (size_t j = 0; j < ngrams; j++) {
		uint64_t acc = 0x2545f4914f6cdd1dULL;
		for (size_t k = 0; k < width; k++)
			acc = mix64(acc ^ (*h)[j + k]);
		(*h)[j] = acc;
	}
	*count = ngrams;
	return 0;
}

/* Per-thread scratch space of the fingerprint functions. */
struct scratch {
	uint64_t *h;
	size_t cap;
};

static int fingerprint(const struct sr_dedup *d, const char *text, size_t len,
                       struct sr_dedup_print *fp, struct sr_buf *norm, struct scratch *sc,
                       struct sr_error *err)
{
	int rc = sr_normalize(text, len, d->cfg.norm, norm, err);

	fp->error = 0;
	if (rc < 0) {
		fp->error = rc;
		return rc;
	}
	const char *t = norm->data ? norm->data : "";
	size_t tlen = norm->len;

	if (!d->cfg.near) {
		XXH128_hash_t h = XXH3_128bits(t, tlen);
		fp->hash[0] = h.low64;
		fp->hash[1] = h.high64;
		return 0;
	}

	size_t p = (size_t)d->cfg.permutations, count;
	if (!fp->sig && !(fp->sig = malloc(p * sizeof *fp->sig))) {
		fp->error = SR_ENOMEM;
		return sr_fail(err, SR_ENOMEM, "out of memory");
	}
	fp->unspaced = d->cfg.shingle == SR_SHINGLE_CHAR ||
	               (d->cfg.shingle == SR_SHINGLE_AUTO && sr_text_is_unspaced(t, tlen));
	rc = fp->unspaced ? char_shingles(t, tlen, d->cfg.ngram, &sc->h, &sc->cap, &count)
	                  : word_shingles(t, tlen, d->cfg.ngram, &sc->h, &sc->cap, &count);
	if (rc < 0) {
		fp->error = rc;
		return sr_fail(err, rc, "out of memory");
	}

	/* MinHash: permutation i maps an n-gram hash x to the high 32 bits of
	 * mul[i] * x + add[i] (multiply-shift hashing); the signature keeps
	 * the minimum over the n-grams. */
	uint32_t *sig = fp->sig;
	const uint64_t *mul = d->mul, *add = d->add;
	for (size_t i = 0; i < p; i++)
		sig[i] = UINT32_MAX;
	for (size_t j = 0; j < count; j++) {
		uint64_t x = sc->h[j];
		for (size_t i = 0; i < p; i++) {
			uint32_t v = (uint32_t)((mul[i] * x + add[i]) >> 32);
			sig[i] = v < sig[i] ? v : sig[i];
		}
	}
	return 0;
}

int sr_dedup_fingerprint(const struct sr_dedup *d, const char *text, size_t len,
                         struct sr_dedup_print *fp, struct sr_buf *scratch, struct sr_error *err)
{
	struct scratch sc = {0};
	int rc = fingerprint(d, text, len, fp, scratch, &sc, err);

	free(sc.h);
	return rc;
}

/* Work shared by the fingerprinting threads: each takes the next chunk of
 * records until none is left. */
struct batch_job {
	const struct sr_dedup *d;
	const char *const *texts;
	const size_t *lens;
	struct sr_dedup_print *fp;
	size_t n;
	atomic_size_t next;
	atomic_int failed;
};

#define CHUNK 32

static void *batch_worker(void *arg)
{
	struct batch_job *job = arg;
	struct sr_buf norm = {0};
	struct scratch sc = {0};

	for (;;) {
		size_t start = atomic_fetch_add(&job->next, CHUNK);
		if (start >= job->n)
			break;
		size_t end = start + CHUNK < job->n ? start + CHUNK : job->n;
		for (size_t i = start; i < end; i++) {
			fingerprint(job->d, job->texts[i], job->lens[i], &job->fp[i], &norm, &sc, NULL);
			if (job->fp[i].error == SR_ENOMEM)
				atomic_store(&job->failed, 1);
		}
	}
	sr_buf_release(&norm);
	free(sc.h);
	return NULL;
}

int sr_dedup_fingerprint_batch(const struct sr_dedup *d, const char *const *texts,
                               const size_t *lens, size_t n, struct sr_dedup_print *fp,
                               int threads)
{
	struct batch_job job = {d, texts, lens, fp, n, 0, 0};
	pthread_t tid[256];
	int started = 0;

	if (threads <= 0)
		threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (threads <= 0)
		threads = 1;
	if (threads > 256)
		threads = 256;
	/* Fewer threads than chunks of work would leave some idle. */
	if ((size_t)threads > n / CHUNK + 1)
		threads = (int)(n / CHUNK + 1);

	/* Threads are started per batch rather than kept waiting, so nothing
	 * spins while the caller reads the next batch. The caller's thread
	 * works too, and carries on alone if a thread cannot be started. */
	for (int t = 1; t < threads; t++) {
		if (pthread_create(&tid[started], NULL, batch_worker, &job) != 0)
			break;
		started++;
	}
	batch_worker(&job);
	for (int t = 0; t < started; t++)
		pthread_join(tid[t], NULL);
	return atomic_load(&job.failed) ? SR_ENOMEM : 0;
}

/* ---- the index ---- */

static int store_id(struct sr_dedup *d, const char *id, size_t idlen)
{
	if (!d->cfg.keep_ids)
		return 0;
	if (d->idoffcap < d->nkept + 2) {
		size_t n = d->idoffcap ? d->idoffcap * 2 : 1024;
		uint64_t *p = realloc(d->idoff, n * sizeof *p);
		if (!p)
			return SR_ENOMEM;
		d->idoff = p;
		d->idoffcap = n;
		if (d->nkept == 0)
			d->idoff[0] = 0;
	}
	if (d->idlen + idlen > d->idcap) {
		size_t n = d->idcap ? d->idcap : 65536;
		while (n < d->idlen + idlen)
			n *= 2;
		char *p = realloc(d->idbuf, n);
		if (!p)
			return SR_ENOMEM;
		d->idbuf = p;
		d->idcap = n;
	}
	memcpy(d->idbuf + d->idlen, id, idlen);
	d->idlen += idlen;
	d->idoff[d->nkept + 1] = d->idlen;
	return 0;
}

/* The id of kept record k as a NUL-terminated string, in a buffer of d
 * that the next call reuses. */
static const char *kept_id(const struct sr_dedup *cd, uint32_t k, size_t *len)
{
	struct sr_dedup *d = (struct sr_dedup *)cd; /* only the output buffer changes */

	*len = 0;
	if (!d->cfg.keep_ids)
		return "";
	size_t off = (size_t)d->idoff[k], n = (size_t)d->idoff[k + 1] - off;
	if (n + 1 > d->idoutcap) {
		char *p = realloc(d->idout, n + 1);
		if (!p)
			return NULL;
		d->idout = p;
		d->idoutcap = n + 1;
	}
	memcpy(d->idout, d->idbuf + off, n);
	d->idout[n] = '\0';
	*len = n;
	return d->idout;
}

static int exact_grow(struct sr_dedup *d)
{
	size_t nslots = (d->exact_mask + 1) * 2;
	struct exact_slot *t = malloc(nslots * sizeof *t);

	if (!t)
		return SR_ENOMEM;
	for (size_t i = 0; i < nslots; i++)
		t[i].kept = NONE;
	for (size_t i = 0; i <= d->exact_mask; i++) {
		if (d->exact[i].kept == NONE)
			continue;
		size_t j = d->exact[i].h0 & (nslots - 1);
		while (t[j].kept != NONE)
			j = (j + 1) & (nslots - 1);
		t[j] = d->exact[i];
	}
	free(d->exact);
	d->exact = t;
	d->exact_mask = nslots - 1;
	return 0;
}

/* Find hash (h0, h1): returns the kept record number, or NONE with *slot
 * set to the empty slot where it belongs. */
static uint32_t exact_find(const struct sr_dedup *d, uint64_t h0, uint64_t h1, size_t *slot)
{
	size_t j = h0 & d->exact_mask;

	while (d->exact[j].kept != NONE) {
		if (d->exact[j].h0 == h0 && d->exact[j].h1 == h1)
			return d->exact[j].kept;
		j = (j + 1) & d->exact_mask;
	}
	*slot = j;
	return NONE;
}

static int exact_add(struct sr_dedup *d, const struct sr_dedup_print *fp, const char *id,
                     size_t idlen, uint32_t *found)
{
	size_t slot;

	*found = exact_find(d, fp->hash[0], fp->hash[1], &slot);
	if (*found != NONE)
		return 0;
	/* Keep the table at most 3/4 full. */
	if ((d->nkept + 1) * 4 > (d->exact_mask + 1) * 3) {
		if (exact_grow(d) < 0)
			return SR_ENOMEM;
		exact_find(d, fp->hash[0], fp->hash[1], &slot);
	}
	if (store_id(d, id, idlen) < 0)
		return SR_ENOMEM;
	d->exact[slot].h0 = fp->hash[0];
	d->exact[slot].h1 = fp->hash[1];
	d->exact[slot].kept = (uint32_t)d->nkept;
	d->nkept++;
	return 0;
}

/* The 32-bit key of band b of a signature, computed from its values in
 * little-endian order so that it is the same on every machine. */
static uint32_t band_key(const struct sr_dedup *d, const uint32_t *sig, int b)
{
	unsigned char buf[4 * 1024];
	size_t r = (size_t)d->rows;
	const uint32_t *v = sig + (size_t)b * r;

	for (size_t i = 0; i < r; i++) {
		buf[4 * i] = (unsigned char)v[i];
		buf[4 * i + 1] = (unsigned char)(v[i] >> 8);
		buf[4 * i + 2] = (unsigned char)(v[i] >> 16);
		buf[4 * i + 3] = (unsigned char)(v[i] >> 24);
	}
	uint64_t h = XXH3_64bits_withSeed(buf, 4 * r, (uint64_t)b);
	return (uint32_t)(h ^ (h >> 32));
}

static struct band_slot *band_find(const struct sr_dedup *d, int b, uint32_t key)
{
	struct band_slot *t = d->btab + (size_t)b * d->bslots;
	size_t mask = d->bslots - 1;
	size_t j = mix64(key) & mask;

	while (t[j].head != NONE && t[j].key != key)
		j = (j + 1) & mask;
	return &t[j];
}

static int band_grow(struct sr_dedup *d)
{
	size_t nb = (size_t)d->cfg.bands, old = d->bslots, nslots = old * 2;
	struct band_slot *t = malloc(nb * nslots * sizeof *t), *prev = d->btab;

	if (!t)
		return SR_ENOMEM;
	for (size_t i = 0; i < nb * nslots; i++)
		t[i].head = NONE;
	d->btab = t;
	d->bslots = nslots;
	for (size_t b = 0; b < nb; b++)
		for (size_t i = 0; i < old; i++) {
			struct band_slot *s = prev + b * old + i;
			if (s->head != NONE)
				*band_find(d, (int)b, s->key) = *s;
		}
	free(prev);
	return 0;
}

static int near_reserve(struct sr_dedup *d)
{
	size_t p = (size_t)d->cfg.permutations, nb = (size_t)d->cfg.bands;

	if (d->nkept + 1 > d->sigcap) {
		size_t n = d->sigcap ? d->sigcap * 2 : 1024;
		uint32_t *s = realloc(d->sigs, n * p * sizeof *s);
		if (!s)
			return SR_ENOMEM;
		d->sigs = s;
		uint32_t *x = realloc(d->next, n * nb * sizeof *x);
		if (!x)
			return SR_ENOMEM;
		d->next = x;
		uint32_t *st = realloc(d->stamp, n * sizeof *st);
		if (!st)
			return SR_ENOMEM;
		memset(st + d->sigcap, 0, (n - d->sigcap) * sizeof *st);
		d->stamp = st;
		d->sigcap = n;
	}
	/* Each band holds at most one key per kept record: keep tables at most
	 * half full. */
	if ((d->nkept + 1) * 2 > d->bslots && band_grow(d) < 0)
		return SR_ENOMEM;
	return 0;
}

static int near_insert(struct sr_dedup *d, const uint32_t *sig, const char *id, size_t idlen)
{
	size_t p = (size_t)d->cfg.permutations, nb = (size_t)d->cfg.bands;
	uint32_t k = (uint32_t)d->nkept;

	if (near_reserve(d) < 0 || store_id(d, id, idlen) < 0)
		return SR_ENOMEM;
	memcpy(d->sigs + (size_t)k * p, sig, p * sizeof *sig);
	d->stamp[k] = 0;
	for (size_t b = 0; b < nb; b++) {
		uint32_t key = band_key(d, sig, (int)b);
		struct band_slot *s = band_find(d, (int)b, key);
		d->next[(size_t)k * nb + b] = s->head; /* NONE for a new key */
		s->key = key;
		s->head = k;
	}
	d->nkept++;
	return 0;
}

/* Find the kept record most similar to sig among its LSH candidates whose
 * estimated Jaccard similarity reaches the threshold; ties go to the
 * earliest. Returns NONE when there is none. */
static uint32_t near_find(struct sr_dedup *d, const uint32_t *sig, double *similarity)
{
	size_t p = (size_t)d->cfg.permutations, nb = (size_t)d->cfg.bands;
	uint32_t best = NONE;
	size_t best_eq = 0;
	/* Smallest count of equal values that reaches the threshold. */
	size_t need = (size_t)ceil(d->cfg.threshold * (double)p - 1e-9);

	if (++d->query == 0) {
		memset(d->stamp, 0, d->sigcap * sizeof *d->stamp);
		d->query = 1;
	}
	for (size_t b = 0; b < nb && d->nkept > 0; b++) {
		struct band_slot *s = band_find(d, (int)b, band_key(d, sig, (int)b));
		for (uint32_t k = s->head; k != NONE; k = d->next[(size_t)k * nb + b]) {
			if (d->stamp[k] == d->query)
				continue;
			d->stamp[k] = d->query;
			const uint32_t *other = d->sigs + (size_t)k * p;
			size_t eq = 0;
			for (size_t i = 0; i < p; i++)
				eq += other[i] == sig[i];
			if (eq < need)
				continue;
			if (best == NONE || eq > best_eq || (eq == best_eq && k < best)) {
				best = k;
				best_eq = eq;
			}
		}
	}
	if (best != NONE)
		*similarity = (double)best_eq / (double)p;
	return best;
}

int sr_dedup_add(struct sr_dedup *d, const struct sr_dedup_print *fp, const char *id,
                 size_t idlen, struct sr_dedup_match *match, struct sr_error *err)
{
	uint32_t found;
	size_t len;

	if (d->nkept >= MAX_KEPT)
		return sr_fail(err, SR_ETOOBIG, "more than %lu distinct records", (unsigned long)MAX_KEPT);
	if (!d->cfg.near) {
		if (exact_add(d, fp, id, idlen, &found) < 0)
			return sr_fail(err, SR_ENOMEM, "out of memory");
		match->similarity = 1.0;
	} else {
		found = near_find(d, fp->sig, &match->similarity);
		if (found == NONE && near_insert(d, fp->sig, id, idlen) < 0)
			return sr_fail(err, SR_ENOMEM, "out of memory");
	}
	if (found == NONE)
		return 0;
	match->kept = found;
	match->id = kept_id(d, found, &len);
	return match->id ? 1 : sr_fail(err, SR_ENOMEM, "out of memory");
}

/* ---- saved indexes ---- */

/* Serialisation helpers: little-endian integers. */
static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *p)
{
	uint32_t v = 0;
	for (int i = 0; i < 4; i++)
		v |= (uint32_t)p[i] << (8 * i);
	return v;
}

static uint64_t get64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* Writes through the output while hashing every byte for the trailer. */
struct index_writer {
	struct sr_output *out;
	XXH3_state_t *hash;
	struct sr_error *err;
};

static int iw_write(struct index_writer *w, const void *data, size_t len)
{
	XXH3_64bits_update(w->hash, data, len);
	return sr_output_write(w->out, data, len, w->err);
}

/* The header: magic, version, then the parameters that must match for an
 * index to be usable, then the record count. */
static size_t header_encode(const struct sr_dedup *d, unsigned char *h, uint64_t count)
{
	memcpy(h, INDEX_MAGIC, 8);
	put32(h + 8, INDEX_VERSION);
	put32(h + 12, (uint32_t)d->cfg.near);
	put32(h + 16, d->cfg.norm);
	put32(h + 20, (uint32_t)d->cfg.shingle);
	put32(h + 24, (uint32_t)d->cfg.ngram);
	put32(h + 28, (uint32_t)d->cfg.permutations);
	put64(h + 32, d->cfg.seed);
	put64(h + 40, count);
	put32(h + 48, (uint32_t)strlen(d->keyspec));
	return 52;
}

int sr_dedup_save(const struct sr_dedup *d, const char *path, struct sr_error *err)
{
	struct index_writer w = {NULL, NULL, err};
	unsigned char head[64], num[8];
	size_t p = (size_t)d->cfg.permutations;
	int rc;

	if (!d->cfg.keep_ids)
		return sr_fail(err, SR_EUSAGE, "the index was built without ids");
	w.hash = XXH3_createState();
	if (!w.hash)
		return sr_fail(err, SR_ENOMEM, "out of memory");
	XXH3_64bits_reset(w.hash);
	rc = sr_output_open(path, SR_OUTPUT_ATOMIC, &w.out, err);
	if (rc < 0)
		goto done;

	size_t hlen = header_encode(d, head, d->nkept);
	if ((rc = iw_write(&w, head, hlen)) < 0 ||
	    (rc = iw_write(&w, d->keyspec, strlen(d->keyspec))) < 0)
		goto done;

	unsigned char *entry = malloc(16 + 4 * p);
	if (!entry) {
		rc = sr_fail(err, SR_ENOMEM, "out of memory");
		goto done;
	}
	/* Exact entries in kept order, so a reload gives the same numbering. */
	uint64_t *order = NULL;
	if (!d->cfg.near) {
		order = malloc((d->nkept + 1) * 2 * sizeof *order);
		if (!order) {
			free(entry);
			rc = sr_fail(err, SR_ENOMEM, "out of memory");
			goto done;
		}
		for (size_t i = 0; i <= d->exact_mask; i++) {
			uint32_t k = d->exact[i].kept;
			if (k != NONE) {
				order[2 * k] = d->exact[i].h0;
				order[2 * k + 1] = d->exact[i].h1;
			}
		}
	}
	for (size_t k = 0; k < d->nkept && rc == 0; k++) {
		size_t elen, idlen;
		const char *id = kept_id(d, (uint32_t)k, &idlen);
		if (!id) {
			rc = sr_fail(err, SR_ENOMEM, "out of memory");
			break;
		}

		if (d->cfg.near) {
			const uint32_t *sig = d->sigs + k * p;
			for (size_t i = 0; i < p; i++)
				put32(entry + 4 * i, sig[i]);
			elen = 4 * p;
		} else {
			put64(entry, order[2 * k]);
			put64(entry + 8, order[2 * k + 1]);
			elen = 16;
		}
		put32(num, (uint32_t)idlen);
		if ((rc = iw_write(&w, entry, elen)) < 0 || (rc = iw_write(&w, num, 4)) < 0 ||
		    (rc = iw_write(&w, id, idlen)) < 0)
			break;
	}
	free(order);
	free(entry);
	if (rc == 0) {
		put64(num, XXH3_64bits_digest(w.hash));
		rc = sr_output_write(w.out, num, 8, err);
	}
	if (rc == 0)
		rc = sr_output_commit(w.out, err);
done:
	sr_output_free(w.out);
	XXH3_freeState(w.hash);
	return rc;
}

static int check_param(struct sr_error *err, const char *path, const char *what, uint64_t have,
                       uint64_t want)
{
	if (have == want)
		return 0;
	return sr_fail(err, SR_EUSAGE, "index '%s' was built with %s %llu, not %llu", path, what,
	               (unsigned long long)have, (unsigned long long)want);
}

int sr_dedup_load(struct sr_dedup *d, const char *path, struct sr_error *err)
{
	char *data = NULL;
	size_t len, p = (size_t)d->cfg.permutations;
	unsigned char want[64];
	int rc;

	rc = sr_read_file(path, SIZE_MAX / 2, &data, &len, err);
	if (rc < 0)
		return rc;
	const unsigned char *s = (const unsigned char *)data;
	if (len < 52 + 8 || memcmp(s, INDEX_MAGIC, 8) != 0) {
		rc = sr_fail(err, SR_EDATA, "'%s' is not an sr-dedup index", path);
		goto done;
	}
	if (get64(s + len - 8) != XXH3_64bits(s, len - 8)) {
		rc = sr_fail(err, SR_EDATA, "index '%s' is corrupt (checksum mismatch)", path);
		goto done;
	}
	header_encode(d, want, 0);
	if (get32(s + 8) != INDEX_VERSION) {
		rc = sr_fail(err, SR_EUSAGE, "index '%s' has format version %u, but this sr-dedup reads "
		             "version %u (rebuild it with --save-index)", path, get32(s + 8), INDEX_VERSION);
		goto done;
	}
	if (get32(s + 12) != (uint32_t)d->cfg.near) {
		rc = sr_fail(err, SR_EUSAGE, get32(s + 12)
		             ? "index '%s' was built with --near, but this run compares exactly (add --near)"
		             : "index '%s' was built without --near, but this run uses --near (drop it)",
		             path);
		goto done;
	}
	if (get32(s + 16) != d->cfg.norm) {
		char have[64], used[64];
		sr_norm_format(get32(s + 16), have, sizeof have);
		sr_norm_format(d->cfg.norm, used, sizeof used);
		rc = sr_fail(err, SR_EUSAGE, "index '%s' was built with --normalize %s, not %s", path,
		             have, used);
		goto done;
	}
	static const char *const shingle_names[] = {"auto", "word", "char"};
	uint32_t shingle = get32(s + 20);
	if (d->cfg.near && shingle != (uint32_t)d->cfg.shingle) {
		rc = sr_fail(err, SR_EUSAGE, "index '%s' was built with --shingle %s, not %s", path,
		             shingle < 3 ? shingle_names[shingle] : "(unknown)",
		             shingle_names[d->cfg.shingle]);
		goto done;
	}
	if (d->cfg.near &&
	    ((rc = check_param(err, path, "--ngram", get32(s + 24), get32(want + 24))) < 0 ||
	     (rc = check_param(err, path, "--permutations", get32(s + 28), p)) < 0 ||
	     (rc = check_param(err, path, "--seed", get64(s + 32), d->cfg.seed)) < 0))
		goto done;

	uint64_t count = get64(s + 40);
	size_t klen = get32(s + 48), off = 52;
	if (klen > len - 8 - off) {
		rc = sr_fail(err, SR_EDATA, "index '%s' is truncated", path);
		goto done;
	}
	if (klen != strlen(d->keyspec) || memcmp(s + off, d->keyspec, klen) != 0) {
		rc = sr_fail(err, SR_EUSAGE, "index '%s' was built with --key '%.*s', not '%s'", path,
		             (int)klen, (const char *)s + off, d->keyspec);
		goto done;
	}
	off += klen;

	struct sr_dedup_print fp = {{0, 0}, NULL, 0, 0};
	size_t elen = d->cfg.near ? 4 * p : 16;
	if (d->cfg.near && !(fp.sig = malloc(p * sizeof *fp.sig))) {
		rc = sr_fail(err, SR_ENOMEM, "out of memory");
		goto done;
	}
	for (uint64_t k = 0; k < count; k++) {
		if (len - 8 - off < elen + 4) {
			rc = sr_fail(err, SR_EDATA, "index '%s' is truncated", path);
			break;
		}
		const unsigned char *e = s + off;
		size_t idlen = get32(e + elen);
		if (len - 8 - off - elen - 4 < idlen) {
			rc = sr_fail(err, SR_EDATA, "index '%s' is truncated", path);
			break;
		}
		const char *id = (const char *)e + elen + 4;
		off += elen + 4 + idlen;
		if (d->nkept >= MAX_KEPT) {
			rc = sr_fail(err, SR_ETOOBIG, "more than %lu distinct records",
			             (unsigned long)MAX_KEPT);
			break;
		}
		if (d->cfg.near) {
			for (size_t i = 0; i < p; i++)
				fp.sig[i] = get32(e + 4 * i);
			if (near_insert(d, fp.sig, id, idlen) < 0)
				rc = sr_fail(err, SR_ENOMEM, "out of memory");
		} else {
			uint32_t found;
			fp.hash[0] = get64(e);
			fp.hash[1] = get64(e + 8);
			if (exact_add(d, &fp, id, idlen, &found) < 0)
				rc = sr_fail(err, SR_ENOMEM, "out of memory");
		}
		if (rc < 0)
			break;
	}
	if (rc == 0 && off != len - 8)
		rc = sr_fail(err, SR_EDATA, "index '%s' has trailing bytes", path);
	free(fp.sig);
done:
	free(data);
	return rc;
}

/* ---- keys ---- */

/* Decode the next reference token of a JSON Pointer (RFC 6901) from *p
 * into tok, undoing ~1 and ~0. Returns -1 for an invalid escape. */
static int pointer_token(const char **p, struct sr_buf *tok)
{
	const char *s = *p;

	sr_buf_reset(tok);
	while (*s && *s != '/') {
		char c = *s++;
		if (c == '~') {
			if (*s != '0' && *s != '1')
				return -1;
			c = *s++ == '0' ? '~' : '/';
		}
		if (sr_buf_append(tok, &c, 1) < 0)
			return SR_ENOMEM;
	}
	if (sr_buf_append(tok, "", 0) < 0)
		return SR_ENOMEM;
	*p = s;
	return 0;
}

/* Array index token: digits without a leading zero. */
static int array_index(const char *tok, size_t *index)
{
	size_t v = 0;

	if (!*tok || (tok[0] == '0' && tok[1]))
		return -1;
	for (; *tok; tok++) {
		if (*tok < '0' || *tok > '9' || v > (SIZE_MAX - 9) / 10)
			return -1;
		v = v * 10 + (size_t)(*tok - '0');
	}
	*index = v;
	return 0;
}

/* The helpers below walk the raw bytes of a member's value, which
 * sr_record_parse has validated, so that a key is built from the number
 * texts of the input: 12345678901234567891 or 1.0000000000000001 would
 * lose digits on their way through a double. */

static int is_json_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static const char *skip_space(const char *p, const char *end)
{
	while (p < end && is_json_space(*p))
		p++;
	return p;
}

/* End of the string whose opening quote is at p. */
static const char *string_end(const char *p, const char *end)
{
	for (p++; p < end && *p != '"'; p++)
		if (*p == '\\')
			p++;
	return p < end ? p + 1 : end;
}

/* End of the value that starts at p. */
static const char *value_end(const char *p, const char *end)
{
	size_t depth = 0;

	if (*p != '"' && *p != '{' && *p != '[') {
		while (p < end && !is_json_space(*p) && *p != ',' && *p != '}' && *p != ']')
			p++;
		return p;
	}
	while (p < end) {
		if (*p == '"') {
			p = string_end(p, end);
		} else {
			if (*p == '{' || *p == '[')
				depth++;
			else if (*p == '}' || *p == ']')
				depth--;
			p++;
		}
		if (depth == 0)
			break;
	}
	return p;
}

/* Return 1 when the string token [s, e) (quotes included) decodes to the
 * bytes of name, 0 when not, SR_ENOMEM. */
static int string_equals(const char *s, const char *e, const struct sr_buf *name)
{
	if (!memchr(s, '\\', (size_t)(e - s)))
		return (size_t)(e - s) - 2 == name->len && memcmp(s + 1, name->data, name->len) == 0;
	json_t *v = sr_json_parse(s, (size_t)(e - s), NULL);
	if (!v)
		return SR_ENOMEM;
	int eq = json_string_length(v) == name->len &&
	         memcmp(json_string_value(v), name->data, name->len) == 0;
	json_decref(v);
	return eq;
}

/* Narrow the value [*s, *e) to its member or element named by tok. Returns
 * 1 when found, 0 when absent, SR_ENOMEM. Of repeated member names the
 * last one counts, as when jansson parses the object. */
static int raw_child(const char **s, const char **e, const struct sr_buf *tok)
{
	const char *p = *s, *end = *e;
	size_t index = 0, want = 0;
	int found = 0, is_object = *p == '{';

	if (*p != '{' && *p != '[')
		return 0;
	if (!is_object && array_index(tok->data, &want) != 0)
		return 0;
	p = skip_space(p + 1, end);
	while (p < end && *p != '}' && *p != ']') {
		int match;
		if (is_object) {
			const char *k = p;
			p = string_end(p, end);
			match = string_equals(k, p, tok);
			if (match < 0)
				return match;
			p = skip_space(p, end) + 1; /* the colon */
			p = skip_space(p, end);
		} else {
			match = index++ == want;
		}
		const char *v = p;
		p = value_end(p, end);
		if (match) {
			*s = v;
			*e = p;
			found = 1;
			if (!is_object)
				return 1;
		}
		p = skip_space(p, end);
		if (p < end && *p == ',')
			p = skip_space(p + 1, end);
	}
	return found;
}

/* Append the key text of the raw value [s, e): a string's decoded text, or
 * any other value with the white space between its tokens removed. Number
 * texts are kept as they are. Strings inside are written as sr_json_append
 * writes them, so that "\u00e9" and "é" still compare equal. */
static int append_raw_value(const char *s, const char *e, struct sr_buf *out)
{
	int top_string = *s == '"';

	while (s < e) {
		const char *run = s;
		while (s < e && *s != '"' && !is_json_space(*s))
			s++;
		if (sr_buf_append(out, run, (size_t)(s - run)) < 0)
			return SR_ENOMEM;
		if (s < e && *s == '"') {
			const char *q = string_end(s, e);
			long r;
			if (!memchr(s, '\\', (size_t)(q - s))) {
				r = top_string ? sr_buf_append(out, s + 1, (size_t)(q - s) - 2)
				               : sr_buf_append(out, s, (size_t)(q - s));
			} else {
				json_t *v = sr_json_parse(s, (size_t)(q - s), NULL);
				if (!v)
					return SR_ENOMEM;
				r = top_string ? sr_buf_append(out, json_string_value(v), json_string_length(v))
				               : sr_json_append(v, &out->data, &out->len, &out->cap);
				json_decref(v);
				/* sr_json_append leaves no terminating NUL. */
				if (r >= 0)
					r = sr_buf_append(out, "", 0);
			}
			if (r < 0)
				return SR_ENOMEM;
			s = q;
		}
		s = skip_space(s, e);
	}
	return 0;
}

int sr_dedup_key_append(struct sr_record *rec, const char *key, struct sr_buf *out,
                        struct sr_error *err)
{
	struct sr_buf tok = {0};
	const char *p = key, *name = key, *s, *e;
	char *dump = NULL;
	size_t n;
	int rc;

	if (key[0] == '/') {
		p = key + 1;
		if ((rc = pointer_token(&p, &tok)) != 0)
			goto bad_pointer;
		name = tok.data;
	}
	s = sr_record_raw(rec, name, &n);
	if (!s && sr_record_has(rec, name)) {
		/* A member set since parsing has no input bytes: walk its
		 * serialisation instead. */
		dump = sr_json_dumps(sr_record_get(rec, name));
		if (!dump)
			goto nomem;
		s = dump;
		n = strlen(dump);
	}
	if (!s)
		goto missing;
	e = s + n;
	while (key[0] == '/' && *p == '/') {
		p++;
		if ((rc = pointer_token(&p, &tok)) != 0)
			goto bad_pointer;
		rc = raw_child(&s, &e, &tok);
		if (rc < 0)
			goto nomem;
		if (rc == 0)
			goto missing;
	}
	/* A number or literal is marked so that normalisation keeps it as it
	 * is: punctuation folding would make -5 and 5, or 1.5 and 15, equal.
	 * A string that starts with the mark gets a second one, so the two
	 * never meet. NOTE: objects and arrays are still normalised as text,
	 * so punctuation folding makes [1,2] and [12] equal. */
	size_t at = out->len;
	if (*s != '"' && *s != '{' && *s != '[' && sr_buf_append(out, "\x1e", 1) < 0)
		goto nomem;
	if (append_raw_value(s, e, out) < 0)
		goto nomem;
	if (*s == '"' && out->len > at && out->data[at] == '\x1e') {
		if (sr_buf_append(out, "", 1) < 0)
			goto nomem;
		memmove(out->data + at + 1, out->data + at, out->len - at - 1);
		out->data[out->len] = '\0';
	}
	rc = 0;
	goto done;

missing:
	rc = sr_fail(err, SR_ENOTFOUND, "missing key");
	if (err)
		snprintf(err->field, sizeof err->field, "%s", key);
	goto done;
bad_pointer:
	if (rc == SR_ENOMEM)
		goto nomem;
	rc = sr_fail(err, SR_EUSAGE, "invalid JSON Pointer '%s' (use ~0 for ~ and ~1 for /)", key);
	goto done;
nomem:
	rc = sr_fail(err, SR_ENOMEM, "out of memory");
done:
	free(dump);
	sr_buf_release(&tok);
	return rc;
}
