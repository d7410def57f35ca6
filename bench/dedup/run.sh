#!/bin/sh
# Benchmark sr-dedup on generated JSON Lines with planted duplicates:
# exact mode against `jq -r .query | sort -u` in the same script, and near
# mode, reporting the median wall time, CPU time and peak memory of RUNS
# runs as Markdown table rows.
#
#   bench/dedup/run.sh [MIB [RUNS]]     (defaults: 1024 MiB, 3 runs)
#
# SR_BUILDDIR names the build directory (default: the current directory);
# BENCH_TMP the scratch directory (default /tmp/srkit-bench-dedup), which
# keeps the generated data between runs. Needs GNU time at /usr/bin/time.
set -eu
# Byte order for sort, as sr-dedup --no-normalize compares bytes; in
# other locales sort -u also merges lines that merely collate equal.
LC_ALL=C
export LC_ALL
mib=${1:-1024}
runs=${2:-3}
here=$(cd "$(dirname "$0")" && pwd)
build=${SR_BUILDDIR:-.}
dedup="$build/tools/sr-dedup"
work=${BENCH_TMP:-/tmp/srkit-bench-dedup}
mkdir -p "$work"
data="$work/data-${mib}M.jsonl"

[ -x "$dedup" ] || { echo "no sr-dedup at '$dedup'; set SR_BUILDDIR" >&2; exit 2; }
if [ ! -s "$data" ]; then
	echo "generating $mib MiB of records in $data" >&2
	/usr/bin/python3 "$here/gen.py" "$mib" >"$data.tmp"
	mv "$data.tmp" "$data"
fi
records=$(wc -l <"$data")
bytes=$(wc -c <"$data")

# median of the numbers on standard input
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# measure NAME COMMAND: run COMMAND (a shell line) RUNS times, then print a
# table row: name, median wall s, median user+sys s, median peak RSS MiB,
# MB/s and records/s from the median wall time, distinct keys written.
measure() {
	name=$1
	cmd=$2
	: >"$work/times"
	r=0
	while [ "$r" -lt "$runs" ]; do
		r=$((r + 1))
		sync
		/usr/bin/time -f "%e %U %S %M" -o "$work/t" sh -c "$cmd" >"$work/out"
		cat "$work/t" >>"$work/times"
	done
	wall=$(awk '{ print $1 }' "$work/times" | median)
	cpu=$(awk '{ print $2 + $3 }' "$work/times" | median)
	rss=$(awk '{ print $4 / 1024 }' "$work/times" | median)
	kept=$(wc -l <"$work/out")
	awk -v n="$name" -v w="$wall" -v c="$cpu" -v m="$rss" -v b="$bytes" -v r="$records" -v k="$kept" \
		'BEGIN { printf "| %s | %.1f | %.1f | %.0f | %.0f | %.0f | %d |\n", n, w, c, m, b / w / 1e6, r / w, k }'
	echo "$wall $cpu" >"$work/time-$(echo "$name" | tr -c 'a-z0-9\n' '_')"
}

# ratio A B: how many times A's median wall and CPU times B's are.
ratio() {
	a=$(cat "$work/time-$(echo "$1" | tr -c 'a-z0-9\n' '_')")
	b=$(cat "$work/time-$(echo "$2" | tr -c 'a-z0-9\n' '_')")
	echo "$a $b" | awk '{ printf "%.2fx by wall time, %.2fx by CPU time\n", $1 / $3, $2 / $4 }'
}

echo "data: $records records, $bytes bytes ($data), $runs runs each"
echo
echo "| command | wall s (median) | CPU s (user+sys) | peak RSS MiB | MB/s | records/s | lines out |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
measure "jq -r .query \| sort -u" "jq -r .query '$data' | sort -u"
# GNU time reports one process's peak memory, so the two halves of the
# pipeline are measured on their own as well.
jq -r .query "$data" >"$work/queries.txt"
measure "jq -r .query (alone)" "jq -r .query '$data'"
measure "sort -u (on jq's output)" "sort -u '$work/queries.txt'"
rm -f "$work/queries.txt"
measure "sr-dedup (exact, normalised)" "'$dedup' '$data'"
measure "sr-dedup --no-normalize" "'$dedup' --no-normalize '$data'"
measure "sr-dedup --threads 1" "'$dedup' --threads 1 '$data'"
measure "sr-dedup --near" "'$dedup' --near '$data'"
echo
echo "jq | sort -u against exact sr-dedup: $(ratio "jq -r .query \| sort -u" "sr-dedup (exact, normalised)")"
echo "jq | sort -u against sr-dedup --no-normalize: $(ratio "jq -r .query \| sort -u" "sr-dedup --no-normalize")"
"$dedup" --near --stats "$work/near.json" "$data" >/dev/null
"$dedup" --stats "$work/exact.json" "$data" >/dev/null
echo "exact: $(jq -c '{records_in, records_out, duplicates, index_bytes}' "$work/exact.json")"
echo "near:  $(jq -c '{records_in, records_out, duplicates, index_bytes}' "$work/near.json")"
