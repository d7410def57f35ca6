/* filter-stats.c - sr-filter's per-rule, per-label and per-guideline counts. */
#include <stdlib.h>
#include <string.h>

#include "filter-stats.h"

int filter_stats_init(struct filter_stats *st, size_t nrules)
{
	memset(st, 0, sizeof *st);
	st->nrules = nrules;
	st->rule_failed = calloc(nrules + 1, sizeof *st->rule_failed);
	st->rule_not_applied = calloc(nrules + 1, sizeof *st->rule_not_applied);
	st->labels = json_object();
	st->guidelines = json_object();
	st->verdicts = json_object();
	if (!st->rule_failed || !st->rule_not_applied || !st->labels || !st->guidelines || !st->verdicts)
		return SR_ENOMEM;
	return 0;
}

/* Add one to obj[key][field]. */
static void count_in(json_t *obj, const char *key, const char *field)
{
	json_t *o = json_object_get(obj, key);
	if (!o) {
		o = json_object();
		json_object_set_new(obj, key, o);
	}
	json_t *v = json_object_get(o, field);
	json_object_set_new(o, field, json_integer(v ? json_integer_value(v) + 1 : 1));
}

void filter_stats_count(struct filter_stats *st, const char *label,
                        const struct sr_rules_result *res, int kept)
{
	const char *name = label ? label : "none";
	for (size_t i = 0; i < res->n && i < st->nrules; i++) {
		st->rule_failed[i] += res->checks[i].applies && !res->checks[i].pass;
		st->rule_not_applied[i] += !res->checks[i].applies;
	}
	count_in(st->labels, name, "in");
	count_in(st->labels, name, kept ? "passed" : "rejected");
	for (size_t i = 0; i < res->ncoverage; i++)
		count_in(st->guidelines, res->coverage[i].id, res->coverage[i].covered ? "covered" : "missed");
	if (res->judged)
		count_in(st->verdicts, name, sr_judge_class_name(res->judge.verdict));
}

void filter_stats_add(const struct filter_stats *st, const struct sr_rules *rules, json_t *stats)
{
	json_t *per_rule = json_object();
	for (size_t i = 0; i < st->nrules; i++)
		json_object_set_new(per_rule, sr_rules_rule_name(rules, i),
		                    json_pack("{s:I,s:I}", "failed", (json_int_t)st->rule_failed[i],
		                              "not_applied", (json_int_t)st->rule_not_applied[i]));
	json_object_set_new(stats, "rules_file", json_string(sr_rules_name(rules)));
	json_object_set_new(stats, "rules", per_rule);
	json_object_set(stats, "labels", st->labels);
	json_object_set(stats, "guidelines", st->guidelines);
	json_object_set(stats, "judge", st->verdicts);
}

void filter_stats_release(struct filter_stats *st)
{
	free(st->rule_failed);
	free(st->rule_not_applied);
	json_decref(st->labels);
	json_decref(st->guidelines);
	json_decref(st->verdicts);
	memset(st, 0, sizeof *st);
}
