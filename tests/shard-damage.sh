#!/bin/sh
# sr-shard verify finds a flipped byte, a truncated frame, a missing shard,
# a shard file the manifest does not list, manifest counts that do not match
# the records, and a damaged manifest, and names the shard and frame.
set -u
. "${SR_SRCDIR:-.}/tests/mix-lib.sh"
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 99

gen_samples a harmful 500 2 >a.jsonl
sr-mix -o good --format rt --frame-bytes 4K --val 100 a.jsonl || fail "sr-mix exited $?"
sr-shard verify good || fail "verify of fresh shards exited $?"
frames=$(jq '.shards[0].frames | length' good/manifest.json)
[ "$frames" -gt 5 ] || fail "expected several frames, got $frames"

# The shards are plain zstd: zstd -d gives the same records as sr-shard cat.
zstd -q -d -c good/train-00000.jsonl.zst >z.out || fail "zstd -d failed on a shard"
sr-shard cat --split train good >c.out || fail "sr-shard cat exited $?"
cmp z.out c.out || fail "zstd -d and sr-shard cat differ"
[ "$(wc -l <c.out)" -eq "$(jq '.counts.train' good/manifest.json)" ] || fail "train record count"

# damage DIR FRAME: flip one byte in the middle of that frame.
damage() {
	off=$(jq ".shards[0].frames[$2] | .offset + (.bytes / 2 | floor)" "$1/manifest.json")
	byte=$(dd if="$1/train-00000.jsonl.zst" bs=1 skip="$off" count=1 2>/dev/null | od -An -tu1 | tr -d ' ')
	printf "$(printf '\\%03o' $(( (byte + 1) % 256 )))" |
		dd of="$1/train-00000.jsonl.zst" bs=1 seek="$off" conv=notrunc 2>/dev/null
}

cp -r good flip
damage flip 3
sr-shard verify flip 2>flip.err
[ $? -eq 1 ] || fail "verify of a flipped byte did not exit 1"
grep -q "train-00000.jsonl.zst.*frame 3 at byte offset" flip.err || fail "flipped byte: $(cat flip.err)"
# The other frames still read: cat fails at frame 3 but zstd's frames before it are intact.
sr-shard cat flip >/dev/null 2>&1 && fail "cat of a damaged shard succeeded"

cp -r good trunc
off=$(jq '.shards[0].frames[4] | .offset + 10' trunc/manifest.json)
truncate -s "$off" trunc/train-00000.jsonl.zst
sr-shard verify trunc 2>trunc.err
[ $? -eq 1 ] || fail "verify of a truncated shard did not exit 1"
grep -q "train-00000.jsonl.zst.*frame 4 at byte offset.*truncated" trunc.err || fail "truncated: $(cat trunc.err)"

cp -r good gone
rm gone/val-00000.jsonl.zst
sr-shard verify gone 2>gone.err
[ $? -eq 1 ] || fail "verify with a missing shard did not exit 1"
grep -q "val-00000.jsonl.zst" gone.err || fail "missing shard: $(cat gone.err)"

cp -r good badman
sed -i 's/"records": 100,/"records": 101,/' badman/manifest.json
sr-shard verify badman 2>badman.err
[ $? -eq 1 ] || fail "verify with a changed record count did not exit 1"
grep -q "val-00000.jsonl.zst" badman.err || fail "changed count: $(cat badman.err)"

# Files named like shards that the manifest does not list: a copied
# shard, a plain JSON Lines file, a temporary file of another run.
for stray in train-00099.jsonl.zst train-00000.jsonl val-00000.jsonl.zst.tmp.123; do
	rm -rf stray
	cp -r good stray
	cp good/train-00000.jsonl.zst "stray/$stray"
	sr-shard verify stray 2>stray.err
	[ $? -eq 1 ] || fail "verify with a stray '$stray' did not exit 1"
	grep -q "stray/$stray: not listed in the manifest" stray.err || fail "stray $stray: $(cat stray.err)"
done
# Other files in the directory are not shards and do not matter.
cp -r good notes
echo "made by hand" >notes/README
sr-shard verify notes || fail "verify with a README beside the shards exited $?"

# bad_counts NAME FILTER POINTER: the manifest edited by the jq FILTER
# fails to verify, naming the manifest and the member at POINTER.
bad_counts() {
	rm -rf "$1"
	cp -r good "$1"
	jq "$2" good/manifest.json >"$1/manifest.json" || fail "jq $2"
	sr-shard verify "$1" 2>"$1.err"
	[ $? -eq 1 ] || fail "verify after '$2' did not exit 1"
	grep -q "$1/manifest.json: field '$3'" "$1.err" || fail "after '$2': $(cat "$1.err")"
}
bad_counts ctrain '.counts.train += 1' /counts/train
bad_counts cval '.counts.val -= 1' /counts/val
# Per source and per label, with the split totals left as they are.
bad_counts csrc '.counts.sources.a.train -= 1 | .counts.sources.a.val += 1' /counts/sources/a/train
bad_counts clabel '.counts.labels.harmful.val -= 1 | .counts.labels.harmful.train += 1' \
	/counts/labels/harmful/val
bad_counts cnew '.counts.sources.b = {"train": 0, "val": 1}' /counts/sources/b/val
bad_counts cgone '.counts.sources = {}' /counts/sources/a
bad_counts ckeys '.counts.keys.a.selected -= 1' /counts/keys
grep -q "val shards hold 100 records with label 'harmful'" clabel.err || fail "label count: $(cat clabel.err)"

# A shard listed under the other split: verify fails, and cat --split val
# does not stream training records.
rm -rf relabel
cp -r good relabel
jq '(.shards[] | select(.file == "train-00000.jsonl.zst") | .split) = "val"' \
	good/manifest.json >relabel/manifest.json
sr-shard verify relabel 2>relabel.err
[ $? -eq 1 ] || fail "verify of a relabelled shard did not exit 1"
grep -q "relabel/manifest.json: lists shard 'train-00000.jsonl.zst' with split 'val'" relabel.err ||
	fail "relabelled shard: $(cat relabel.err)"
grep -q "not listed" relabel.err && fail "a listed shard reported as unlisted: $(cat relabel.err)"
sr-shard cat --split val relabel >relabel.out 2>/dev/null
[ $? -eq 1 ] || fail "cat --split val of a relabelled shard did not exit 1"
[ -s relabel.out ] && fail "cat --split val of a relabelled shard wrote $(wc -l <relabel.out) records"

cp -r good twice
jq '.shards += [.shards[0]]' good/manifest.json >twice/manifest.json
sr-shard verify twice 2>twice.err
[ $? -eq 1 ] || fail "verify of a shard listed twice did not exit 1"
grep -q "lists shard 'train-00000.jsonl.zst' twice" twice.err || fail "listed twice: $(cat twice.err)"

cp -r good notjson
echo '{' >notjson/manifest.json
sr-shard verify notjson 2>/dev/null
[ $? -eq 1 ] || fail "verify of a malformed manifest did not exit 1"

rm good/manifest.json
sr-shard verify good 2>/dev/null
[ $? -eq 1 ] || fail "verify without a manifest did not exit 1"

# A run killed at any point leaves either a manifest that vouches for
# complete shards, or no manifest (so verify fails); a rerun cleans up.
gen_samples big harmful 20000 2 >big.jsonl
sr-mix -o good --format rt --frame-bytes 64K big.jsonl &
pid=$!
sleep 0.5
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
if [ -e good/manifest.json ]; then
	sr-shard verify good 2>/dev/null || fail "a manifest left by a killed run does not verify"
else
	sr-shard verify good 2>/dev/null
	[ $? -eq 1 ] || fail "verify after a killed run did not exit 1"
fi
sr-mix -o good --format rt --frame-bytes 64K -q big.jsonl || fail "rerun after kill exited $?"
sr-shard verify good 2>/dev/null || fail "verify after the rerun"
ls good | grep -q tmp && fail "temporary files left after the rerun: $(ls good)"
echo "shard-damage: ok"
