#!/bin/sh
# Same inputs and seed give byte-identical shards and manifests, whatever
# the order of records within a source, the order of the files, the output
# directory or the number of compression threads; another seed does not.
set -u
. "${SR_SRCDIR:-.}/tests/mix-lib.sh"
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 99

gen_samples a harmful 300 2 >a.jsonl
gen_samples b benign 400 1 >b.jsonl
# The same records in another order: reversed, then interleaved by awk.
awk '{ l[NR] = $0 } END { for (i = NR; i >= 1; i--) print l[i] }' a.jsonl >a-rev.jsonl
awk 'NR % 2 == 0' b.jsonl >b-mixed.jsonl
awk 'NR % 2 == 1' b.jsonl >>b-mixed.jsonl

opts="--seed 42 --val-fraction 0.1 --frame-bytes 8K --shard-records 300"
sr-mix -o one $opts --threads 1 a.jsonl b.jsonl || fail "run one exited $?"
mkdir -p elsewhere/deeper
sr-mix -o elsewhere/deeper/two $opts --threads 2 a.jsonl b.jsonl || fail "run two exited $?"
cmp one/manifest.json elsewhere/deeper/two/manifest.json ||
	fail "manifests differ between output directories or thread counts"
for f in one/*.zst; do
	cmp "$f" "elsewhere/deeper/two/${f#one/}" || fail "$f differs"
done

sr-mix -o three $opts b-mixed.jsonl a-rev.jsonl || fail "run three exited $?"
for f in one/*.zst; do
	cmp "$f" "three/${f#one/}" || fail "$f differs when records and files come in another order"
done
# Only the inputs (names and hashes) differ in the manifest.
jq -S 'del(.inputs)' one/manifest.json >m1
jq -S 'del(.inputs)' three/manifest.json >m3
cmp m1 m3 || fail "manifests differ beyond the inputs"

# Inputs are listed with the XXH64 of the file's bytes.
h=$(jq -r '.inputs[0].xxh64' one/manifest.json)
if command -v xxhsum >/dev/null 2>&1; then
	[ "$h" = "$(xxhsum -H1 a.jsonl | cut -d' ' -f1)" ] || fail "input xxh64 $h differs from xxhsum"
fi

sr-mix -o four --seed 43 --val-fraction 0.1 --frame-bytes 8K --shard-records 300 a.jsonl b.jsonl ||
	fail "run four exited $?"
cmp -s one/train-00000.jsonl.zst four/train-00000.jsonl.zst && fail "seed 43 gave the same shard as seed 42"
[ "$(sr-shard cat --split val one | sort | cksum)" = "$(sr-shard cat --split val four | sort | cksum)" ] &&
	fail "seeds 42 and 43 split the same way"
[ "$(sr-shard cat one | wc -l)" -eq 1000 ] || fail "records lost"
echo "mix-determinism: ok"
