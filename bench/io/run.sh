#!/bin/sh
# bench/io: passthrough (read, validate against the query schema, write) of
# a 1 GiB JSON Lines file of ~600-byte records, against `jq -c .` on the
# same file in the same script. Prints the median of RUNS runs of each and
# the throughput ratio.
#
#   bench/io/run.sh [BUILDDIR]      (env: SIZE_MIB=1024 RUNS=3 DATA=/tmp/srkit-bench-io.jsonl)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-${SR_BUILDDIR:-.}}
size=${SIZE_MIB:-1024}
runs=${RUNS:-3}
data=${DATA:-/tmp/srkit-bench-io.jsonl}
tool="$build/tests/sr-passthrough"
[ -x "$tool" ] || { echo "build first: $tool not found" >&2; exit 2; }
export SRKIT_DATADIR="$here/../.."

if [ ! -f "$data" ] || [ "$(stat -c %s "$data")" -lt $((size * 1048576)) ]; then
	/usr/bin/python3 "$here/gen.py" "$size" >"$data"
fi
bytes=$(stat -c %s "$data")
cat "$data" >/dev/null # warm the page cache

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
time_runs() { # command...
	i=0
	while [ $i -lt "$runs" ]; do
		s=$(date +%s.%N)
		"$@" >/dev/null
		e=$(date +%s.%N)
		echo "$s $e" | awk '{ printf "%.3f\n", $2 - $1 }'
		i=$((i + 1))
	done | median
}

ours=$(time_runs "$tool" --schema query "$data")
jqs=$(time_runs jq -c . "$data")
mb=$(echo "$bytes" | awk '{ printf "%.0f", $1 / 1048576 }')
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo "input: $data, $bytes bytes, $(wc -l <"$data") records"
echo "sr-passthrough --schema query: median ${ours}s, $(echo "$mb $ours" | awk '{ printf "%.0f", $1 / $2 }') MiB/s"
echo "jq -c .:                       median ${jqs}s, $(echo "$mb $jqs" | awk '{ printf "%.0f", $1 / $2 }') MiB/s"
echo "ratio (jq time / srkit time): $(echo "$jqs $ours" | awk '{ printf "%.1f", $1 / $2 }')x"
