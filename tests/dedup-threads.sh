#!/bin/sh
# sr-dedup's output does not depend on the thread count: the same kept
# records, duplicates and statistics under --threads 1 and 2, in exact and
# near mode, on input longer than one fingerprinting batch.
set -eu
py=/usr/bin/python3
gen="$SR_SRCDIR/tests/dedup-planted.py"
[ -x "$py" ] || { echo "skip: $py not found"; exit 77; }
[ -d "$SR_SHARED/data/alpaca_eval" ] || { echo "skip: no shared data in '$SR_SHARED'"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

"$py" "$gen" make "$SR_SHARED/data" one.jsonl truth.json >/dev/null
# Four shifted copies give well over 8192 records, with duplicates that
# cross batch boundaries.
for i in 1 2 3 4; do cat one.jsonl; done | awk '{ sub(/"id": "/, "\"id\": \"" NR "-"); print }' >in.jsonl
[ "$(wc -l <in.jsonl)" -gt 9000 ]

for mode in "" "--near"; do
	for t in 1 2; do
		sr-dedup $mode --threads $t --dups dups$t.jsonl --stats stats$t.json in.jsonl >kept$t.jsonl
	done
	cmp kept1.jsonl kept2.jsonl
	cmp dups1.jsonl dups2.jsonl
	jq -S 'del(.index_bytes)' stats1.json >s1
	jq -S 'del(.index_bytes)' stats2.json >s2
	cmp s1 s2
	echo "mode '${mode:-exact}': $(wc -l <kept1.jsonl) kept, $(wc -l <dups1.jsonl) dropped, same under 1 and 2 threads"
	[ -s dups1.jsonl ]
done
