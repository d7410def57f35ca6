#!/bin/sh
# sr-train reads exactly the shards a finished sr-mix output lists in its
# manifest, verified: a directory without a manifest (what a killed sr-mix
# leaves), a stray shard file and a damaged shard do not get trained on.
. "$SR_SRCDIR/tests/train-lib.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
make_shards shards 16 4
tiny_config config.json
sr-train init --config config.json --vocab-size 300 --data shards -o base 2>/dev/null ||
	fail "init on finished shards failed"
run() { sr-train --model base --data "$1" -o "$2" --steps 1 --seq-len 64 --batch 2 2>"$2.err"; }

run shards out-ok || fail "training on finished shards failed: $(cat out-ok.err)"
want=$(grep "data:" out-ok.err)
[ -n "$want" ] || fail "no data line in: $(cat out-ok.err)"

cp -r shards stray
cp stray/train-00000.jsonl.zst stray/train-00099.jsonl.zst
run stray out-stray || fail "a stray shard made training fail"
[ "$(grep "data:" out-stray.err)" = "$want" ] ||
	fail "a shard the manifest does not list was read: $(grep "data:" out-stray.err)"

cp -r shards unfinished
rm unfinished/manifest.json
set +e
run unfinished out-unfinished; rc=$?
test $rc = 1 || fail "a directory without manifest exits $rc, expected 1"
grep -q "manifest.json" out-unfinished.err || fail "message does not name the manifest"

cp -r shards damaged
printf 'x' | dd of=damaged/train-00000.jsonl.zst bs=1 seek=20 conv=notrunc 2>/dev/null
run damaged out-damaged; rc=$?
test $rc = 1 || fail "a damaged shard exits $rc, expected 1"
exit 0
