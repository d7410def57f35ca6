#!/bin/sh
# sr-mix on one million records stays within the memory bound that
# sr-mix(1) states. That bound is about 113 bytes per record, the
# compression buffers ((4 x threads + 2) frames of 1 MiB), the 1 MiB spill
# write buffer and the program itself (allowed 32 MiB here). Slow: part of
# make check-full.
set -u
. "${SR_SRCDIR:-.}/tests/mix-lib.sh"
[ -x /usr/bin/time ] || { echo "SKIP: /usr/bin/time is not installed (Debian package time)"; exit 77; }
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 99

n=1000000
awk -v n="$n" 'BEGIN {
	for (i = 1; i <= n; i++)
		printf "{\"id\":\"p-%d\",\"source\":\"s%d\",\"label\":\"%s\",\"sample\":%d,\"text\":\"record %d\"}\n",
			int((i + 1) / 2), i % 7, (i % 3 ? "benign" : "harmful"), i % 2, i
}' >big.jsonl
threads=$(nproc)
/usr/bin/time -f '%M' -o rss.txt sr-mix -q -o out --format raw --val-fraction 0.01 --seed 5 \
	--stats stats.json big.jsonl || fail "sr-mix exited $?"
rss_kib=$(cat rss.txt)
bound_kib=$(( (113 * n + (4 * threads + 3) * 1048576 + 32 * 1048576) / 1024 ))
echo "peak RSS ${rss_kib} KiB, bound ${bound_kib} KiB for $n records on $threads threads"
[ "$rss_kib" -le "$bound_kib" ] || fail "peak RSS ${rss_kib} KiB exceeds the stated bound ${bound_kib} KiB"
jq -e --argjson n "$n" '.records_in == $n and .records_out == $n and .val == 10000' stats.json >/dev/null ||
	fail "counts: $(cat stats.json)"
sr-shard verify out 2>/dev/null || fail "verify"
[ "$(sr-shard cat --split val out | jq -r .id | sort -u | wc -l)" -gt 0 ] || fail "empty validation split"
sr-shard cat --split val out | jq -r .id | sort -u >val.ids
sr-shard cat --split train out | jq -r .id | sort -u >train.ids
[ -z "$(comm -12 train.ids val.ids)" ] || fail "prompt ids on both sides"
echo "mix-large: ok"
