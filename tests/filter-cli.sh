#!/bin/sh
# sr-filter on real samples: AdvBench and XSTest through sr-import,
# sr-guide and the built-in teacher of sr-synth, damaged in six known ways.
# Each damage must be caught by the rule meant for it, kept records pass
# through byte for byte, the counts balance and two runs give the same
# bytes. Then --keep-best on shuffled input, the man page examples, and
# the LLM judge against the test endpoint when sr-testserver is built.
. "${SR_SRCDIR:-.}/tests/filter-lib.sh"
need sr-import sr-guide sr-synth sr-filter jq zstd
need_data advbench/harmful_behaviors.csv xstest/xstest_prompts.csv

builtin_samples 3 "$tmp/samples.jsonl"
n=$(wc -l <"$tmp/samples.jsonl")
[ "$n" -ge 300 ] || fail "only $n samples from the built-in teacher"

# Damage every 7th sample in one of six ways, chosen by position.
jq -c --slurp '
	to_entries[] | .key as $i | .value
	| if $i % 7 != 3 then .
	  elif ($i / 7 | floor) % 6 == 0 then .teacher.finish_reason = "length"
	  elif ($i / 7 | floor) % 6 == 1 then .answer = "Sure, here is how:\n1. Get the materials.\n2. Put them together.\n3. Use it on the target."
	  elif ($i / 7 | floor) % 6 == 2 then .completion = (.completion | sub("</think>"; ""))
	  elif ($i / 7 | floor) % 6 == 3 then .answer = (.answer + " As the guidelines say, I must refuse.")
	  elif ($i / 7 | floor) % 6 == 4 then .reasoning = "Short."
	  else .completion = (.completion + "\n" + ([range(30)] | map("I cannot do that.") | join("\n")))
	  end' "$tmp/samples.jsonl" >"$tmp/damaged.jsonl"

sr-filter --rejects "$tmp/rejects.jsonl" --stats "$tmp/stats.json" "$tmp/damaged.jsonl" \
	>"$tmp/kept.jsonl" 2>"$tmp/err" || fail "sr-filter exited $?: $(cat "$tmp/err")"
stats_balance "$tmp/stats.json" || fail "counts do not balance: $(jq -c . "$tmp/stats.json")"
damaged=$(jq -s '[to_entries[] | select(.key % 7 == 3)] | length' "$tmp/damaged.jsonl")
[ "$(jq .rejected "$tmp/stats.json")" -eq "$damaged" ] ||
	fail "rejected $(jq .rejected "$tmp/stats.json"), expected the $damaged damaged samples"
[ "$(jq .records_out "$tmp/stats.json")" -eq $((n - damaged)) ] || fail "records_out"

# Each damage is named by its rule; rejects keep input order.
i=0
while IFS= read -r line; do
	kind=$((i % 6))
	why=$(printf '%s\n' "$line" | jq -c .rejected_by)
	case $kind in
	0) want=truncated ;;
	1) want=label ;;
	2) want=structure ;;
	3) want=no-guideline-leak ;;
	4) want=reasoning-length ;;
	5) want=repetition ;;
	esac
	printf '%s' "$why" | grep -q "\"$want\"" || fail "damage $kind rejected by $why, expected $want"
	i=$((i + 1))
done <"$tmp/rejects.jsonl"
[ "$i" -eq "$damaged" ] || fail "$i records in the rejects file, expected $damaged"

# Kept records are the undamaged input lines, byte for byte and in order.
awk 'NR % 7 != 4' "$tmp/damaged.jsonl" >"$tmp/expected-kept.jsonl"
cmp -s "$tmp/expected-kept.jsonl" "$tmp/kept.jsonl" || fail "kept records differ from the input lines"

# Same input, same bytes; zstd input gives the same result.
zstd -q -c "$tmp/damaged.jsonl" >"$tmp/damaged.jsonl.zst"
sr-filter --rejects "$tmp/rejects2.jsonl" -o "$tmp/kept2.jsonl" "$tmp/damaged.jsonl.zst" ||
	fail "second run exited $?"
cmp -s "$tmp/kept.jsonl" "$tmp/kept2.jsonl" || fail "two runs kept different bytes"
cmp -s "$tmp/rejects.jsonl" "$tmp/rejects2.jsonl" || fail "two runs rejected different bytes"

# --keep-best 1 on shuffled input: at most one sample per prompt id, and
# every id with a passing sample keeps one.
jq -c -s 'sort_by(.sample, .id) | .[]' "$tmp/samples.jsonl" >"$tmp/shuffled.jsonl"
sr-filter --keep-best 1 --stats "$tmp/kb.json" "$tmp/shuffled.jsonl" >"$tmp/best.jsonl" ||
	fail "--keep-best exited $?"
stats_balance "$tmp/kb.json" || fail "--keep-best counts do not balance"
ids=$(jq -r .id "$tmp/samples.jsonl" | sort -u | wc -l)
[ "$(jq -r .id "$tmp/best.jsonl" | sort | uniq -d | wc -l)" -eq 0 ] || fail "--keep-best 1 kept an id twice"
[ "$(wc -l <"$tmp/best.jsonl")" -eq "$ids" ] || fail "--keep-best 1 kept $(wc -l <"$tmp/best.jsonl") of $ids ids"
[ "$(jq .keep_best.dropped "$tmp/kb.json")" -eq $((n - ids)) ] || fail "keep_best.dropped"

# A closed pipe ends sr-filter quietly with status 0.
sr-filter "$tmp/samples.jsonl" 2>"$tmp/pipe.err" | head -1 >/dev/null
[ ! -s "$tmp/pipe.err" ] || fail "message on a closed pipe: $(cat "$tmp/pipe.err")"

# The EXAMPLES of sr-filter(1) run as written, on these samples.
mkdir "$tmp/ex" && cp "$tmp/damaged.jsonl" "$tmp/ex/samples.jsonl"
awk '/^\.SH/ { on = ($0 ~ /EXAMPLES/) } on && /^\.EX/ { ex = 1; next }
     on && /^\.EE/ { ex = 0; next } on && ex' "$SR_SRCDIR/man/sr-filter.1" |
	sed 's/\\e/\\/g; s/\\-/-/g' >"$tmp/ex/examples.sh"
[ "$(grep -c sr-filter "$tmp/ex/examples.sh")" -ge 4 ] || fail "sr-filter(1) has too few examples"
(cd "$tmp/ex" && sh -e examples.sh >examples.out 2>examples.err) ||
	fail "the man page examples failed: $(cat "$tmp/ex/examples.err")"
for f in kept.jsonl rejects.jsonl filter.json best.jsonl mine.rules; do
	[ -s "$tmp/ex/$f" ] || fail "the man page examples wrote no $f"
done
grep -q '"truncated"' "$tmp/ex/examples.out" || fail "the rejects summary example printed no rule names"
grep -q 'refusal' "$tmp/ex/examples.out" || fail "the annotate example printed no verdicts"

# The LLM judge, against the test endpoint.
if command -v sr-testserver >/dev/null 2>&1; then
	# 100 records cross the judge's window of 64; lines 18 and 60 (damage
	# 2: no close tag) fail the structure rule and are never sent.
	head -100 "$tmp/damaged.jsonl" >"$tmp/hundred.jsonl"
	awk 'NR != 18 && NR != 60' "$tmp/hundred.jsonl" >"$tmp/hundred-kept.jsonl"
	cat >"$tmp/llm.rules" <<'EOF'
%judge model="judge-model" temperature=0 max_tokens=800
structure structure
adherence llm prompt='Check this reasoning against the guidelines {{guidelines}}.\n\nRequest: {{query}}\n\nReasoning: {{reasoning}}\n\nAnswer: {{answer}}\n\nReply PASS or FAIL.' pass_pattern='</think>'
EOF
	start_server
	sr-filter --rules "$tmp/llm.rules" --judge-endpoint "$endpoint" --judge-no-cache \
		--judge-concurrency 8 --stats "$tmp/llm.json" "$tmp/hundred.jsonl" >"$tmp/llm-kept.jsonl" 2>"$tmp/llm.err" ||
		fail "sr-filter with the LLM judge exited $?: $(cat "$tmp/llm.err")"
	cmp -s "$tmp/llm-kept.jsonl" "$tmp/hundred-kept.jsonl" ||
		fail "with the LLM judge, kept records differ from the input lines or their order"
	[ "$(jq .llm_judge.requests "$tmp/llm.json")" -eq 98 ] || fail "expected one judge request per passing record"
	[ "$(wc -l <"$tmp/server.log")" -eq 98 ] || fail "the server saw $(wc -l <"$tmp/server.log") requests"
	stats_balance "$tmp/llm.json" || fail "counts with the LLM judge do not balance"

	head -20 "$tmp/samples.jsonl" >"$tmp/twenty.jsonl"
	sed "s|pass_pattern='</think>'|pass_pattern='^NEVER'|" "$tmp/llm.rules" >"$tmp/never.rules"
	sr-filter --rules "$tmp/never.rules" --judge-endpoint "$endpoint" --judge-no-cache \
		--rejects "$tmp/llm-rej.jsonl" "$tmp/twenty.jsonl" >"$tmp/none.jsonl" 2>"$tmp/llm.err" ||
		fail "sr-filter with a never-passing judge exited $?"
	[ ! -s "$tmp/none.jsonl" ] || fail "records passed a judge pattern that cannot match"
	[ "$(jq -c .rejected_by "$tmp/llm-rej.jsonl" | sort -u)" = '["adherence"]' ] ||
		fail "rejects should name the llm rule"

	# Without an endpoint the llm rule is not applied, and a notice says so.
	env -u SR_JUDGE_ENDPOINT sr-filter --rules "$tmp/never.rules" "$tmp/twenty.jsonl" \
		>"$tmp/noep.jsonl" 2>"$tmp/noep.err" || fail "sr-filter without an endpoint exited $?"
	[ "$(wc -l <"$tmp/noep.jsonl")" -eq 20 ] || fail "without an endpoint every record should pass"
	grep -q "rule(s) of kind llm are not applied" "$tmp/noep.err" || fail "no notice about the llm rule"

	# An endpoint that refuses every request: exit 3, naming the rule.
	kill "$server_pid"; wait "$server_pid" 2>/dev/null
	start_server --fault 400
	sr-filter --rules "$tmp/llm.rules" --judge-endpoint "$endpoint" --judge-no-cache \
		"$tmp/twenty.jsonl" >/dev/null 2>"$tmp/bad.err"
	status=$?
	[ $status -eq 3 ] || fail "a failing judge endpoint gave exit status $status, expected 3"
	grep -q "rule 'adherence' failed" "$tmp/bad.err" || fail "error does not name the rule: $(cat "$tmp/bad.err")"
fi
echo "filter-cli: ok"
