#!/bin/sh
# --save-index and --against: deduplicating a second batch against the
# saved index of the first gives the records a single run over both would
# keep from the second, with duplicate_of naming records of the first.
# Parameter mismatches are usage errors, damaged indexes data errors.
set -eu
py=/usr/bin/python3
gen="$SR_SRCDIR/tests/dedup-planted.py"
[ -x "$py" ] || { echo "skip: $py not found"; exit 77; }
[ -d "$SR_SHARED/data/alpaca_eval" ] || { echo "skip: no shared data in '$SR_SHARED'"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

"$py" "$gen" make "$SR_SHARED/data" all.jsonl truth.json --copies 3 >/dev/null
n=$(wc -l <all.jsonl)
head -n $((n / 2)) all.jsonl >first.jsonl
tail -n +$((n / 2 + 1)) all.jsonl >second.jsonl

for mode in "" "--near"; do
	sr-dedup $mode --dups alldups.jsonl all.jsonl >all-kept.jsonl
	sr-dedup $mode --save-index first.idx first.jsonl >first-kept.jsonl
	sr-dedup $mode --against first.idx --dups dups.jsonl --stats stats.json second.jsonl >second-kept.jsonl
	cat first-kept.jsonl second-kept.jsonl | cmp - all-kept.jsonl
	tail -n "$(wc -l <dups.jsonl)" alldups.jsonl | cmp - dups.jsonl
	jq -e '.duplicates_of_index > 0 and .index_records > 0' stats.json >/dev/null
	# An index saved after --against covers both batches.
	sr-dedup $mode --against first.idx --save-index both.idx second.jsonl >/dev/null
	sr-dedup $mode --against both.idx all.jsonl >again.jsonl
	[ ! -s again.jsonl ]
	echo "mode '${mode:-exact}': index of $(wc -l <first-kept.jsonl) records, $(wc -l <dups.jsonl) duplicates in the second batch"
done

status() { set +e; "$@" >/dev/null 2>err; s=$?; set -e; echo $s; }
sr-dedup --near --save-index near.idx first.jsonl >/dev/null
[ "$(status sr-dedup --against near.idx second.jsonl)" = 2 ]
grep -q "was built with --near, but this run compares exactly (add --near)" err
sr-dedup --save-index exact.idx first.jsonl >/dev/null
[ "$(status sr-dedup --near --against exact.idx second.jsonl)" = 2 ]
grep -q "was built without --near, but this run uses --near (drop it)" err
[ "$(status sr-dedup --near --ngram 4 --against near.idx second.jsonl)" = 2 ]
grep -q -- "--ngram 3, not 4" err
[ "$(status sr-dedup --near --shingle char --against near.idx second.jsonl)" = 2 ]
grep -q -- "--shingle auto, not char" err
[ "$(status sr-dedup --near --no-normalize --against near.idx second.jsonl)" = 2 ]
grep -q -- "--normalize nfkc,case,punct,space, not none" err
[ "$(status sr-dedup --near --key id --against near.idx second.jsonl)" = 2 ]
grep -q "key 'query', not 'id'" err
head -c 100 near.idx >short.idx
[ "$(status sr-dedup --near --against short.idx second.jsonl)" = 1 ]
grep -q "short.idx" err
printf 'not an index at all\n' >text.idx
[ "$(status sr-dedup --near --against text.idx second.jsonl)" = 1 ]
grep -q "not an sr-dedup index" err
echo ok
