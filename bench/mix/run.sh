#!/bin/sh
# bench/mix/run.sh - shard-writing throughput of sr-mix on about 1 GB of
# training examples, against `zstd -3` on the same bytes, and sr-mix's peak
# memory against the bound stated in sr-mix(1).
#
# Usage: bench/mix/run.sh [BUILDDIR] [SIZE_MB] [RUNS]
# (defaults: the current directory, 1024, 3). Writes a Markdown report to
# standard output; the data is generated under $TMPDIR and removed.
set -eu
build=$(cd "${1:-.}" && pwd)
size_mb=${2:-1024}
runs=${3:-3}
mix=$build/tools/sr-mix
[ -x "$mix" ] || { echo "run.sh: error: '$mix' not found; pass the build directory" >&2; exit 2; }
command -v zstd >/dev/null || { echo "run.sh: error: zstd not found" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "run.sh: error: /usr/bin/time not found (Debian package time)" >&2; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/bench-mix.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Chat examples of 0.5 to 3 KB with text drawn from a 2000-word vocabulary,
# so that zstd sees realistic redundancy rather than repeated lines.
awk -v target=$((size_mb * 1024 * 1024)) 'BEGIN {
	srand(12345)
	for (i = 0; i < 2000; i++) {
		w = ""
		n = 2 + int(rand() * 9)
		for (j = 0; j < n; j++) w = w sprintf("%c", 97 + int(rand() * 26))
		vocab[i] = w
	}
	split("advbench alpaca xstest jbb harmbench", src, " ")
	while (bytes < target) {
		id++
		q = ""; r = ""; a = ""
		nq = 8 + int(rand() * 30); nr = 60 + int(rand() * 300); na = 10 + int(rand() * 120)
		for (j = 0; j < nq; j++) q = q vocab[int(rand() * 2000)] " "
		for (j = 0; j < nr; j++) r = r vocab[int(rand() * 2000)] (j % 17 == 16 ? ".\\n" : " ")
		for (j = 0; j < na; j++) a = a vocab[int(rand() * 2000)] " "
		s = src[1 + id % 5]
		line = sprintf("{\"id\":\"%s-%d\",\"source\":\"%s\",\"label\":\"%s\",\"sample\":0,\"messages\":[{\"role\":\"user\",\"content\":\"%s\"},{\"role\":\"assistant\",\"content\":\"<think>\\n%s\\n</think>\\n\\n%s\"}]}",
			s, id, s, (id % 2 ? "harmful" : "benign"), q, r, a)
		print line
		bytes += length(line) + 1
	}
}' >"$work/examples.jsonl"
bytes=$(wc -c <"$work/examples.jsonl")
records=$(wc -l <"$work/examples.jsonl")
longest=$(awk '{ if (length($0) > m) m = length($0) } END { print m + 1 }' "$work/examples.jsonl")

# median of the numbers on standard input
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# run NAME COMMAND...: time the command $runs times (page cache warm from
# the first read), keeping elapsed seconds and peak RSS in KiB.
run() {
	name=$1
	shift
	: >"$work/$name.times"
	: >"$work/$name.rss"
	: >"$work/$name.cpu"
	cat "$work/examples.jsonl" >/dev/null
	i=0
	while [ "$i" -lt "$runs" ]; do
		rm -rf "$work/out" "$work/out.zst"
		/usr/bin/time -f '%e %M %U %S' -o "$work/time.txt" "$@" >/dev/null 2>"$work/err.txt" ||
			{ cat "$work/err.txt" >&2; exit 3; }
		cut -d' ' -f1 "$work/time.txt" >>"$work/$name.times"
		cut -d' ' -f2 "$work/time.txt" >>"$work/$name.rss"
		awk '{ print $3 + $4 }' "$work/time.txt" >>"$work/$name.cpu"
		i=$((i + 1))
	done
	eval "t_$name=\$(median <\"\$work/\$name.times\")"
	eval "m_$name=\$(median <\"\$work/\$name.rss\")"
	eval "c_$name=\$(median <\"\$work/\$name.cpu\")"
}

run zstd zstd -3 -q -f "$work/examples.jsonl" -o "$work/out.zst"
zbytes=$(wc -c <"$work/out.zst")
run zstdT2 zstd -3 -T2 -q -f "$work/examples.jsonl" -o "$work/out.zst"
run mix "$mix" --format raw --seed 1 -q -o "$work/out" "$work/examples.jsonl"
mbytes=$(cat "$work"/out/*.zst | wc -c)
run mix1 "$mix" --format raw --seed 1 -q --threads 1 -o "$work/out" "$work/examples.jsonl"

mb=$(awk -v b="$bytes" 'BEGIN { printf "%.0f", b / 1048576 }')
rate() { awk -v b="$bytes" -v t="$1" 'BEGIN { printf "%.0f", b / 1048576 / t }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
# The bound of sr-mix(1): 113 bytes per record, 2 x threads + 1 frames of
# 1 MiB with their compressed copies, the 1 MiB spill write buffer, a few
# (here 4) times the longest line, plus 16 MiB for the program, its
# libraries and the stack.
cores=$(nproc)
bound_kib=$(awk -v r="$records" -v t="$cores" -v l="$longest" \
	'BEGIN { printf "%.0f", (113 * r + (4 * t + 3) * 1048576 + 4 * l + 16 * 1048576) / 1024 }')

cat <<REPORT
## sr-mix: shard writing (bench/mix/run.sh)

Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $cores cores,
$(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) memory; $(zstd --version | sed 's/^\*\*\* //; s/ \*\*\*$//'); median of $runs runs, page cache warm.

Input: $mb MiB of generated chat examples ($records records, 0.5 to 3 KB each,
text from a 2000-word vocabulary), not committed.

| command | seconds | MiB/s | CPU seconds | peak RSS (MiB) | output (MiB) |
| --- | ---: | ---: | ---: | ---: | ---: |
| \`zstd -3 examples.jsonl -o out.zst\` | $t_zstd | $(rate "$t_zstd") | $c_zstd | $((m_zstd / 1024)) | $((zbytes / 1048576)) |
| \`zstd -3 -T2 examples.jsonl -o out.zst\` | $t_zstdT2 | $(rate "$t_zstdT2") | $c_zstdT2 | $((m_zstdT2 / 1024)) | $((zbytes / 1048576)) |
| \`sr-mix --format raw --seed 1 -o out examples.jsonl\` | $t_mix | $(rate "$t_mix") | $c_mix | $((m_mix / 1024)) | $((mbytes / 1048576)) |
| \`sr-mix ... --threads 1\` | $t_mix1 | $(rate "$t_mix1") | $c_mix1 | $((m_mix1 / 1024)) | $((mbytes / 1048576)) |

sr-mix time / \`zstd -3\` time: **$(ratio "$t_mix" "$t_zstd")** with the default
threads, $(ratio "$t_mix1" "$t_zstd") with one compression thread (target: at most 1.5);
CPU time (user + system) ratio $(ratio "$c_mix" "$c_zstd"). Load average when the script
ended: $(cut -d' ' -f1-3 /proc/loadavg) (the machine is shared, so elapsed times vary).
sr-mix reads and validates every record, writes it to its spill file,
sorts the entries, reads the records back in shuffled order and
compresses them in 1 MiB frames; \`zstd\` only compresses.

Peak memory: $((m_mix / 1024)) MiB against the bound of sr-mix(1) for this input,
$((bound_kib / 1024)) MiB (113 bytes x $records records, 4 x threads + 2 MiB of frame
buffers, 1 MiB of spill write buffer, 4 x the longest line of $longest bytes,
and 16 MiB for the program).
REPORT
