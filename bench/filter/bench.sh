#!/bin/sh
# sr-filter with the default rules against an equivalent jq select, on
# generated sample-like JSONL (gen-samples.py; the data is not committed).
#
# Usage: bench.sh [SIZE_MB] [RUNS]      (defaults: 1100 MB, 3 runs)
# Environment: BENCH_DIR (default /tmp/srkit-bench-filter) holds the data;
# sr-filter and jq are taken from PATH; SRKIT_DATADIR finds the default
# rules and guideline set. Prints a Markdown report on stdout.
#
# The jq program checks what jq can express of the default rules: the
# structure (one open and one close tag, nothing before the open tag, a
# non-empty answer without tags), the length bounds, the two forbidden
# patterns, guideline coverage with the guideline set's own patterns, the
# label rule with the classic refusal-prefix list in place of the judge, a
# rough script check, repeated lines and finish_reason. It leaves out the
# n-gram repetition check, so jq does less work than sr-filter.
set -eu
size=${1:-1100}
runs=${2:-3}
here=$(cd "$(dirname "$0")" && pwd)
dir=${BENCH_DIR:-/tmp/srkit-bench-filter}
datadir=${SRKIT_DATADIR:-$here/../..}
set_json=$datadir/guidelines/default.json
mkdir -p "$dir"
data=$dir/samples-${size}M.jsonl

for t in sr-filter jq /usr/bin/python3 /usr/bin/time; do
	command -v "$t" >/dev/null 2>&1 || { echo "bench.sh: $t not found" >&2; exit 2; }
done
[ -s "$data" ] || /usr/bin/python3 "$here/gen-samples.py" "$set_json" "$size" "$data"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
bytes=$(wc -c <"$data")
records=$(wc -l <"$data")

# The coverage patterns of the set, as {id: [pattern, ...]} for jq.
jq -c '[.guidelines[] | {key: .id, value: .coverage}] | from_entries' "$set_json" >"$dir/coverage.json"
cat >"$dir/filter.jq" <<'EOF'
def count($re): [match($re; "g")] | length;
def refuses: test("^\\s*(I'm sorry|I am sorry|I apologi[sz]e|As an AI|I cannot|I can't|I can not|I won't|I will not|Sorry|I'm not able|I am not able|I'm unable|I am unable|I must decline)");
def covered($cov): . as $r | all($r.guidelines.ids[]; . as $id | any($cov[$id][]; . as $p | $r.reasoning | test($p)));
def latin_share: [explode[] | select((. >= 65 and . <= 90) or (. >= 97 and . <= 122) or (. >= 192 and . <= 591) or (. >= 880))] as $letters
	| if ($letters | length) < 20 then 1 else ([$letters[] | select(. < 880)] | length) / ($letters | length) end;
def line_repeat: [split("\n")[] | select(test("\\S"))] as $l
	| if ($l | length) == 0 then 0 else (($l | length) - ($l | unique | length)) / ($l | length) end;
select(
	(.completion | count("<think>") == 1 and count("</think>") == 1 and test("^\\s*<think>"))
	and (.answer | test("\\S") and (test("</?think>") | not))
	and (.reasoning | length >= 200 and length <= 24000 and (length + 3) / 4 <= 6000)
	and (.answer | length >= 20 and length <= 16000 and (length + 3) / 4 <= 4000)
	and (.answer | test("(?i)\\b(the (safety )?guidelines?|guideline (set|id)|my reasoning (above|tags?)|as (instructed|told) in the system prompt)\\b") | not)
	and (.completion | test("\\{\\{[a-z_]+\\}\\}") | not)
	and covered($cov[0])
	and (if .label == "harmful" then (.answer | refuses) else (.answer | refuses | not) end)
	and (.answer | latin_share >= 0.9)
	and (.completion | line_repeat <= 0.3)
	and (.teacher.finish_reason != "length")
)
EOF

# median of the numbers on standard input
median()
{
	sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# run NAME COMMAND...: time RUNS runs; the kept count goes to $dir/NAME.kept
run()
{
	name=$1
	shift
	: >"$dir/$name.wall"
	: >"$dir/$name.cpu"
	i=0
	while [ $i -lt "$runs" ]; do
		/usr/bin/time -f "%e %U %S %M" -o "$dir/$name.time" "$@" <"$data" >"$dir/$name.out"
		read -r wall user sys rss <"$dir/$name.time"
		echo "$rss" >"$dir/$name.rss"
		echo "$wall" >>"$dir/$name.wall"
		echo "$user $sys" | awk '{ print $1 + $2 }' >>"$dir/$name.cpu"
		i=$((i + 1))
	done
	wc -l <"$dir/$name.out" >"$dir/$name.kept"
	rm -f "$dir/$name.out"
}

run sr-filter sr-filter
run jq jq -c --slurpfile cov "$dir/coverage.json" -f "$dir/filter.jq"

f_wall=$(median <"$dir/sr-filter.wall")
f_cpu=$(median <"$dir/sr-filter.cpu")
j_wall=$(median <"$dir/jq.wall")
j_cpu=$(median <"$dir/jq.cpu")
mb=$(awk -v b="$bytes" 'BEGIN { printf "%.0f", b / 1048576 }')

echo "### sr-filter (default rules) against jq select"
echo
echo "- machine: $(uname -m), $(nproc) cores ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)); load average at start $load_start, at end $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- data: $records sample records, $mb MiB, from bench/filter/gen-samples.py (seeded)"
echo "- commands: \`sr-filter <samples.jsonl >kept.jsonl\` and"
echo "  \`jq -c --slurpfile cov coverage.json -f filter.jq <samples.jsonl >kept.jsonl\` (bench/filter/bench.sh)"
echo "- $runs runs each, median; CPU = user + system seconds"
echo
echo "| tool | wall s | CPU s | MiB/s (wall) | peak RSS KiB (last run) | records kept |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
for t in sr-filter jq; do
	w=$( [ $t = jq ] && echo "$j_wall" || echo "$f_wall")
	c=$( [ $t = jq ] && echo "$j_cpu" || echo "$f_cpu")
	echo "| $t | $w | $c | $(awk -v b="$bytes" -v w="$w" 'BEGIN { printf "%.1f", b / 1048576 / w }') | $(cat "$dir/$t.rss") | $(cat "$dir/$t.kept") |"
done
echo
echo "sr-filter is $(awk -v a="$j_wall" -v b="$f_wall" 'BEGIN { printf "%.1f", a / b }')x faster than jq in wall time and $(awk -v a="$j_cpu" -v b="$f_cpu" 'BEGIN { printf "%.1f", a / b }')x in CPU time."
if [ "$(cat "$dir/sr-filter.kept")" != "$(cat "$dir/jq.kept")" ]; then
	echo "The kept counts differ because jq uses the refusal-prefix list where sr-filter uses the judge, and has no n-gram check."
fi
