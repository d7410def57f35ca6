#!/bin/sh
# sr-attack's offline transforms on every harmful set of the shared data
# (and XSTest, whose safe prompts check that benign records go through as
# well): each record comes out once per attack with the attack fields set,
# every invertible attack decodes back to base_query (test-attack
# --roundtrip), sr-synth's built-in teacher recognises the attacks it
# claims to, and the output is the same for the same seed.
set -eu
data="$SR_SHARED/data"
[ -d "$data/advbench" ] || { echo "skip: no shared data in '$SR_SHARED'"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

imp() { name=$1; shift; sr-import "$@" >"$name.jsonl"; }
imp advbench-behaviors --label harmful "$data/advbench/harmful_behaviors.csv"
imp advbench-strings --label harmful -m query=target "$data/advbench/harmful_strings.csv"
imp harmbench --label harmful -m category=SemanticCategory "$data/harmbench/harmbench_behaviors_text_all.csv"
imp jbb --label harmful "$data/jailbreakbench/harmful-behaviors.csv"
imp jbb-past --label harmful "$data/llm_past_tense/harmful_behaviors_jailbreakbench.csv"
imp strongreject --label harmful "$data/strongreject/strongreject_dataset.csv"
imp xstest --label-map safe=benign,unsafe=harmful "$data/xstest/xstest_prompts.csv"
for f in harmful_train harmful_val harmful_test; do
	imp "rd-$f" --label harmful "$data/refusal_direction/splits/$f.json"
done
imp malicious-instruct --label harmful "$data/refusal_direction/processed/malicious_instruct.json"
imp tdc2023 --label harmful "$data/refusal_direction/processed/tdc2023.json"

# Requests holding U+0000 (sr-import writes a NUL byte of a CSV that way)
# must round-trip whole.
printf '%s\n' '{"id":"nul-1","source":"nul","label":"harmful","query":"Explain how to pick\u0000 a lock"}' \
	'{"id":"nul-2","source":"nul","label":"harmful","query":"ab\u0000cd"}' >nul.jsonl

attacks=$(sr-attack --list | grep -v '\[model\]' | wc -l)
[ "$attacks" -eq 12 ]
for f in *.jsonl; do
	case $f in *.out.jsonl) continue ;; esac
	n=$(wc -l <"$f")
	[ "$n" -gt 0 ]
	sr-attack --all --seed 7 --stats stats.json "$f" >"${f%.jsonl}.out.jsonl"
	jq -e --argjson n "$n" --argjson a "$attacks" \
		'.records_in == $n and .records_out == $n * $a and .failed == 0 and .skipped == 0' stats.json >/dev/null
	test-attack --roundtrip "${f%.jsonl}.out.jsonl"
	# Every attack changes the query, except leetspeak with no letter to
	# change ("rm -rf /") and past_tense_rules on a question already in the
	# past; labels pass through.
	jq -e -s 'all(.[]; (.query != .base_query or .attack == "leetspeak" or
		.attack == "past_tense_rules") and
		(.label == "harmful" or .label == "benign"))' \
		"${f%.jsonl}.out.jsonl" >/dev/null
	# The rule-based past tense always asks about the past.
	jq -c 'select(.attack == "past_tense_rules" and
		(.query | test("in the past|^(How|What|Who|Where|When|Why|Which) (did|was|were) "; "i") | not)) |
		.query' "${f%.jsonl}.out.jsonl" >odd.txt
	if [ -s odd.txt ]; then
		echo "FAIL: past_tense_rules output not in the past tense:"; head -5 odd.txt; exit 1
	fi
	echo "$f: $n records, $((n * attacks)) attacked records, round trips ok"
done

# sr-synth's built-in teacher recognises the encodings and framings it
# claims to, at the rates test-attack --teacher sets.
if [ -f "$SR_SRCDIR/lib/teacher.h" ]; then
	cat *.out.jsonl >all.out.jsonl
	test-attack --teacher all.out.jsonl
fi

# Same seed, same bytes; another seed, other template variants.
sr-attack --all --seed 7 jbb.jsonl | cmp - jbb.out.jsonl
if sr-attack --all --seed 8 jbb.jsonl | cmp -s - jbb.out.jsonl; then
	echo "FAIL: --seed has no effect"; exit 1
fi
echo ok
