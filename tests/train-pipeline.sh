#!/bin/sh
# The pipeline's own shards: scripts/demo.sh builds the reasoning (srg)
# and refusal-only (rt) shards from the bundled real data sets with
# sr-import ... sr-mix, and sr-train inits a model on them, trains one
# model per format, evaluates and samples from it.
. "${SR_SRCDIR:-.}/tests/train-lib.sh"

for tool in sr-import sr-guide sr-synth sr-filter sr-dedup sr-mix sr-shard; do
	command -v "$tool" >/dev/null || { echo "SKIP: $tool not built"; exit 77; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
unset SR_ENDPOINT SR_MODEL OPENAI_BASE_URL
sh "$SR_SRCDIR/scripts/demo.sh" -o demo >demo.out 2>demo.err || {
	tail -5 demo.err; fail "demo.sh failed"; }
ls demo/srg/train-*.jsonl.zst demo/rt/val-*.jsonl.zst >/dev/null || fail "demo.sh wrote no shards"

tiny_config tiny.json
sr-train init --config tiny.json --vocab-size 600 --data demo/srg -o base 2>/dev/null ||
	fail "init on the srg shards"
for format in srg rt; do
	sr-train --model base --data "demo/$format" -o "$format-model" --steps 4 --seq-len 128 \
		--batch 4 --lr 3e-3 --threads 2 2>"$format.err" || { cat "$format.err"; fail "training on $format"; }
	grep -q 'data: [1-9][0-9]* training and [1-9][0-9]* validation examples' "$format.err" ||
		fail "$format: shards not read"
	grep -q '"val_loss"' "$format-model/train.jsonl" || fail "$format: no validation loss"
	sr-train eval --model "$format-model" --data "demo/$format" --seq-len 128 > "$format.eval"
	grep -q '"tokens":[1-9]' "$format.eval" || fail "$format: eval counted no tokens"
done

# The reasoning format has more assistant tokens per example than its
# refusal-only control (the reasoning before the answer).
/usr/bin/python3 - srg.eval rt.eval <<'PY' || fail "srg has no more loss tokens than rt"
import json, sys
srg, rt = (json.load(open(p)) for p in sys.argv[1:3])
assert srg["tokens"] > rt["tokens"], (srg, rt)
PY
zstd -dc demo/srg/val-00000.jsonl.zst | head -3 | sr-train generate --model srg-model \
	--max-new-tokens 8 --temperature 0 > gen.jsonl
test "$(grep -c '"response":' gen.jsonl)" = 3 || fail "generate on shard records"
exit 0
