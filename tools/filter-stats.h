/*
 * filter-stats.h - sr-filter's counts for --stats beyond the shared ones:
 * failures per rule, records per label, coverage per guideline and the
 * judge's verdicts per label.
 *
 * Ownership: the struct is caller-owned; filter_stats_init allocates its
 * members and filter_stats_release frees them (safe after a failed init).
 */
#ifndef SR_FILTER_STATS_H
#define SR_FILTER_STATS_H

#include <stdint.h>
#include <jansson.h>
#include "rules.h"

struct filter_stats {
	size_t nrules;
	uint64_t *rule_failed, *rule_not_applied;  /* per rule */
	json_t *labels;      /* {label: {"in", "passed", "rejected"}} */
	json_t *guidelines;  /* {id: {"covered", "missed"}} */
	json_t *verdicts;    /* {label: {verdict: n}} */
};

/* Returns 0 or SR_ENOMEM. */
int filter_stats_init(struct filter_stats *st, size_t nrules);
/* Count one evaluated record (label may be NULL). */
void filter_stats_count(struct filter_stats *st, const char *label,
                        const struct sr_rules_result *res, int kept);
/* Add "rules_file", "rules", "labels", "guidelines" and "judge" to stats. */
void filter_stats_add(const struct filter_stats *st, const struct sr_rules *rules, json_t *stats);
void filter_stats_release(struct filter_stats *st);

#endif
