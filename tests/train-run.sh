#!/bin/sh
# sr-train end to end on shards of real data: init a model, train it,
# evaluate it, generate from it, and check determinism, the log and the
# errors a user meets first.
. "${SR_SRCDIR:-.}/tests/train-lib.sh"

test -f "$SR_SHARED/data/alpaca_eval/text_davinci_003_model_outputs.json" || {
	echo "SKIP: shared data not found in '$SR_SHARED'"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
make_shards shards 48 12
tiny_config tiny.json

# init: tokenizer trained on the shards, ChatML, random weights
sr-train init --config tiny.json --vocab-size 400 --data shards -o m0 2>init.err
for f in config.json model.safetensors tokenizer.json tokenizer_config.json; do
	test -s "m0/$f" || fail "init did not write $f"
done
grep -q '"vocab_size": 400' m0/config.json || fail "vocab_size is not 400"
grep -q '"head_dim": 16' m0/config.json || fail "head_dim default is not hidden_size / heads"
grep -q 'im_start' m0/tokenizer_config.json || fail "no ChatML template"

# train with no --template: the fresh model names ChatML itself
train() {
	out=$1
	shift
	sr-train --model m0 --data shards -o "$out" --steps 6 --seq-len 96 --batch 4 \
		--eval-every 3 --lr 3e-3 --seed 7 --threads 2 "$@"
}
train m1 2>train.err || { cat train.err; fail "training failed"; }
grep -q 'memory: .* parameters .* gradients .* optimizer .* activations' train.err ||
	fail "memory is not stated up front"
grep -q 'truncated to 97 tokens' train.err || fail "truncation is not counted"
test "$(grep -c '"step"' m1/train.jsonl)" = 6 || fail "log does not have 6 steps"
test "$(grep -c '"val_loss"' m1/train.jsonl)" = 2 || fail "val_loss not at steps 3 and 6"
for f in config.json model.safetensors tokenizer.json checkpoint.safetensors; do
	test -s "m1/$f" || fail "training did not write $f"
done
/usr/bin/python3 - m1/train.jsonl <<'PY' || fail "loss did not fall"
import json, sys
steps = [json.loads(l) for l in open(sys.argv[1])]
assert steps[-1]["loss"] < steps[0]["loss"] - 0.1, (steps[0]["loss"], steps[-1]["loss"])
assert all(k in steps[0] for k in ("step", "loss", "lr", "grad_norm", "tokens_per_s"))
PY

# same seed and threads: the same losses to the last bit
train m2 2>/dev/null
log_fields m1/train.jsonl > a.txt
log_fields m2/train.jsonl > b.txt
cmp -s a.txt b.txt || fail "two runs with the same seed differ"
cmp -s m1/model.safetensors m2/model.safetensors || fail "two runs wrote different weights"

# accumulating 2 micro-batches of 2 rows gives the steps of 1 batch of 4
train ga1 --batch 4 --grad-accum 1 2>/dev/null
train ga2 --batch 2 --grad-accum 2 2>/dev/null
/usr/bin/python3 - ga1/train.jsonl ga2/train.jsonl <<'PY' || fail "accumulation changes the steps"
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
assert len(a) == len(b) == 6
for x, y in zip(a, b):
    for k in ("loss", "grad_norm"):
        assert abs(x[k] - y[k]) <= 1e-6 * abs(x[k]), (k, x[k], y[k])
PY

# one example per row: padding instead of packing, bfloat16 output
train np --no-pack --bf16 2>/dev/null
test "$(grep -c '"step"' np/train.jsonl)" = 6 || fail "--no-pack run did not finish"
test "$(stat -c %s np/model.safetensors)" -lt "$(stat -c %s m1/model.safetensors)" ||
	fail "--bf16 did not shrink the weights"
grep -q '"torch_dtype": "bfloat16"' np/config.json || fail "--bf16 config"

# eval prints the validation loss the trainer logged at the last step
sr-train eval --model m1 --data shards --seq-len 96 --batch 4 > eval.json
/usr/bin/python3 - eval.json m1/train.jsonl <<'PY' || fail "eval does not match val_loss"
import json, sys
e = json.load(open(sys.argv[1]))
last = [json.loads(l) for l in open(sys.argv[2])][-1]
assert e["loss"] == last["val_loss"], (e, last)
assert e["tokens"] > 0
PY

# generate: strings and records, reproducible with a seed, records pass through
printf '"Name three colors."\n{"id":"q2","query":"Say hi.","n":12345678901234567890}\n' > prompts.jsonl
sr-train generate --model m1 --max-new-tokens 12 --temperature 0.9 --top-p 0.9 --seed 5 \
	prompts.jsonl > g1.jsonl
sr-train generate --model m1 --max-new-tokens 12 --temperature 0.9 --top-p 0.9 --seed 5 \
	--batch 1 < prompts.jsonl > g2.jsonl
cmp -s g1.jsonl g2.jsonl || fail "generation is not reproducible"
test "$(wc -l < g1.jsonl)" = 2 || fail "generate did not write 2 lines"
grep -q '^{"id":"q2","query":"Say hi.","n":12345678901234567890,"response":' g1.jsonl ||
	fail "generate did not pass the record through"
grep -q '"finish_reason":"\(stop\|length\)"' g1.jsonl || fail "no finish_reason"

# a progress bar on a terminal (script gives the run a pseudo-terminal),
# none in the log file
if command -v script >/dev/null 2>&1; then
	script -qec "sr-train --model m0 --data shards -o pb --steps 2 --batch 2 --seq-len 64 \
		--threads 2" /dev/null > pb.out 2>&1 || fail "training on a terminal"
	tr '\r' '\n' < pb.out | grep -q '^.*\[#*\.*\] 2/2 loss' || fail "no progress bar on a terminal"
fi
grep -q '#' m1/train.jsonl && fail "progress bar in the log"

# tokenize is dispatched to the tokenizer's subcommand
echo '"hello"' | sr-train tokenize --model m1 | grep -q '^\[[0-9,]*\]$' || fail "tokenize"

# errors: a run that does not fit, usage, a bad model directory
set +e
train m3 --max-memory 64K 2>mem.err; rc=$?
set -e
test $rc = 3 || fail "over --max-memory exits $rc, expected 3"
grep -q 'error: training needs .* but only 64.0 KiB is allowed' mem.err || fail "memory message"
test ! -e m3/model.safetensors || fail "a run that does not fit wrote a model"
set +e
sr-train --model m0 -o m4 2>/dev/null; rc=$?
test $rc = 2 || fail "missing --data exits $rc, expected 2"
sr-train --model nowhere --data shards -o m5 2>nowhere.err; rc=$?
set -e
test $rc = 1 || fail "missing model exits $rc, expected 1"
grep -q "nowhere" nowhere.err || fail "missing model message does not name it"
exit 0
