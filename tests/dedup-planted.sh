#!/bin/sh
# sr-dedup on planted duplicates of real texts: exact mode must find the
# case, white-space and punctuation variants and no others; near mode must
# also find one-word changes and appended sentences (recall 0.95 or better,
# precision 0.99 or better), for English word n-grams and for Han text
# without spaces, where character n-grams are chosen automatically.
set -eu
py=/usr/bin/python3
gen="$SR_SRCDIR/tests/dedup-planted.py"
[ -x "$py" ] || { echo "skip: $py not found"; exit 77; }
[ -d "$SR_SHARED/data/alpaca_eval" ] || { echo "skip: no shared data in '$SR_SHARED'"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

"$py" "$gen" make "$SR_SHARED/data" en.jsonl en-truth.json --copies 2
"$py" "$gen" make "$SR_SHARED/data" cjk.jsonl cjk-truth.json --cjk

echo "exact, default normalisation"
sr-dedup --dups dups.jsonl --stats stats.json en.jsonl >kept.jsonl
"$py" "$gen" score en-truth.json kept.jsonl dups.jsonl case,space,punct 1.0 1.0
# A changed word or an added sentence is not an exact duplicate.
if grep -q -e '-word"' -e '-sentence"' dups.jsonl; then
	echo "FAIL: exact mode dropped a near duplicate"; exit 1
fi
jq -e '.records_in == .records_out + .skipped + .duplicates' stats.json >/dev/null

echo "exact, no normalisation: only byte-identical keys"
sr-dedup --no-normalize --dups dups.jsonl en.jsonl >kept.jsonl
[ ! -s dups.jsonl ] || { echo "FAIL: --no-normalize dropped records"; exit 1; }

echo "near, English"
sr-dedup --near --dups dups.jsonl --stats stats.json en.jsonl >kept.jsonl
"$py" "$gen" score en-truth.json kept.jsonl dups.jsonl case,space,punct,word,sentence 0.95 0.99
jq -e '.records_in == .records_out + .skipped + .duplicates' stats.json >/dev/null

echo "near, Han text, automatic character n-grams"
sr-dedup --near --dups dups.jsonl cjk.jsonl >kept.jsonl
"$py" "$gen" score cjk-truth.json kept.jsonl dups.jsonl case,space,punct,word,sentence 0.95 0.99

echo "near, Han text forced to word n-grams misses the changes"
sr-dedup --near --shingle word --dups dups.jsonl cjk.jsonl >kept.jsonl
if grep -q -e '-word"' dups.jsonl; then
	echo "FAIL: word n-grams should not see one changed character"; exit 1
fi
echo ok
