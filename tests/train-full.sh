#!/bin/sh
# The pipeline's own shards: sr-mix builds train/val shards from chat
# examples, and sr-train inits and trains on them (slow: FULL_TESTS).
. "${SR_SRCDIR:-.}/tests/train-lib.sh"

test -f "$SR_SHARED/data/alpaca_eval/text_davinci_003_model_outputs.json" || {
	echo "SKIP: shared data not found in '$SR_SHARED'"; exit 77; }
command -v sr-mix >/dev/null || { echo "SKIP: sr-mix not built"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
make_shards raw 400 0
zstd -dq raw/train-00000.jsonl.zst -o examples.jsonl
sr-mix -o shards --format raw --val 40 examples.jsonl 2>mix.err || { cat mix.err; fail "sr-mix failed"; }
ls shards/train-*.jsonl.zst shards/val-*.jsonl.zst >/dev/null || fail "sr-mix wrote no train or val shards"
tiny_config tiny.json
sr-train init --config tiny.json --vocab-size 1000 --data shards -o m0
sr-train --model m0 --data shards -o m1 --epochs 1 --seq-len 256 --batch 8 --lr 2e-3
sr-train eval --model m1 --data shards --seq-len 256 | grep -q '"loss"' || fail "eval"
exit 0
