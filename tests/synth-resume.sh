#!/bin/sh
# kill -9 in the middle of a run, a cache whose last line was cut, then a
# rerun: the output equals that of a clean run, and only the samples that
# were not cached are requested again. Also SIGINT, an orderly stop.
. "${SR_SRCDIR:-.}/tests/synth-common.sh"
need_data advbench/harmful_behaviors.csv

advbench_prompts | head -n 200 >"$tmp/prompts.jsonl" || fail "building prompts failed"
export OPENAI_API_KEY="sk-resume-test-$$"
start_server --latency 20

# wait_for_lines FILE N: until FILE has N lines (at most 10 s).
wait_for_lines()
{
	i=0
	while [ "$(cat "$1" 2>/dev/null | wc -l)" -lt "$2" ] && [ $i -lt 1000 ]; do
		sleep 0.01
		i=$((i + 1))
	done
}

synth()
{
	sr-synth --endpoint "$endpoint" --model test-model -n 2 --seed 11 --concurrency 4 "$@" \
		"$tmp/prompts.jsonl"
}

synth --cache "$tmp/clean.cache" >"$tmp/clean.jsonl" 2>"$tmp/clean.err" || fail "clean run failed"
check_samples "$tmp/prompts.jsonl" "$tmp/clean.jsonl" 2
comparable "$tmp/clean.jsonl" >"$tmp/clean.cmp"

# 200 requests of 20 ms, 4 at a time, take about a second: kill early on.
# Started directly, not through the shell function, so that $! is sr-synth.
sr-synth --endpoint "$endpoint" --model test-model -n 2 --seed 11 --concurrency 4 \
	--cache "$tmp/cache" -o "$tmp/out.jsonl" "$tmp/prompts.jsonl" 2>"$tmp/killed.err" &
pid=$!
wait_for_lines "$tmp/cache" 20
kill -9 $pid
wait $pid 2>/dev/null
[ ! -e "$tmp/out.jsonl" ] || fail "a killed run left an output file behind"
cached=$(wc -l <"$tmp/cache")
[ "$cached" -gt 0 ] && [ "$cached" -lt 400 ] ||
	fail "expected a partly filled cache after the kill, found $cached lines"

# A crash in the middle of a write leaves a cut last line.
printf '{"key":"0123456789abcdef0123456789abcdef","text":"cut sh' >>"$tmp/cache"

before=$(server_requests)
synth --cache "$tmp/cache" --stats "$tmp/stats.json" -o "$tmp/out.jsonl" 2>"$tmp/resume.err" ||
	{ cat "$tmp/resume.err" >&2; fail "the resumed run failed"; }
grep -q "repaired cache" "$tmp/resume.err" || fail "no message about the repaired cache"
check_samples "$tmp/prompts.jsonl" "$tmp/out.jsonl" 2
comparable "$tmp/out.jsonl" >"$tmp/out.cmp"
cmp -s "$tmp/clean.cmp" "$tmp/out.cmp" || fail "resumed output differs from the clean run"

# Only the missing samples went out: one request per prompt with any
# sample missing, and every cached sample was used.
sent=$(($(server_requests) - before))
hits=$(stat_value "$tmp/stats.json" cache_hits)
[ "$hits" -eq "$cached" ] || fail "$hits samples from the cache, expected $cached"
missing=$((400 - cached))
[ "$sent" -ge $(((missing + 1) / 2)) ] && [ "$sent" -le "$missing" ] ||
	fail "$sent requests for $missing missing samples"
[ "$(wc -l <"$tmp/cache")" -eq 400 ] || fail "the cache should now hold all 400 samples"

# Once more: nothing left to send, same bytes.
before=$(server_requests)
synth --cache "$tmp/cache" -o "$tmp/again.jsonl" 2>/dev/null || fail "third run failed"
cmp -s "$tmp/out.jsonl" "$tmp/again.jsonl" || fail "a run from a full cache differs"
[ "$(server_requests)" -eq "$before" ] || fail "a run from a full cache sent requests"
# SIGINT: an orderly stop. The samples done are written, the rest are in
# --failed as aborted, the exit status is 3, and a rerun completes.
sr-synth --endpoint "$endpoint" --model test-model -n 2 --seed 11 --concurrency 4 \
	--cache "$tmp/int.cache" --failed "$tmp/int.failed" -o "$tmp/int.jsonl" \
	"$tmp/prompts.jsonl" 2>"$tmp/int.err" &
pid=$!
wait_for_lines "$tmp/int.cache" 20
kill -INT $pid
wait $pid
status=$?
[ $status -eq 3 ] || fail "SIGINT: exit status $status, expected 3"
grep -q "interrupted by SIGINT" "$tmp/int.err" || fail "SIGINT: no message"
[ -s "$tmp/int.jsonl" ] || fail "SIGINT: the samples done were not written"
[ -s "$tmp/int.failed" ] || fail "SIGINT: nothing listed as aborted"
grep -q '"kind":"aborted"' "$tmp/int.failed" || fail "SIGINT: failed samples are not aborted"
check_samples "$tmp/prompts.jsonl" "$tmp/int.jsonl" 2 "$tmp/int.failed"
sr-synth --endpoint "$endpoint" --model test-model -n 2 --seed 11 --concurrency 4 \
	--cache "$tmp/int.cache" -o "$tmp/int2.jsonl" "$tmp/prompts.jsonl" 2>/dev/null ||
	fail "SIGINT: the rerun failed"
comparable "$tmp/int2.jsonl" >"$tmp/int2.cmp"
cmp -s "$tmp/clean.cmp" "$tmp/int2.cmp" || fail "SIGINT: the rerun differs from the clean run"

for f in cache clean.cache out.jsonl killed.err resume.err int.err int.failed; do
	if grep -q -- "$OPENAI_API_KEY" "$tmp/$f"; then fail "the API key appears in $f"; fi
done
echo "ok: kill -9 and resume"
