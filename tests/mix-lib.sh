# mix-lib.sh - helpers sourced by the sr-mix and sr-shard tests.

# gen_samples SOURCE LABEL PROMPTS SAMPLES: write sample records to stdout,
# ids SOURCE-1 ... SOURCE-PROMPTS with samples 0 .. SAMPLES-1 each.
gen_samples() {
	awk -v src="$1" -v label="$2" -v n="$3" -v k="$4" 'BEGIN {
		for (i = 1; i <= n; i++) for (s = 0; s < k; s++) {
			printf "{\"id\":\"%s-%d\",\"source\":\"%s\",\"label\":\"%s\",", src, i, src, label
			printf "\"query\":\"Question %d of %s\",", i, src
			printf "\"guidelines\":{\"set\":\"default\",\"version\":\"1.0.0\",\"ids\":[\"intent\"],"
			printf "\"tags\":{\"open\":\"<think>\",\"close\":\"</think>\"}},"
			printf "\"request\":{\"messages\":[{\"role\":\"system\",\"content\":\"GUIDELINES\"},"
			printf "{\"role\":\"user\",\"content\":\"Question %d of %s\"}]},", i, src
			printf "\"sample\":%d,\"teacher\":{\"model\":\"test\"},", s
			printf "\"completion\":\"<think>\\nReasoning %d.%d\\n</think>\\n\\nAnswer %d.%d\",", i, s, i, s
			printf "\"reasoning\":\"Reasoning %d.%d\",\"answer\":\"Answer %d.%d\"}\n", i, s, i, s
		}
	}'
}

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# stats_balance FILE: records_in = records_out + skipped + rejected +
# duplicates + failed in a --stats file (sr-synth counts samples, so the
# same sum holds there).
stats_balance() {
	jq -e '.records_in == .records_out + .skipped + (.rejected // 0)
		+ (.duplicates // 0) + (.failed // 0)' "$1" >/dev/null
}

# need_tools TOOL...: exit 77 (skip) naming the first tool not built yet.
need_tools() {
	for t in "$@"; do
		command -v "$t" >/dev/null 2>&1 || { echo "SKIP: $t is not built yet"; exit 77; }
	done
}

# start_testserver DIR: run tests/sr-testserver on a free port of
# 127.0.0.1 and point SR_ENDPOINT and SR_MODEL at it. Sets server_pid; the
# caller stops it with stop_testserver.
start_testserver() {
	rm -f "$1/port"
	sr-testserver --port-file "$1/port" --log "$1/server.log" >/dev/null 2>"$1/server.err" &
	server_pid=$!
	i=0
	while [ ! -s "$1/port" ]; do
		i=$((i + 1))
		[ "$i" -le 100 ] || { echo "sr-testserver did not start: $(cat "$1/server.err")" >&2; return 1; }
		sleep 0.1
	done
	SR_ENDPOINT="http://127.0.0.1:$(cat "$1/port")/v1"
	SR_MODEL=srkit-test
	export SR_ENDPOINT SR_MODEL
}

stop_testserver() {
	[ -z "${server_pid:-}" ] || kill "$server_pid" 2>/dev/null
	server_pid=
}

# check_demo_output DIR: the checks every run of scripts/demo.sh must pass.
check_demo_output() {
	d=$1
	for f in "$d"/stats/*.json; do
		stats_balance "$f" || fail "$f: records_in does not equal the sum of the other counts: $(jq -c . "$f")"
	done
	sr-shard verify "$d/srg" "$d/rt" 2>/dev/null || fail "sr-shard verify $d"
	# Each stage reads what the one before it wrote.
	[ "$(jq .records_in "$d/stats/filter.json")" -eq "$(jq .records_out "$d/stats/synth.json")" ] ||
		fail "sr-filter read a different number of records than sr-synth wrote"
	[ "$(jq .records_in "$d/stats/dedup.json")" -eq "$(jq .records_out "$d/stats/filter.json")" ] ||
		fail "sr-dedup read a different number of records than sr-filter kept"
	for f in srg rt; do
		[ "$(jq .records_in "$d/stats/mix-$f.json")" -eq "$(jq .records_out "$d/stats/dedup.json")" ] ||
			fail "sr-mix --format $f read a different number of records than sr-dedup wrote"
	done
	[ "$(jq .records_out "$d/stats/mix-srg.json")" -gt 0 ] || fail "the mix is empty"
	# The reasoning set and its control hold the same samples on each side.
	for split in train val; do
		sr-shard cat --split "$split" "$d/srg" | jq -r '"\(.id) \(.sample)"' | sort >"$d/srg.$split"
		sr-shard cat --split "$split" "$d/rt" | jq -r '"\(.id) \(.sample)"' | sort >"$d/rt.$split"
		cmp -s "$d/srg.$split" "$d/rt.$split" || fail "srg and rt $split splits hold different samples"
	done
	# srg has the reasoning in tags, rt the answer alone; the user turn is
	# the bare query and the teacher's system prompt is in no example.
	sr-shard cat "$d/srg" | jq -e -s 'all(.[]; .messages[-1].content | startswith("<think>\n"))' >/dev/null ||
		fail "an srg assistant turn does not start with the reasoning tag"
	sr-shard cat "$d/rt" | jq -e -s 'all(.[]; .messages[-1].content | contains("<think>") | not)' >/dev/null ||
		fail "an rt assistant turn holds reasoning"
	jq -r '.query' "$d/unique.jsonl" | sort -u >"$d/queries"
	sr-shard cat "$d/srg" | jq -r '.messages[] | select(.role == "user") | .content' | sort -u >"$d/users"
	[ -z "$(comm -13 "$d/queries" "$d/users")" ] || fail "a user turn is not a query of the input"
	head -n 1 "$d/prompts.jsonl" | jq -r '.request.messages[0].content' | head -c 80 >"$d/system-start"
	[ -s "$d/system-start" ] || fail "no teacher system prompt found in prompts.jsonl"
	sr-shard cat "$d/srg" "$d/rt" | grep -qF -f "$d/system-start" &&
		fail "the teacher's system prompt leaked into the training examples"
	return 0
}
