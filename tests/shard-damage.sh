#!/bin/sh
# sr-shard verify finds a flipped byte, a truncated frame, a missing shard
# and a damaged manifest, and names the shard and frame.
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
