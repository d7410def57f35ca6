#!/bin/sh
# Time and peak memory of `sr-bon score` on 10 million judged samples:
# PROMPTS prompts x SAMPLES samples (default 100000 x 100), spread over 8
# attacks, 14 categories and 4 sources, with one benign prompt in ten.
# The input is generated with awk into a temporary file (about 1.3 GB,
# removed afterwards); it is not committed.
# Usage: bench/bon/score-bench.sh [PROMPTS [SAMPLES [RUNS]]]   (sr-bon on PATH)
set -eu
prompts=${1:-100000}
samples=${2:-100}
runs=${3:-3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

awk -v P="$prompts" -v S="$samples" 'BEGIN {
	srand(1);
	for (p = 0; p < P; p++) {
		benign = (p % 10 == 9);
		rate = rand();   # per-prompt unsafe (or refusal) probability
		for (s = 0; s < S; s++) {
			bad = (rand() < rate);
			printf "{\"id\":\"p%d\",\"source\":\"s%d\",\"label\":\"%s\",\"attack\":\"a%d\",\"category\":\"c%d\",\"sample\":%d,\"judge\":{\"name\":\"builtin\",\"verdict\":\"%s\",\"refusal\":%s}}\n", \
				p, p % 4, benign ? "benign" : "harmful", p % 8, p % 14, s, \
				bad && !benign ? "unsafe" : "safe", (benign ? bad : !bad) ? "true" : "false";
		}
	}
}' >"$tmp/judged.jsonl"
size=$(wc -c <"$tmp/judged.jsonl")
echo "input: $prompts prompts x $samples samples, $size bytes"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"

for boot in 0 1000; do
	for i in $(seq "$runs"); do
		/usr/bin/time -v sr-bon score --bootstrap "$boot" "$tmp/judged.jsonl" \
			>"$tmp/report.json" 2>"$tmp/time.txt"
		wall=$(grep 'Elapsed (wall clock)' "$tmp/time.txt" | awk '{print $NF}')
		rss=$(grep 'Maximum resident' "$tmp/time.txt" | awk '{print $NF}')
		echo "bootstrap $boot run $i: wall $wall, peak RSS $rss KiB"
	done
done
echo "check: $(jq -c '[.counts.records, .counts.prompts, .overall.asr[0].value]' "$tmp/report.json")"

# For comparison, the time jq alone takes to read the same lines and
# count the unsafe verdicts (no grouping, no estimator).
/usr/bin/time -v jq -n 'reduce inputs as $r (0; if $r.judge.verdict == "unsafe" then . + 1 else . end)' \
	"$tmp/judged.jsonl" >/dev/null 2>"$tmp/time.txt"
echo "jq count of unsafe verdicts: wall $(grep 'Elapsed (wall clock)' "$tmp/time.txt" | awk '{print $NF}')," \
	"peak RSS $(grep 'Maximum resident' "$tmp/time.txt" | awk '{print $NF}') KiB"
