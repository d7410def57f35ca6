#!/bin/sh
# The main job, scripts/demo.sh, on the bundled sample data: with the
# built-in teacher (twice, to check that the whole pipeline is
# reproducible) and against the test endpoint.
set -u
. "${SR_SRCDIR:-.}/tests/mix-lib.sh"
need_tools sr-import sr-guide sr-synth sr-filter sr-dedup sr-mix sr-shard jq
tmp=$(mktemp -d) || exit 99
trap 'stop_testserver; rm -rf "$tmp"' EXIT
cd "$tmp" || exit 99
unset SR_ENDPOINT SR_MODEL OPENAI_BASE_URL

sh "$SR_SRCDIR/scripts/demo.sh" -o one >one.out 2>one.err || fail "demo.sh exited $?: $(tail -5 one.err)"
check_demo_output one
grep -q "built-in teacher" one.out || fail "summary does not name the teacher"
grep -q "left out.*jbb-benign.*xstest-safe" one.out || fail "summary does not name the inputs left out"
grep -q MISMATCH one.out && fail "summary reports a count mismatch"
grep -q "train-00000.jsonl.zst" one.out || fail "summary lists no shard"
[ ! -e one/import/jbb-benign.jsonl ] || fail "benign inputs without references were imported without an endpoint"
for name in advbench jbb-harmful xstest-unsafe alpaca-eval; do
	[ -s "one/import/$name.jsonl" ] || fail "$name was not imported"
done
[ "$(jq .records_out one/stats/import-advbench.json)" -eq 40 ] || fail "advbench sample has 40 rows"

# Another directory, the same bytes: no paths or times in shards or manifests.
sh "$SR_SRCDIR/scripts/demo.sh" -o two >/dev/null 2>two.err || fail "second demo.sh exited $?"
for f in srg/manifest.json rt/manifest.json srg/train-00000.jsonl.zst rt/val-00000.jsonl.zst; do
	cmp -s "one/$f" "two/$f" || fail "$f differs between two runs"
done

if command -v sr-testserver >/dev/null 2>&1; then
	start_testserver "$tmp" || fail "cannot start sr-testserver"
	OPENAI_API_KEY=srkit-test-key sh "$SR_SRCDIR/scripts/demo.sh" -o live >live.out 2>live.err ||
		fail "demo.sh against the test endpoint exited $?: $(tail -5 live.err)"
	check_demo_output live
	[ -s live/import/jbb-benign.jsonl ] && [ -s live/import/xstest-safe.jsonl ] ||
		fail "benign inputs without references were left out with an endpoint"
	grep -q "endpoint $SR_ENDPOINT" live.out || fail "summary does not name the endpoint"
	grep -rq srkit-test-key live && fail "the API key was written to the output"
	stop_testserver
fi
echo "pipeline-demo: ok"
