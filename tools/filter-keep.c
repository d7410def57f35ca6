/* filter-keep.c - the --keep-best buffer (see filter-keep.h). */
#include <stdlib.h>
#include <string.h>

#include "filter-keep.h"
#include "util.h"

struct kept {
	char *line;
	size_t len;
	double score;
	uint64_t seq;      /* input order */
};

/* Open-addressing table: prompt id -> records already written. */
struct id_slot {
	char *id;
	size_t emitted;
};

struct keep {
	size_t k;
	keep_emit_fn emit;
	keep_evict_fn evict;
	void *user;
	char *group;       /* id of the current group, NULL before the first */
	struct kept *items;
	size_t n;
	size_t slots;      /* places left for the current group */
	uint64_t seq, dropped;
	struct id_slot *ids;
	size_t nids, capids;
};

struct keep *keep_new(size_t k, keep_emit_fn emit, keep_evict_fn evict, void *user)
{
	struct keep *kb = calloc(1, sizeof *kb);
	if (!kb)
		return NULL;
	kb->items = calloc(k ? k : 1, sizeof *kb->items);
	kb->capids = 1024;
	kb->ids = calloc(kb->capids, sizeof *kb->ids);
	if (!kb->items || !kb->ids) {
		keep_free(kb);
		return NULL;
	}
	kb->k = k;
	kb->emit = emit;
	kb->evict = evict;
	kb->user = user;
	return kb;
}

void keep_free(struct keep *kb)
{
	if (!kb)
		return;
	for (size_t i = 0; i < kb->n; i++)
		free(kb->items[i].line);
	for (size_t i = 0; kb->ids && i < kb->capids; i++)
		free(kb->ids[i].id);
	free(kb->ids);
	free(kb->items);
	free(kb->group);
	free(kb);
}

static struct id_slot *id_find(struct keep *kb, const char *id, int insert)
{
	if (insert && (kb->nids + 1) * 2 > kb->capids) {
		size_t ncap = kb->capids * 2;
		struct id_slot *n = calloc(ncap, sizeof *n);
		if (!n)
			return NULL;
		for (size_t i = 0; i < kb->capids; i++) {
			if (!kb->ids[i].id)
				continue;
			size_t j = sr_hash64(kb->ids[i].id, strlen(kb->ids[i].id), 0) & (ncap - 1);
			while (n[j].id)
				j = (j + 1) & (ncap - 1);
			n[j] = kb->ids[i];
		}
		free(kb->ids);
		kb->ids = n;
		kb->capids = ncap;
	}
	size_t mask = kb->capids - 1;
	for (size_t j = sr_hash64(id, strlen(id), 0) & mask;; j = (j + 1) & mask) {
		if (!kb->ids[j].id) {
			if (!insert || !(kb->ids[j].id = strdup(id)))
				return NULL;
			kb->nids++;
			return &kb->ids[j];
		}
		if (!strcmp(kb->ids[j].id, id))
			return &kb->ids[j];
	}
}

static int by_seq(const void *a, const void *b)
{
	const struct kept *x = a, *y = b;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int keep_flush(struct keep *kb, struct sr_error *err)
{
	int rc = 0;
	if (!kb->group)
		return 0;
	struct id_slot *slot = id_find(kb, kb->group, 1);
	if (!slot)
		return sr_fail(err, SR_ENOMEM, "out of memory in --keep-best");
	qsort(kb->items, kb->n, sizeof *kb->items, by_seq);
	for (size_t i = 0; i < kb->n; i++) {
		if (rc == 0)
			rc = kb->emit(kb->user, kb->items[i].line, kb->items[i].len, err);
		free(kb->items[i].line);
	}
	slot->emitted += kb->n;
	kb->n = 0;
	free(kb->group);
	kb->group = NULL;
	return rc;
}

int keep_offer(struct keep *kb, const char *id, const char *line, size_t len, double score,
               struct sr_error *err)
{
	int rc;
	if (!kb->group || strcmp(kb->group, id) != 0) {
		if ((rc = keep_flush(kb, err)) < 0)
			return rc;
		if (!(kb->group = strdup(id)))
			return sr_fail(err, SR_ENOMEM, "out of memory in --keep-best");
		struct id_slot *slot = id_find(kb, id, 0);
		size_t done = slot ? slot->emitted : 0;
		kb->slots = done < kb->k ? kb->k - done : 0;
	}
	kb->seq++;
	if (kb->slots == 0) {
		kb->dropped++;
		return kb->evict(kb->user, line, len, err);
	}
	size_t at;
	if (kb->n < kb->slots) {
		at = kb->n++;
	} else {
		/* Replace the worst; among equal scores the latest goes first. */
		size_t worst = 0;
		for (size_t i = 1; i < kb->n; i++)
			if (kb->items[i].score < kb->items[worst].score ||
			    (kb->items[i].score == kb->items[worst].score &&
			     kb->items[i].seq > kb->items[worst].seq))
				worst = i;
		if (score <= kb->items[worst].score) {
			kb->dropped++;
			return kb->evict(kb->user, line, len, err);
		}
		kb->dropped++;
		rc = kb->evict(kb->user, kb->items[worst].line, kb->items[worst].len, err);
		free(kb->items[worst].line);
		kb->items[worst].line = NULL;
		if (rc < 0)
			return rc;
		at = worst;
	}
	if (!(kb->items[at].line = malloc(len ? len : 1))) {
		/* Keep the array consistent: drop the empty slot. */
		kb->items[at] = kb->items[--kb->n];
		return sr_fail(err, SR_ENOMEM, "out of memory in --keep-best");
	}
	memcpy(kb->items[at].line, line, len);
	kb->items[at].len = len;
	kb->items[at].score = score;
	kb->items[at].seq = kb->seq;
	return 0;
}

uint64_t keep_dropped(const struct keep *kb)
{
	return kb->dropped;
}

size_t keep_ids(const struct keep *kb)
{
	return kb->nids;
}
