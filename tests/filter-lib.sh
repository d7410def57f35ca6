# Shared helpers for sr-filter's shell tests. Source it; it sets $tmp
# (removed on exit) and defines fail, need and the sample builders.
set -u
tmp=$(mktemp -d) || exit 99
server_pid=
trap '[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$tmp"' EXIT

fail()
{
	echo "FAIL: $*" >&2
	exit 1
}

need()
{
	for t in "$@"; do
		command -v "$t" >/dev/null 2>&1 || { echo "SKIP: $t not found" >&2; exit 77; }
	done
}

need_data()
{
	for f in "$@"; do
		[ -f "$SR_SHARED/data/$f" ] || { echo "SKIP: $SR_SHARED/data/$f not found" >&2; exit 77; }
	done
}

# stats_balance FILE: records_in = records_out + skipped + rejected.
stats_balance()
{
	jq -e '.records_in == .records_out + .skipped + .rejected' "$1" >/dev/null
}

# builtin_samples N OUT: sample records from the built-in teacher for the
# first 40 AdvBench behaviours and the unsafe XSTest prompts, N per prompt.
builtin_samples()
{
	{
		sr-import -l harmful "$SR_SHARED/data/advbench/harmful_behaviors.csv" | head -40
		sr-import --label-map safe=benign,unsafe=harmful "$SR_SHARED/data/xstest/xstest_prompts.csv" |
			jq -c 'select(.label == "harmful")'
	} | sr-guide >"$tmp/prompts.jsonl" || fail "building prompts failed"
	env -u SR_ENDPOINT -u OPENAI_BASE_URL sr-synth -n "$1" --failed "$tmp/synth-failed.jsonl" \
		"$tmp/prompts.jsonl" >"$2" 2>"$tmp/synth.err" || fail "sr-synth failed: $(tail -3 "$tmp/synth.err")"
}

# start_server: run sr-testserver on a free port; sets $endpoint.
start_server()
{
	rm -f "$tmp/port"
	sr-testserver --port-file "$tmp/port" --log "$tmp/server.log" "$@" >/dev/null &
	server_pid=$!
	i=0
	while [ ! -s "$tmp/port" ]; do
		i=$((i + 1))
		[ $i -lt 500 ] || fail "sr-testserver did not start"
		sleep 0.01
	done
	endpoint="http://127.0.0.1:$(cat "$tmp/port")/v1"
}
