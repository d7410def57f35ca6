#!/bin/sh
# A run stopped after a checkpoint and resumed gives the same loss curve
# and the same weights as an uninterrupted run.
. "${SR_SRCDIR:-.}/tests/train-lib.sh"

test -f "$SR_SHARED/data/alpaca_eval/text_davinci_003_model_outputs.json" || {
	echo "SKIP: shared data not found in '$SR_SHARED'"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
make_shards shards 24 8
tiny_config tiny.json
sr-train init --config tiny.json --vocab-size 350 --data shards -o m0 2>/dev/null

# 2 epochs of 24 rows in steps of 2 x 2 rows: the run crosses an epoch
train() {
	out=$1
	shift
	sr-train --model m0 --data shards -o "$out" --epochs 2 --seq-len 64 --batch 2 \
		--grad-accum 2 --eval-every 4 --save-every 5 --seed 3 --threads 2 "$@"
}
train full 2>full.err
rows=$(sed -n 's/.* \([0-9]*\) rows per epoch.*/\1/p' full.err)
steps=$(( (2 * rows + 3) / 4 ))
test "$steps" -gt 7 || fail "too few steps ($steps) for the test"
test $((rows / 4)) -lt 7 || fail "the stopped run should cross an epoch"
train part --stop-after 7 2>/dev/null
test "$(grep -c '"step"' part/train.jsonl)" = 7 || fail "the stopped run did not stop at 7"
train part --resume 2>/dev/null
log_fields full/train.jsonl > a.txt
log_fields part/train.jsonl > b.txt
test "$(wc -l < a.txt)" = "$steps" || fail "2 epochs should be $steps steps, got $(wc -l < a.txt)"
cmp a.txt b.txt || fail "the resumed loss curve differs"
cmp -s full/model.safetensors part/model.safetensors || fail "the resumed weights differ"

# a checkpoint only resumes with the options that made it
set +e
train part --resume --batch 3 2>batch.err; rc=$?
test $rc = 2 || fail "resume with another --batch exits $rc, expected 2"
grep -q 'checkpoint was made with --batch 2' batch.err || fail "resume message"
train fresh --resume 2>none.err; rc=$?
set -e
test $rc = 1 || fail "resume without a checkpoint exits $rc, expected 1"
grep -q 'no checkpoint' none.err || fail "no-checkpoint message"
exit 0
