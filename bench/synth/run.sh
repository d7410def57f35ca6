#!/bin/sh
# Throughput of sr-synth against sr-testserver with a fixed 50 ms latency.
#
#   bench/synth/run.sh BUILDDIR [RUNS [CONCURRENCY...]]
#
# For each concurrency (default 64 and 256) it sends enough single-sample requests to keep
# the endpoint busy for about 6 s (at the ideal rate), RUNS times (default
# 3), and prints each run and the medians: achieved requests per second,
# efficiency = achieved / ideal with ideal = concurrency / 0.050 s, and
# sr-synth's own CPU time (user + system, from /usr/bin/time). The cache is
# off, so every sample is a real request.
set -eu
builddir=${1:?usage: bench/synth/run.sh BUILDDIR [RUNS [CONCURRENCY...]]}
runs=${2:-3}
shift
[ $# -gt 0 ] && shift
levels=${*:-64 256}
srcdir=$(cd "$(dirname "$0")/../.." && pwd)
shared=${SR_SHARED:-$srcdir/../shared}
export SRKIT_DATADIR="$srcdir" PATH="$builddir/tools:$builddir/tests:$PATH"
latency_ms=50
seconds=6
tmp=$(mktemp -d /tmp/bench-synth.XXXXXX)
server=
trap 'if [ -n "$server" ]; then kill $server; fi; rm -rf "$tmp"' EXIT

# Prompt records: AdvBench through sr-import and sr-guide, repeated with
# fresh ids up to the count needed.
sr-import -l harmful "$shared/data/advbench/harmful_behaviors.csv" | sr-guide >"$tmp/base.jsonl"
make_prompts()
{
	/usr/bin/python3 - "$tmp/base.jsonl" "$1" <<'PYEOF'
import json, sys
base = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
for i in range(int(sys.argv[2])):
    r = dict(base[i % len(base)])
    r["id"] = "%s-%d" % (r["id"], i)
    print(json.dumps(r, ensure_ascii=False, separators=(",", ":")))
PYEOF
}

sr-testserver --port-file "$tmp/port" --latency $latency_ms >/dev/null &
server=$!
while [ ! -s "$tmp/port" ]; do sleep 0.05; done
endpoint="http://127.0.0.1:$(cat "$tmp/port")/v1"

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "concurrency run requests wall_s rps efficiency cpu_s"
for conc in $levels; do
	count=$((conc * 1000 / latency_ms * seconds))
	make_prompts $count >"$tmp/prompts.jsonl"
	: >"$tmp/results-$conc"
	run=1
	while [ $run -le "$runs" ]; do
		/usr/bin/time -f "%e %U %S" -o "$tmp/time" \
			sr-synth -q --endpoint "$endpoint" --model bench --no-cache \
			--concurrency $conc --window $((conc * 8)) --timeout 30 \
			-o /dev/null "$tmp/prompts.jsonl"
		read -r wall user sys <"$tmp/time"
		line=$(/usr/bin/python3 -c '
import sys
count, conc, lat_ms, wall, user, sys_ = map(float, sys.argv[1:])
lat = lat_ms / 1000
rps = count / wall
print("%.0f %.3f %.0f %.3f %.2f" % (count, wall, rps, rps / (conc / lat), user + sys_))
' $count $conc $latency_ms "$wall" "$user" "$sys")
		echo "$conc $run $line"
		echo "$line" >>"$tmp/results-$conc"
		run=$((run + 1))
	done
	/usr/bin/python3 -c '
import statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1])]
med = [statistics.median(c) for c in zip(*rows)]
print("median concurrency %s: %.0f requests, %.3f s, %.0f rps, efficiency %.3f, cpu %.2f s"
      % (sys.argv[2], *med))
' "$tmp/results-$conc" $conc
done
