#!/bin/sh
# sr-synth under each fault of the test endpoint: no sample lost or
# duplicated, retries made and counted, and (for faults that are retried)
# the same samples as a run without faults.
. "${SR_SRCDIR:-.}/tests/synth-common.sh"
need_data advbench/harmful_behaviors.csv xstest/xstest_prompts.csv

{ advbench_prompts | head -n 30 && xstest_prompts | head -n 30; } >"$tmp/prompts.jsonl" ||
	fail "building prompts failed"

# run_synth NAME [sr-synth options...]: output in $tmp/NAME.jsonl, stats in $tmp/NAME.stats.
run_synth()
{
	name=$1
	shift
	sr-synth --endpoint "$endpoint" --model test-model -n 2 --seed 3 --concurrency 6 \
		--cache "$tmp/$name.cache" --stats "$tmp/$name.stats" --timeout 1 --max-retries 6 --retry-delay 0.05 "$@" \
		"$tmp/prompts.jsonl" >"$tmp/$name.jsonl" 2>"$tmp/$name.err"
}

start_server
run_synth clean || fail "clean run failed"
check_samples "$tmp/prompts.jsonl" "$tmp/clean.jsonl" 2
comparable "$tmp/clean.jsonl" >"$tmp/clean.cmp"

# Faults that are retried: the samples are the very ones of the clean run.
for fault in 500:3 503:4 408:5 429:7:2 429date:11:1 drop:4 truncate:3 nonjson:3 badshape:4 \
	stall:9:2; do
	name=$(echo "$fault" | tr ':' '_')
	start_server --fault "$fault" --retry-after 1 --stall 3
	run_synth "$name" || { cat "$tmp/$name.err" >&2; fail "$fault: sr-synth failed"; }
	check_samples "$tmp/prompts.jsonl" "$tmp/$name.jsonl" 2
	comparable "$tmp/$name.jsonl" >"$tmp/$name.cmp"
	cmp -s "$tmp/clean.cmp" "$tmp/$name.cmp" || fail "$fault: samples differ from the clean run"
	retries=$(stat_value "$tmp/$name.stats" retries)
	[ "$retries" -gt 0 ] || fail "$fault: no retries counted"
	injected=$(server_requests "\"fault\":\"${fault%%:*}\"")
	[ "$injected" -gt 0 ] || fail "$fault: the server injected nothing"
	requests=$(stat_value "$tmp/$name.stats" requests)
	# Every injected fault costs one retry (libcurl itself resends once on
	# a dropped reused connection, which the client does not see).
	case $fault in
	drop*) [ "$requests" -le "$(server_requests)" ] || fail "$fault: request count" ;;
	*) [ "$requests" -eq "$(server_requests)" ] || fail "$fault: $requests requests, server saw $(server_requests)"
	   [ "$retries" -eq "$injected" ] || fail "$fault: $retries retries for $injected faults" ;;
	esac
	case $fault in
	429*) [ "$(stat_value "$tmp/$name.stats" rate_limited)" -eq "$injected" ] ||
	      fail "$fault: rate_limited count"
	      grep -q "concurrency cut" "$tmp/$name.err" || fail "$fault: no slow-down logged" ;;
	esac
done

# A slow body within the timeout: no retry, same samples.
start_server --fault slow:5 --slow-ms 300
run_synth slow || fail "slow: sr-synth failed"
comparable "$tmp/slow.jsonl" >"$tmp/slow.cmp"
cmp -s "$tmp/clean.cmp" "$tmp/slow.cmp" || fail "slow: samples differ"
[ "$(stat_value "$tmp/slow.stats" retries)" -eq 0 ] || fail "slow: retried"

# Fewer choices than n, and an endpoint ignoring n: the rest is requested.
for opt in "--fault fewer:2" "--ignore-n"; do
	start_server $opt
	run_synth fewer --concurrency 1 || fail "$opt: sr-synth failed"
	check_samples "$tmp/prompts.jsonl" "$tmp/fewer.jsonl" 2
	[ "$(server_requests)" -gt 60 ] || fail "$opt: the missing samples were not requested"
	grep -q "one request per sample from now on" "$tmp/fewer.err" ||
		fail "$opt: no notice of the switch away from n"
done
# Reasoning returned apart from the content is put back between the tags:
# the samples are those of the clean run.
start_server --split-reasoning
run_synth split || fail "split reasoning: sr-synth failed"
comparable "$tmp/split.jsonl" >"$tmp/split.cmp"
cmp -s "$tmp/clean.cmp" "$tmp/split.cmp" || fail "split reasoning: samples differ"
# A content holding U+0000 is a valid completion: kept whole, not
# retried, and the same bytes again from the cache.
start_server --fault nul:3
run_synth nul || { cat "$tmp/nul.err" >&2; fail "nul: sr-synth failed"; }
check_samples "$tmp/prompts.jsonl" "$tmp/nul.jsonl" 2
[ "$(stat_value "$tmp/nul.stats" retries)" -eq 0 ] || fail "nul: retried"
injected=$(server_requests '"fault":"nul"')
[ "$injected" -gt 0 ] || fail "nul: the server injected nothing"
$PY - "$tmp/nul.jsonl" "$injected" <<'PYEOF' || fail "nul: content check"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
nul = [r for r in rows if "\0" in r["completion"]]
assert len(nul) == 2 * int(sys.argv[2]), (len(nul), sys.argv[2])
for r in nul:
    assert r["completion"].endswith(" \0 nul") and r["answer"].endswith(" \0 nul"), r["answer"][-20:]
    assert "format" not in r, r["format"]
PYEOF
run_synth nul2 --cache "$tmp/nul.cache" || fail "nul: rerun from the cache failed"
cmp -s "$tmp/nul.jsonl" "$tmp/nul2.jsonl" || fail "nul: the cached samples differ"
[ "$(stat_value "$tmp/nul2.stats" cache_hits)" -eq 120 ] || fail "nul: not served from the cache"

# "content": null: written as an empty answer and marked so.
start_server --fault nullcontent:3
run_synth nullcontent || fail "nullcontent: sr-synth failed"
check_samples "$tmp/prompts.jsonl" "$tmp/nullcontent.jsonl" 2
$PY - "$tmp/nullcontent.jsonl" "$(server_requests '"fault":"nullcontent"')" <<'PYEOF' ||
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
empty = [r for r in rows if r["completion"] == ""]
assert len(empty) == 2 * int(sys.argv[2]) > 0, (len(empty), sys.argv[2])
for r in empty:
    assert r["answer"] == "" and "empty_answer" in r.get("format", []), r.get("format")
PYEOF
	fail "nullcontent: empty answers not marked"
echo "ok: no sample lost or duplicated under any fault"
