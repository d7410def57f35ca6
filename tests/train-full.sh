#!/bin/sh
# A longer run on the pipeline's reasoning shards (slow: FULL_TESTS): a
# model trained for 3 epochs must lower its validation loss.
. "${SR_SRCDIR:-.}/tests/train-lib.sh"

for tool in sr-import sr-guide sr-synth sr-filter sr-dedup sr-mix sr-shard; do
	command -v "$tool" >/dev/null || { echo "SKIP: $tool not built"; exit 77; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
unset SR_ENDPOINT SR_MODEL OPENAI_BASE_URL
sh "$SR_SRCDIR/scripts/demo.sh" -o demo >demo.out 2>demo.err || fail "demo.sh failed"
tiny_config tiny.json
sr-train init --config tiny.json --vocab-size 1000 --data demo/srg -o base
sr-train --model base --data demo/srg -o model --epochs 3 --seq-len 256 --batch 8 \
	--lr 3e-3 --eval-every 5
/usr/bin/python3 - model/train.jsonl <<'PY' || fail "validation loss did not fall"
import json, sys
val = [json.loads(l)["val_loss"] for l in open(sys.argv[1]) if "val_loss" in l]
assert len(val) >= 2 and val[-1] < val[0] - 0.5, val
PY
exit 0
