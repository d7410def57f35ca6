/*
 * mix.c - training-example formats, quota selection, the seeded shuffle and
 * the grouped, stratified validation split. See mix.h.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xxhash.h>

#include "mix.h"

/* Size of the buffer that collects spill bytes into large writes. glibc's
 * stdio ignores the size given to setvbuf without a buffer and writes 4 KiB
 * at a time (one system call per page), so the mixer keeps its own. */
#define SPILL_WRITE_BYTES ((size_t)1 << 20)

/* Largest example sr_mix_add accepts (the entry stores a 32-bit length). */
#define LINE_MAX_BYTES ((size_t)UINT32_MAX)
/* Seeds of the hashes that order validation groups and replacement draws,
 * xor'ed with --seed so they differ from the shuffle key. */
#define VAL_SALT 0x76616c2d73706c74ULL
#define DRAW_SALT 0x647261772d726570ULL

/* ---- formats ---- */

static const char *const format_names[] = {"srg", "rt", "raw", "alpaca", "alpaca-rt"};

int sr_mix_format_parse(const char *name, enum sr_mix_format *out)
{
	for (size_t i = 0; i < sizeof(format_names) / sizeof(format_names[0]); i++) {
		if (strcmp(name, format_names[i]) == 0) {
			*out = (enum sr_mix_format)i;
			return 0;
		}
	}
	return SR_EUSAGE;
}

const char *sr_mix_format_name(enum sr_mix_format f)
{
	return format_names[f];
}

static int missing(struct sr_error *err, const char *field, const char *why)
{
	int rc = sr_fail(err, SR_EDATA, "%s", why);

	if (err)
		snprintf(err->field, sizeof(err->field), "%s", field);
	return rc;
}

/* Append `"name":RAW` from the record's original bytes, if present. */
static int copy_member(struct sr_record *rec, const char *name, struct sr_buf *out, int *first)
{
	size_t len;
	const char *raw = sr_record_raw(rec, name, &len);
	json_t *v;
	char *dumped;
	int rc;

	if (!sr_record_has(rec, name))
		return 0;
	if (sr_buf_puts(out, *first ? "{\"" : ",\"") < 0 || sr_buf_puts(out, name) < 0 ||
	    sr_buf_puts(out, "\":") < 0)
		return SR_ENOMEM;
	*first = 0;
	if (raw)
		return sr_buf_append(out, raw, len);
	v = sr_record_get(rec, name);
	dumped = v ? sr_json_dumps(v) : NULL;
	if (!dumped)
		return SR_ENOMEM;
	rc = sr_buf_puts(out, dumped);
	free(dumped);
	return rc;
}

/* Append `"name":"value"` with value JSON-escaped; value may hold NULs. */
static int put_string(struct sr_buf *out, const char *name, const char *s, size_t len)
{
	json_t *v = json_stringn(s, len);
	char *dumped = v ? sr_json_dumps(v) : NULL;
	int rc = -1;

	if (dumped && sr_buf_printf(out, ",\"%s\":", name) == 0)
		rc = sr_buf_puts(out, dumped);
	free(dumped);
	json_decref(v);
	return rc < 0 ? SR_ENOMEM : 0;
}

/* Build the assistant text into text: the answer alone, or the reasoning in
 * the record's tags followed by a blank line and the answer. */
static int assistant_text(struct sr_record *rec, int with_reasoning, struct sr_buf *text,
                          struct sr_error *err)
{
	size_t rlen, alen;
	const char *answer = sr_record_get_str(rec, "answer", &alen);
	const char *reasoning, *open, *close;
	json_t *tags;

	if (!answer)
		return missing(err, "answer", "missing or not a string");
	sr_buf_reset(text);
	if (!with_reasoning)
		return sr_buf_append(text, answer, alen) < 0 ? SR_ENOMEM : 0;
	reasoning = sr_record_get_str(rec, "reasoning", &rlen);
	if (!reasoning)
		return missing(err, "reasoning", "missing or not a string");
	tags = json_object_get(sr_record_get(rec, "guidelines"), "tags");
	open = json_string_value(json_object_get(tags, "open"));
	close = json_string_value(json_object_get(tags, "close"));
	if (!open || !close)
		return missing(err, "guidelines.tags", "missing the reasoning tags (open and close)");
	if (sr_buf_puts(text, open) < 0 || sr_buf_puts(text, "\n") < 0 ||
	    sr_buf_append(text, reasoning, rlen) < 0 || sr_buf_puts(text, "\n") < 0 ||
	    sr_buf_puts(text, close) < 0 || sr_buf_puts(text, "\n\n") < 0 ||
	    sr_buf_append(text, answer, alen) < 0)
		return SR_ENOMEM;
	return 0;
}

static int put_message(struct sr_buf *out, int first, const char *role, const char *s, size_t len)
{
	json_t *v = json_stringn(s, len);
	char *dumped = v ? sr_json_dumps(v) : NULL;
	int rc = -1;

	if (dumped && sr_buf_printf(out, "%s{\"role\":\"%s\",\"content\":", first ? "" : ",", role) == 0 &&
	    sr_buf_puts(out, dumped) == 0)
		rc = sr_buf_puts(out, "}");
	free(dumped);
	json_decref(v);
	return rc < 0 ? SR_ENOMEM : 0;
}

int sr_mix_format_record(struct sr_record *rec, enum sr_mix_format f, const char *system,
                         struct sr_buf *out, struct sr_error *err)
{
	static const char *const kept[] = {"id", "source", "label", "attack", "sample"};
	struct sr_buf text = {0};
	size_t qlen;
	const char *query;
	int first = 1, rc;

	if (f == SR_MIX_RAW) {
		long n;
		char *buf = NULL;
		size_t cap = 0;
		if (!rec->changed) {
			if (sr_buf_append(out, rec->line, rec->len) < 0 || sr_buf_puts(out, "\n") < 0)
				return SR_ENOMEM;
			return 0;
		}
		n = sr_record_serialize(rec, &buf, &cap);
		rc = n < 0 ? SR_ENOMEM : sr_buf_append(out, buf, (size_t)n);
		free(buf);
		return rc < 0 ? SR_ENOMEM : 0;
	}
	query = sr_record_get_str(rec, "query", &qlen);
	if (!query)
		return missing(err, "query", "missing or not a string");
	rc = assistant_text(rec, f == SR_MIX_SRG || f == SR_MIX_ALPACA, &text, err);
	if (rc < 0)
		goto done;
	rc = SR_ENOMEM;
	for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
		if (copy_member(rec, kept[i], out, &first) < 0)
			goto done;
	if (first && sr_buf_puts(out, "{\"id\":null") < 0)
		goto done;
	if (f == SR_MIX_ALPACA || f == SR_MIX_ALPACA_RT) {
		if (put_string(out, "instruction", query, qlen) < 0 ||
		    put_string(out, "input", "", 0) < 0 ||
		    put_string(out, "output", text.data, text.len) < 0 ||
		    put_string(out, "system", system ? system : "", system ? strlen(system) : 0) < 0)
			goto done;
	} else {
		if (sr_buf_puts(out, ",\"messages\":[") < 0)
			goto done;
		if (system && put_message(out, 1, "system", system, strlen(system)) < 0)
			goto done;
		if (put_message(out, !system, "user", query, qlen) < 0 ||
		    put_message(out, 0, "assistant", text.data, text.len) < 0 ||
		    sr_buf_puts(out, "]") < 0)
			goto done;
	}
	rc = sr_buf_puts(out, "}\n") < 0 ? SR_ENOMEM : 0;
done:
	sr_buf_release(&text);
	if (rc == SR_ENOMEM)
		sr_fail(err, SR_ENOMEM, "out of memory");
	return rc;
}

/* ---- string table ---- */

/* Interned byte strings, looked up by an open-addressing hash index. */
struct strtab {
	char **s;
	size_t *len;
	size_t n, cap;
	uint32_t *slot; /* index + 1, 0 = empty */
	size_t nslot;   /* power of two */
};

static void strtab_release(struct strtab *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->s[i]);
	free(t->s);
	free(t->len);
	free(t->slot);
	memset(t, 0, sizeof(*t));
}

static int strtab_rehash(struct strtab *t, size_t nslot)
{
	uint32_t *slot = calloc(nslot, sizeof(*slot));

	if (!slot)
		return SR_ENOMEM;
	for (size_t i = 0; i < t->n; i++) {
		size_t h = (size_t)XXH64(t->s[i], t->len[i], 0) & (nslot - 1);
		while (slot[h])
			h = (h + 1) & (nslot - 1);
		slot[h] = (uint32_t)(i + 1);
	}
	free(t->slot);
	t->slot = slot;
	t->nslot = nslot;
	return 0;
}

/* Find s; with insert, add it when absent. Returns the index, or -1 when
 * absent (or out of memory while inserting). */
static long strtab_find(struct strtab *t, const char *s, size_t len, int insert)
{
	size_t h;

	if (t->nslot == 0) {
		if (!insert || strtab_rehash(t, 64) < 0)
			return -1;
	}
	h = (size_t)XXH64(s, len, 0) & (t->nslot - 1);
	while (t->slot[h]) {
		size_t i = t->slot[h] - 1;
		if (t->len[i] == len && memcmp(t->s[i], s, len) == 0)
			return (long)i;
		h = (h + 1) & (t->nslot - 1);
	}
	if (!insert || t->n >= UINT32_MAX - 1)
		return -1;
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		char **ns = realloc(t->s, cap * sizeof(*ns));
		size_t *nl;
		if (!ns)
			return -1;
		t->s = ns;
		nl = realloc(t->len, cap * sizeof(*nl));
		if (!nl)
			return -1;
		t->len = nl;
		t->cap = cap;
	}
	t->s[t->n] = malloc(len + 1);
	if (!t->s[t->n])
		return -1;
	memcpy(t->s[t->n], s, len);
	t->s[t->n][len] = '\0';
	t->len[t->n] = len;
	t->slot[h] = (uint32_t)(t->n + 1);
	t->n++;
	if (t->n * 2 > t->nslot && strtab_rehash(t, t->nslot * 2) < 0)
		return -1;
	return (long)(t->n - 1);
}

static int strtab_cmp(const struct strtab *t, uint32_t a, uint32_t b)
{
	size_t n = t->len[a] < t->len[b] ? t->len[a] : t->len[b];
	int c = memcmp(t->s[a], t->s[b], n);

	if (c)
		return c;
	return (t->len[a] > t->len[b]) - (t->len[a] < t->len[b]);
}

/* Indices of t sorted by byte order of the strings (new array). */
static const struct strtab *sort_tab;

static int cmp_by_name(const void *a, const void *b)
{
	return strtab_cmp(sort_tab, *(const uint32_t *)a, *(const uint32_t *)b);
}

static uint32_t *strtab_sorted(const struct strtab *t)
{
	uint32_t *idx = malloc((t->n ? t->n : 1) * sizeof(*idx));

	if (!idx)
		return NULL;
	for (size_t i = 0; i < t->n; i++)
		idx[i] = (uint32_t)i;
	sort_tab = t;
	qsort(idx, t->n, sizeof(*idx), cmp_by_name);
	return idx;
}

/* ---- the mixer ---- */

struct sr_mix_entry {
	uint64_t off;   /* byte offset in the spill file */
	uint64_t order; /* keyed XXH64 of (id, sample): the shuffle order */
	uint64_t tie;   /* XXH64 of the bytes, for equal order keys */
	uint64_t group; /* XXH64 of the prompt id */
	uint32_t len;
	uint32_t key, source, label;
	uint32_t stratum;
	uint32_t split;
};

struct sr_mix {
	struct sr_mix_params p;
	struct sr_mix_quota *take, *ratio; /* copies */
	struct strtab keys, sources, labels, strata, sets;
	struct sr_mix_entry *e; /* added entries, freed after selection */
	size_t n, cap;
	struct sr_mix_entry *split[2];
	uint64_t nsplit[2];
	uint64_t *available, *selected; /* per key */
	uint64_t not_selected, repeats, added;
	int spill_fd;
	uint64_t spill_off;
	char *wbuf;  /* spill bytes not yet written, SPILL_WRITE_BYTES at most */
	size_t wlen;
	char *rbuf;
	size_t rcap;
	XXH64_state_t *xs;
	int selected_done;
};

static struct sr_mix_quota *copy_quotas(const struct sr_mix_quota *q, size_t n)
{
	struct sr_mix_quota *c = calloc(n ? n : 1, sizeof(*c));

	if (!c)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		c[i] = q[i];
		c[i].key = strdup(q[i].key);
		if (!c[i].key) {
			while (i--)
				free((char *)c[i].key);
			free(c);
			return NULL;
		}
	}
	return c;
}

int sr_mix_new(const struct sr_mix_params *p, struct sr_mix **out, struct sr_error *err)
{
	struct sr_mix *m = calloc(1, sizeof(*m));
	char path[4096];

	*out = NULL;
	if (!m)
		return sr_fail(err, SR_ENOMEM, "out of memory");
	m->p = *p;
	m->spill_fd = -1;
	m->take = copy_quotas(p->take, p->ntake);
	m->ratio = copy_quotas(p->ratio, p->nratio);
	m->xs = XXH64_createState();
	if (!m->take || !m->ratio || !m->xs) {
		sr_mix_free(m);
		return sr_fail(err, SR_ENOMEM, "out of memory");
	}
	m->p.take = m->take;
	m->p.ratio = m->ratio;
	if ((size_t)snprintf(path, sizeof(path), "%s/.sr-mix-spill.XXXXXX",
	                     p->spill_dir ? p->spill_dir : ".") >= sizeof(path)) {
		sr_mix_free(m);
		return sr_fail(err, SR_EUSAGE, "directory name too long");
	}
	m->spill_fd = mkstemp(path);
	if (m->spill_fd < 0) {
		int e = errno;
		sr_mix_free(m);
		return sr_fail(err, SR_EIO, "cannot create a spill file in '%s': %s",
		               p->spill_dir ? p->spill_dir : ".", strerror(e));
	}
	/* Unlinked at once: the space is returned whenever the process ends. */
	unlink(path);
	m->wbuf = malloc(SPILL_WRITE_BYTES);
	if (!m->wbuf) {
		sr_mix_free(m);
		return sr_fail(err, SR_ENOMEM, "out of memory");
	}
	*out = m;
	return 0;
}

void sr_mix_free(struct sr_mix *m)
{
	if (!m)
		return;
	if (m->take)
		for (size_t i = 0; i < m->p.ntake; i++)
			free((char *)m->take[i].key);
	if (m->ratio)
		for (size_t i = 0; i < m->p.nratio; i++)
			free((char *)m->ratio[i].key);
	free(m->take);
	free(m->ratio);
	strtab_release(&m->keys);
	strtab_release(&m->sources);
	strtab_release(&m->labels);
	strtab_release(&m->strata);
	strtab_release(&m->sets);
	free(m->e);
	free(m->split[0]);
	free(m->split[1]);
	free(m->available);
	free(m->selected);
	free(m->wbuf);
	if (m->spill_fd >= 0)
		close(m->spill_fd);
	free(m->rbuf);
	XXH64_freeState(m->xs);
	free(m);
}

/* Write all of buf to fd. Returns 0, or -1 with errno set. */
static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Write the buffered spill bytes in one call, so the spill costs a few
 * large writes rather than one per page. */
static int spill_flush(struct sr_mix *m, struct sr_error *err)
{
	if (m->wlen > 0 && write_all(m->spill_fd, m->wbuf, m->wlen) < 0)
		return sr_fail(err, SR_EIO, "cannot write the spill file: %s", strerror(errno));
	m->wlen = 0;
	return 0;
}

static long intern(struct strtab *t, const char *s)
{
	if (!s)
		s = "";
	return strtab_find(t, s, strlen(s), 1);
}

int sr_mix_add(struct sr_mix *m, const char *key, const char *source, const char *label,
               const char *id, int64_t sample, const char *line, size_t len,
               struct sr_error *err)
{
	struct sr_mix_entry *e;
	long k, s, l, st;
	uint32_t pair[2];
	unsigned char le[8];

	if (!m->wbuf)
		return sr_fail(err, SR_EUSAGE, "sr_mix_add called after sr_mix_select");
	if (len > LINE_MAX_BYTES)
		return sr_fail(err, SR_ETOOBIG, "example of %zu bytes is larger than 4 GiB", len);
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 4096;
		struct sr_mix_entry *ne = realloc(m->e, cap * sizeof(*ne));
		if (!ne)
			return sr_fail(err, SR_ENOMEM, "out of memory");
		m->e = ne;
		m->cap = cap;
	}
	k = intern(&m->keys, key);
	s = intern(&m->sources, source);
	l = intern(&m->labels, label);
	if (k < 0 || s < 0 || l < 0)
		return sr_fail(err, SR_ENOMEM, "out of memory");
	pair[0] = (uint32_t)s;
	pair[1] = (uint32_t)l;
	st = strtab_find(&m->strata, (const char *)pair, sizeof(pair), 1);
	if (st < 0)
		return sr_fail(err, SR_ENOMEM, "out of memory");

	e = &m->e[m->n];
	e->off = m->spill_off;
	e->len = (uint32_t)len;
	e->key = (uint32_t)k;
	e->source = (uint32_t)s;
	e->label = (uint32_t)l;
	e->stratum = (uint32_t)st;
	e->split = SR_MIX_TRAIN;
	/* The sample index goes in as 8 little-endian bytes so the key is the
	 * same on every machine. */
	for (int i = 0; i < 8; i++)
		le[i] = (unsigned char)((uint64_t)sample >> (8 * i));
	XXH64_reset(m->xs, m->p.seed);
	XXH64_update(m->xs, id, strlen(id));
	XXH64_update(m->xs, "", 1);
	XXH64_update(m->xs, le, sizeof(le));
	e->order = XXH64_digest(m->xs);
	e->group = XXH64(id, strlen(id), 0);
	e->tie = XXH64(line, len, 0);

	if (m->wlen + len > SPILL_WRITE_BYTES && spill_flush(m, err) < 0)
		return SR_EIO;
	if (len >= SPILL_WRITE_BYTES) {
		if (write_all(m->spill_fd, line, len) < 0)
			return sr_fail(err, SR_EIO, "cannot write the spill file: %s", strerror(errno));
	} else {
		memcpy(m->wbuf + m->wlen, line, len);
		m->wlen += len;
	}
	m->spill_off += len;
	m->n++;
	m->added++;
	return 0;
}

int sr_mix_note_guidelines(struct sr_mix *m, const char *set, const char *version,
                           struct sr_error *err)
{
	struct sr_buf b = {0};
	long i;

	if (sr_buf_puts(&b, set) < 0 || sr_buf_append(&b, "", 1) < 0 || sr_buf_puts(&b, version) < 0) {
		sr_buf_release(&b);
		return sr_fail(err, SR_ENOMEM, "out of memory");
	}
	i = strtab_find(&m->sets, b.data, b.len, 1);
	sr_buf_release(&b);
	return i < 0 ? sr_fail(err, SR_ENOMEM, "out of memory") : 0;
}

/* ---- selection ---- */

static int cmp_key_order(const void *pa, const void *pb)
{
	const struct sr_mix_entry *a = pa, *b = pb;

	if (a->key != b->key)
		return a->key < b->key ? -1 : 1;
	if (a->order != b->order)
		return a->order < b->order ? -1 : 1;
	if (a->tie != b->tie)
		return a->tie < b->tie ? -1 : 1;
	return (a->off > b->off) - (a->off < b->off);
}

static int cmp_order(const void *pa, const void *pb)
{
	const struct sr_mix_entry *a = pa, *b = pb;

	if (a->order != b->order)
		return a->order < b->order ? -1 : 1;
	if (a->tie != b->tie)
		return a->tie < b->tie ? -1 : 1;
	return (a->off > b->off) - (a->off < b->off);
}

static int cmp_group_order(const void *pa, const void *pb)
{
	const struct sr_mix_entry *a = pa, *b = pb;

	if (a->group != b->group)
		return a->group < b->group ? -1 : 1;
	return cmp_order(pa, pb);
}

/* Split total among n parts in proportion to weight, exactly: each part
 * gets the floor of its share, and the units left over go to the largest
 * fractional remainders, ties broken by rank (lower first). */
struct share {
	long double rem;
	uint32_t rank;
	size_t i;
};

static int cmp_share(const void *pa, const void *pb)
{
	const struct share *a = pa, *b = pb;

	if (a->rem != b->rem)
		return a->rem > b->rem ? -1 : 1;
	return (a->rank > b->rank) - (a->rank < b->rank);
}

static int largest_remainder(uint64_t total, const long double *weight, const uint32_t *rank,
                             size_t n, uint64_t *out)
{
	long double sum = 0;
	uint64_t given = 0;
	struct share *sh;

	for (size_t i = 0; i < n; i++)
		sum += weight[i];
	for (size_t i = 0; i < n; i++)
		out[i] = 0;
	if (n == 0 || sum <= 0)
		return 0;
	sh = malloc(n * sizeof(*sh));
	if (!sh)
		return SR_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		long double exact = (long double)total * weight[i] / sum;
		out[i] = (uint64_t)floorl(exact);
		given += out[i];
		sh[i].rem = exact - (long double)out[i];
		sh[i].rank = rank[i];
		sh[i].i = i;
	}
	qsort(sh, n, sizeof(*sh), cmp_share);
	for (size_t j = 0; given < total; j = (j + 1) % n, given++)
		out[sh[j].i]++;
	free(sh);
	return 0;
}

/* Fill quota[k] for every key from --take or --ratio (all when neither). */
static int compute_quotas(struct sr_mix *m, uint64_t *quota, struct sr_error *err)
{
	size_t nk = m->keys.n;
	const struct sr_mix_quota *q = m->p.ntake ? m->p.take : m->p.ratio;
	size_t nq = m->p.ntake ? m->p.ntake : m->p.nratio;
	long double *w;
	uint32_t *rank;
	uint64_t *share;
	long *idx;
	int rc = 0;

	for (size_t k = 0; k < nk; k++)
		quota[k] = nq ? 0 : m->available[k];
	if (!nq)
		return 0;
	w = calloc(nq, sizeof(*w));
	rank = calloc(nq, sizeof(*rank));
	share = calloc(nq, sizeof(*share));
	idx = calloc(nq, sizeof(*idx));
	if (!w || !rank || !share || !idx) {
		rc = sr_fail(err, SR_ENOMEM, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < nq; i++) {
		idx[i] = strtab_find(&m->keys, q[i].key, strlen(q[i].key), 0);
		w[i] = q[i].weight;
		rank[i] = 0;
		for (size_t j = 0; j < nq; j++)
			if (strcmp(q[j].key, q[i].key) < 0)
				rank[i]++;
	}
	if (m->p.ntake) {
		for (size_t i = 0; i < nq; i++)
			share[i] = q[i].count;
	} else {
		rc = largest_remainder(m->p.total, w, rank, nq, share);
		if (rc < 0) {
			rc = sr_fail(err, SR_ENOMEM, "out of memory");
			goto done;
		}
	}
	for (size_t i = 0; i < nq; i++) {
		uint64_t have = idx[i] < 0 ? 0 : m->available[idx[i]];
		if (share[i] > 0 && (have == 0 || (!m->p.replace && have < share[i]))) {
			rc = sr_fail(err, SR_EDATA,
			             "'%s' has %llu records but %llu were requested%s", q[i].key,
			             (unsigned long long)have, (unsigned long long)share[i],
			             have && !m->p.replace ? " (use --replace to sample with replacement)" : "");
			goto done;
		}
		if (idx[i] >= 0)
			quota[idx[i]] = share[i];
	}
done:
	free(w);
	free(rank);
	free(share);
	free(idx);
	return rc;
}

/* Copy the chosen entries of each key into sel (sorted by key, then order). */
static int draw(struct sr_mix *m, const uint64_t *quota, struct sr_mix_entry **selp,
                uint64_t *nselp, struct sr_error *err)
{
	uint64_t nsel = 0;
	struct sr_mix_entry *sel;
	size_t i = 0;
	char *drawn;

	for (size_t k = 0; k < m->keys.n; k++)
		nsel += quota[k];
	sel = malloc((nsel ? nsel : 1) * sizeof(*sel));
	drawn = calloc(m->n ? m->n : 1, 1);
	if (!sel || !drawn) {
		free(sel);
		free(drawn);
		return sr_fail(err, SR_ENOMEM, "out of memory");
	}
	nsel = 0;
	while (i < m->n) {
		size_t begin = i;
		uint32_t k = m->e[i].key;
		uint64_t have, q = quota[k];
		while (i < m->n && m->e[i].key == k)
			i++;
		have = i - begin;
		if (!m->p.replace) {
			for (uint64_t j = 0; j < q; j++) {
				sel[nsel++] = m->e[begin + j];
				drawn[begin + j] = 1;
			}
			continue;
		}
		/* With replacement: q independent draws from a generator seeded by
		 * the key's name, each copy given its own place in the shuffle. */
		struct sr_rng rng;
		sr_rng_seed(&rng, XXH64(m->keys.s[k], m->keys.len[k], m->p.seed ^ DRAW_SALT));
		for (uint64_t j = 0; j < q; j++) {
			uint64_t pick = sr_rng_below(&rng, have);
			uint64_t mixed[2];
			struct sr_mix_entry *e = &sel[nsel++];
			*e = m->e[begin + pick];
			if (drawn[begin + pick])
				m->repeats++;
			drawn[begin + pick] = 1;
			mixed[0] = e->order;
			mixed[1] = j;
			e->order = XXH64(mixed, sizeof(mixed), m->p.seed);
		}
	}
	for (size_t j = 0; j < m->n; j++)
		if (!drawn[j])
			m->not_selected++;
	free(drawn);
	*selp = sel;
	*nselp = nsel;
	return 0;
}

struct group {
	uint64_t start, size;
	uint64_t vorder;
	uint32_t stratum;
};

static int cmp_group_stratum(const void *pa, const void *pb)
{
	const struct group *a = pa, *b = pb;

	if (a->stratum != b->stratum)
		return a->stratum < b->stratum ? -1 : 1;
	return (a->vorder > b->vorder) - (a->vorder < b->vorder);
}

static int cmp_group_vorder(const void *pa, const void *pb)
{
	const struct group *a = pa, *b = pb;

	if (a->vorder != b->vorder)
		return a->vorder < b->vorder ? -1 : 1;
	return (a->start > b->start) - (a->start < b->start);
}

/* Rank of each stratum in (source name, label name) byte order. */
static uint32_t *strata_ranks(const struct sr_mix *m)
{
	size_t n = m->strata.n;
	uint32_t *order = malloc((n ? n : 1) * sizeof(*order));
	uint32_t *rank = malloc((n ? n : 1) * sizeof(*rank));

	if (!order || !rank) {
		free(order);
		free(rank);
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		order[i] = (uint32_t)i;
	/* Insertion sort: the number of (source, label) pairs is small. */
	for (size_t i = 1; i < n; i++) {
		uint32_t x = order[i];
		const uint32_t *px = (const uint32_t *)m->strata.s[x];
		size_t j = i;
		while (j > 0) {
			const uint32_t *py = (const uint32_t *)m->strata.s[order[j - 1]];
			int c = strtab_cmp(&m->sources, py[0], px[0]);
			if (c == 0)
				c = strtab_cmp(&m->labels, py[1], px[1]);
			if (c <= 0)
				break;
			order[j] = order[j - 1];
			j--;
		}
		order[j] = x;
	}
	for (size_t i = 0; i < n; i++)
		rank[order[i]] = (uint32_t)i;
	free(order);
	return rank;
}

/* Mark whole prompt groups as validation: per (source, label) stratum up to
 * its largest-remainder share of nval, then, for what whole groups left
 * short, any group that still fits, in the seeded validation order. */
static int mark_validation(struct sr_mix *m, struct sr_mix_entry *sel, uint64_t nsel,
                           uint64_t nval, struct sr_error *err)
{
	struct group *g = NULL;
	size_t ng = 0, ns = m->strata.n;
	long double *w = calloc(ns ? ns : 1, sizeof(*w));
	uint64_t *target = calloc(ns ? ns : 1, sizeof(*target));
	uint64_t *taken = calloc(ns ? ns : 1, sizeof(*taken));
	uint32_t *rank = strata_ranks(m);
	uint64_t total = 0;
	int rc = 0;

	if (!w || !target || !taken || !rank)
		goto nomem;
	qsort(sel, nsel, sizeof(*sel), cmp_group_order);
	g = malloc((nsel ? nsel : 1) * sizeof(*g));
	if (!g)
		goto nomem;
	for (uint64_t i = 0; i < nsel;) {
		uint64_t start = i;
		while (i < nsel && sel[i].group == sel[start].group)
			i++;
		g[ng].start = start;
		g[ng].size = i - start;
		g[ng].stratum = sel[start].stratum;
		g[ng].vorder = XXH64(&sel[start].group, sizeof(sel[start].group), m->p.seed ^ VAL_SALT);
		w[g[ng].stratum] += (long double)g[ng].size;
		ng++;
	}
	if (largest_remainder(nval, w, rank, ns, target) < 0)
		goto nomem;
	qsort(g, ng, sizeof(*g), cmp_group_stratum);
	for (size_t j = 0; j < ng; j++) {
		if (taken[g[j].stratum] + g[j].size > target[g[j].stratum])
			continue;
		taken[g[j].stratum] += g[j].size;
		total += g[j].size;
		for (uint64_t i = 0; i < g[j].size; i++)
			sel[g[j].start + i].split = SR_MIX_VAL;
	}
	qsort(g, ng, sizeof(*g), cmp_group_vorder);
	for (size_t j = 0; j < ng && total < nval; j++) {
		if (sel[g[j].start].split == SR_MIX_VAL || total + g[j].size > nval)
			continue;
		total += g[j].size;
		for (uint64_t i = 0; i < g[j].size; i++)
			sel[g[j].start + i].split = SR_MIX_VAL;
	}
	goto done;
nomem:
	rc = sr_fail(err, SR_ENOMEM, "out of memory");
done:
	free(g);
	free(w);
	free(target);
	free(taken);
	free(rank);
	return rc;
}

int sr_mix_select(struct sr_mix *m, struct sr_error *err)
{
	uint64_t *quota = NULL, nsel = 0, nval;
	struct sr_mix_entry *sel = NULL;
	int rc;

	if (m->selected_done)
		return sr_fail(err, SR_EUSAGE, "sr_mix_select called twice");
	if (spill_flush(m, err) < 0)
		return SR_EIO;
	free(m->wbuf);
	m->wbuf = NULL;
	m->available = calloc(m->keys.n ? m->keys.n : 1, sizeof(uint64_t));
	m->selected = calloc(m->keys.n ? m->keys.n : 1, sizeof(uint64_t));
	quota = calloc(m->keys.n ? m->keys.n : 1, sizeof(uint64_t));
	if (!m->available || !m->selected || !quota) {
		rc = sr_fail(err, SR_ENOMEM, "out of memory");
		goto done;
	}
	/* Give back the slack of the doubling array before the selection
	 * allocates its own, so the peak stays near 113 bytes per record. */
	if (m->n > 0 && m->n < m->cap) {
		struct sr_mix_entry *e = realloc(m->e, m->n * sizeof(*e));
		if (e) {
			m->e = e;
			m->cap = m->n;
		}
	}
	qsort(m->e, m->n, sizeof(*m->e), cmp_key_order);
	for (size_t i = 0; i < m->n; i++)
		m->available[m->e[i].key]++;
	rc = compute_quotas(m, quota, err);
	if (rc < 0)
		goto done;
	rc = draw(m, quota, &sel, &nsel, err);
	if (rc < 0)
		goto done;
	for (size_t k = 0; k < m->keys.n; k++)
		m->selected[k] = quota[k];
	free(m->e);
	m->e = NULL;

	if (m->p.val_fraction >= 0)
		nval = (uint64_t)floorl((long double)m->p.val_fraction * (long double)nsel + 0.5L);
	else
		nval = m->p.val;
	if (nval > nsel) {
		rc = sr_fail(err, SR_EDATA, "a validation set of %llu records was requested, but "
		             "only %llu records were selected", (unsigned long long)nval,
		             (unsigned long long)nsel);
		goto done;
	}
	if (nval > 0) {
		rc = mark_validation(m, sel, nsel, nval, err);
		if (rc < 0)
			goto done;
	}
	qsort(sel, nsel, sizeof(*sel), cmp_order);
	for (uint64_t i = 0; i < nsel; i++)
		m->nsplit[sel[i].split]++;
	for (int s = 0; s < 2; s++) {
		m->split[s] = malloc((m->nsplit[s] ? m->nsplit[s] : 1) * sizeof(*sel));
		if (!m->split[s]) {
			rc = sr_fail(err, SR_ENOMEM, "out of memory");
			goto done;
		}
		m->nsplit[s] = 0;
	}
	for (uint64_t i = 0; i < nsel; i++) {
		int s = (int)sel[i].split;
		m->split[s][m->nsplit[s]++] = sel[i];
	}
	m->selected_done = 1;
done:
	free(sel);
	free(quota);
	return rc;
}

uint64_t sr_mix_count(const struct sr_mix *m, int split)
{
	return m->nsplit[split];
}

int sr_mix_read(struct sr_mix *m, int split, uint64_t i, const char **line, size_t *len,
                struct sr_error *err)
{
	const struct sr_mix_entry *e = &m->split[split][i];
	size_t got = 0;

	if (e->len + (size_t)1 > m->rcap) {
		size_t cap = m->rcap ? m->rcap : 65536;
		char *p;
		while (cap < e->len + (size_t)1)
			cap *= 2;
		p = realloc(m->rbuf, cap);
		if (!p)
			return sr_fail(err, SR_ENOMEM, "out of memory");
		m->rbuf = p;
		m->rcap = cap;
	}
	while (got < e->len) {
		ssize_t n = pread(m->spill_fd, m->rbuf + got, e->len - got, (off_t)(e->off + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return sr_fail(err, SR_EIO, "cannot read the spill file: %s",
			               n < 0 ? strerror(errno) : "unexpected end of file");
		got += (size_t)n;
	}
	m->rbuf[e->len] = '\0';
	*line = m->rbuf;
	*len = e->len;
	return 0;
}

uint64_t sr_mix_added(const struct sr_mix *m)
{
	return m->added;
}

uint64_t sr_mix_not_selected(const struct sr_mix *m)
{
	return m->not_selected;
}

uint64_t sr_mix_repeats(const struct sr_mix *m)
{
	return m->repeats;
}

/* ---- counts ---- */

static json_t *split_counts(const struct sr_mix *m, const struct strtab *t, int by_label)
{
	uint64_t *c = calloc(t->n ? t->n * 2 : 1, sizeof(*c));
	uint32_t *order = strtab_sorted(t);
	json_t *o = json_object();

	if (!c || !order || !o) {
		free(c);
		free(order);
		json_decref(o);
		return NULL;
	}
	for (int s = 0; s < 2; s++)
		for (uint64_t i = 0; i < m->nsplit[s]; i++) {
			const struct sr_mix_entry *e = &m->split[s][i];
			c[(by_label ? e->label : e->source) * 2 + (uint32_t)s]++;
		}
	for (size_t j = 0; j < t->n; j++) {
		uint32_t i = order[j];
		json_t *x = json_object();
		if (c[i * 2] + c[i * 2 + 1] == 0) {
			json_decref(x);
			continue;
		}
		json_object_set_new(x, "train", json_integer((json_int_t)c[i * 2]));
		json_object_set_new(x, "val", json_integer((json_int_t)c[i * 2 + 1]));
		json_object_set_new(o, t->s[i], x);
	}
	free(c);
	free(order);
	return o;
}

json_t *sr_mix_counts_json(const struct sr_mix *m)
{
	json_t *o = json_object(), *keys = json_object();
	uint32_t *order = strtab_sorted(&m->keys);

	if (!o || !keys || !order) {
		json_decref(o);
		json_decref(keys);
		free(order);
		return NULL;
	}
	json_object_set_new(o, "train", json_integer((json_int_t)m->nsplit[0]));
	json_object_set_new(o, "val", json_integer((json_int_t)m->nsplit[1]));
	json_object_set_new(o, "sources", split_counts(m, &m->sources, 0));
	json_object_set_new(o, "labels", split_counts(m, &m->labels, 1));
	for (size_t j = 0; j < m->keys.n && m->available; j++) {
		uint32_t k = order[j];
		json_t *x = json_object();
		json_object_set_new(x, "available", json_integer((json_int_t)m->available[k]));
		json_object_set_new(x, "selected", json_integer((json_int_t)m->selected[k]));
		json_object_set_new(keys, m->keys.s[k], x);
	}
	json_object_set_new(o, "keys", keys);
	free(order);
	return o;
}

json_t *sr_mix_guidelines_json(const struct sr_mix *m)
{
	json_t *a = json_array();
	uint32_t *order = strtab_sorted(&m->sets);

	if (!a || !order) {
		json_decref(a);
		free(order);
		return NULL;
	}
	for (size_t j = 0; j < m->sets.n; j++) {
		const char *set = m->sets.s[order[j]];
		json_t *x = json_object();
		json_object_set_new(x, "set", json_string(set));
		json_object_set_new(x, "version", json_string(set + strlen(set) + 1));
		json_array_append_new(a, x);
	}
	free(order);
	return a;
}

/* ---- shards ---- */

static int commit_shard(struct sr_shard_writer *w, int split, const char *file, json_t *shards,
                        struct sr_error *err)
{
	struct sr_shard_info info;
	json_t *entry;
	int rc = sr_shard_writer_commit(w, &info, err);

	if (rc < 0)
		return rc;
	entry = sr_shard_info_json(&info, split == SR_MIX_VAL ? "val" : "train", file);
	sr_shard_info_release(&info);
	if (!entry || json_array_append_new(shards, entry) < 0)
		return sr_fail(err, SR_ENOMEM, "out of memory");
	return 0;
}

int sr_mix_write_shards(struct sr_mix *m, int split, const char *dir,
                        const struct sr_shard_params *sp, uint64_t max_records,
                        uint64_t max_bytes, json_t *shards, struct sr_error *err)
{
	const char *prefix = split == SR_MIX_VAL ? "val" : "train";
	struct sr_shard_writer *w = NULL;
	uint64_t in_shard = 0;
	unsigned shard = 0;
	char file[64], path[4096];
	int rc = 0;

	for (uint64_t i = 0; i < m->nsplit[split]; i++) {
		const char *line;
		size_t len;
		rc = sr_mix_read(m, split, i, &line, &len, err);
		if (rc < 0)
			break;
		if (w && ((max_records && in_shard + 1 > max_records) ||
		          (max_bytes && sr_shard_writer_raw_bytes(w) + len > max_bytes))) {
			rc = commit_shard(w, split, file, shards, err);
			sr_shard_writer_free(w);
			w = NULL;
			if (rc < 0)
				break;
			shard++;
		}
		if (!w) {
			if (shard > 99999) {
				rc = sr_fail(err, SR_EUSAGE, "more than 100000 %s shards; raise "
				             "--shard-records or --shard-bytes", prefix);
				break;
			}
			snprintf(file, sizeof(file), "%s-%05u.jsonl.zst", prefix, shard);
			if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, file) >= sizeof(path)) {
				rc = sr_fail(err, SR_EUSAGE, "output directory name too long");
				break;
			}
			rc = sr_shard_writer_open(path, sp, &w, err);
			if (rc < 0)
				break;
			in_shard = 0;
		}
		rc = sr_shard_writer_add(w, line, len, err);
		if (rc < 0)
			break;
		in_shard++;
	}
	if (rc == 0 && w)
		rc = commit_shard(w, split, file, shards, err);
	sr_shard_writer_free(w);
	return rc;
}
