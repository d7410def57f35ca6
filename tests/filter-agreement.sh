#!/bin/sh
# The built-in judge on real model responses with automatic labels
# (bench/filter/judge-agreement.sh): its refusal flag must agree with the
# refusal-phrase labels of refusal_direction on at least 95% of responses,
# and with the GPT-4 judge of llm_past_tense on at least 80%. Both label
# sets are automatic, so the floors leave room for their own errors.
. "${SR_SRCDIR:-.}/tests/filter-lib.sh"
need sr-filter jq
[ -d "$SR_SHARED/data/refusal_direction/completions" ] &&
	[ -d "$SR_SHARED/data/llm_past_tense/jailbreak_artifacts" ] ||
	{ echo "SKIP: shared data sets not found under $SR_SHARED/data" >&2; exit 77; }

sh "$SR_SRCDIR/bench/filter/judge-agreement.sh" "$SR_SHARED/data" "$tmp/table.md" ||
	fail "judge-agreement.sh exited $?"
cat "$tmp/table.md"

# column 5 is the refusal-phrase agreement, column 7 the GPT-4 judge's
value()
{
	grep -F "| **$1** |" "$tmp/table.md" | awk -F'|' -v c="$2" '{ gsub(/[ %]/, "", $c); print $c }'
}
rd=$(value "refusal_direction, all" 5)
pt=$(value "llm_past_tense, all" 7)
[ -n "$rd" ] && [ -n "$pt" ] || fail "summary rows missing from the table"
awk -v v="$rd" 'BEGIN { exit !(v >= 95) }' || fail "agreement on refusal_direction is $rd%, below 95%"
awk -v v="$pt" 'BEGIN { exit !(v >= 80) }' || fail "agreement with the GPT-4 judge is $pt%, below 80%"
echo "filter-agreement: refusal_direction $rd%, llm_past_tense (GPT-4 judge) $pt%"
