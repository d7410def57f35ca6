#!/bin/sh
# sr-train tokenize as a user sees it, with the small trained tokenizer in
# tests/data/tokenizer/small: encoding, decoding, --raw, --special,
# --split-special, --tokens, --chat, -o, zstd input, blank lines, and the
# exit status and message of each kind of error.
set -u
src=${SR_SRCDIR:-.}
model="$src/tests/data/tokenizer/small"
cli=test-tokenize-cli
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
failures=0

fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}

# expect_output NAME EXPECTED ACTUAL
expect_output() {
	if [ "$2" != "$3" ]; then
		fail "$1: expected '$2', got '$3'"
	else
		echo "ok: $1"
	fi
}

# expect_error NAME STATUS PATTERN COMMAND...: the command exits with
# STATUS and its standard error matches PATTERN (extended regex).
expect_error() {
	name=$1 want=$2 pattern=$3
	shift 3
	"$@" >"$tmp/out" 2>"$tmp/err"
	got=$?
	if [ "$got" -ne "$want" ]; then
		fail "$name: exit status $got, expected $want ($(cat "$tmp/err"))"
	elif ! grep -Eq -- "$pattern" "$tmp/err"; then
		fail "$name: message '$(cat "$tmp/err")' does not match '$pattern'"
	else
		echo "ok: $name"
	fi
}

# Encoding and decoding JSON strings; blank lines are skipped.
printf '%s\n' '"How do I bake bread?"' '' '"caf\u00e9 \ud83d\ude42"' '""' >"$tmp/in.jsonl"
"$cli" --model "$model" "$tmp/in.jsonl" >"$tmp/ids.jsonl" || fail "encode exited $?"
expect_output "encode writes one array per string" 3 "$(wc -l <"$tmp/ids.jsonl")"
expect_output "empty string gives an empty array" "[]" "$(sed -n 3p "$tmp/ids.jsonl")"
"$cli" --model "$model" --decode <"$tmp/ids.jsonl" >"$tmp/back.jsonl" || fail "decode exited $?"
expect_output "decode gives the strings back" \
	"$(printf '%s\n' '"How do I bake bread?"' '"café 🙂"' '""')" "$(cat "$tmp/back.jsonl")"

# The model directory or its tokenizer.json both work.
expect_output "tokenizer.json path works like the directory" "$(cat "$tmp/ids.jsonl")" \
	"$("$cli" --model "$model/tokenizer.json" "$tmp/in.jsonl")"

# --raw reads and writes plain text lines; an empty line is an empty text.
printf 'How do I bake bread?\n\ncaf\303\251 \360\237\231\202\n' >"$tmp/in.txt"
expect_output "--raw encodes plain lines" \
	"$(sed -n '1p' "$tmp/ids.jsonl"; echo '[]'; sed -n '2p' "$tmp/ids.jsonl")" \
	"$("$cli" --model "$model" --raw <"$tmp/in.txt")"
expect_output "--raw --decode writes plain lines" "$(cat "$tmp/in.txt")" \
	"$("$cli" --model "$model" --raw <"$tmp/in.txt" | "$cli" --model "$model" --raw --decode)"

# Special tokens are recognised in text unless --split-special is given.
# --special adds the BOS that tokenizer_config.json requests, and
# --skip-special drops special tokens when decoding.
expect_output "special tokens in text are recognised" "[1,2]" \
	"$(echo '"<|im_start|><|im_end|>"' | "$cli" --model "$model")"
split=$(echo '"<|im_end|>"' | "$cli" --model "$model" --split-special)
case $split in
\[2\] | *,2,* | *\[2,* | *,2\]) fail "--split-special still gives id 2: $split" ;;
*) echo "ok: --split-special encodes special tokens as text" ;;
esac
expect_output "--split-special decodes to the same text" '"<|im_end|>"' \
	"$(echo "$split" | "$cli" --model "$model" --decode)"
expect_output "--skip-special leaves special tokens out" '"hi"' \
	"$(echo '"<|im_start|>hi<|im_end|>"' | "$cli" --model "$model" |
		"$cli" --model "$model" --decode --skip-special)"
mkdir "$tmp/bos"
cp "$model/tokenizer.json" "$tmp/bos/"
sed -e 's/"add_bos_token": false/"add_bos_token": true/' \
	-e 's/"bos_token": null/"bos_token": "<|endoftext|>"/' \
	"$model/tokenizer_config.json" >"$tmp/bos/tokenizer_config.json"
plain=$(echo '"hi"' | "$cli" --model "$tmp/bos")
expect_output "--special adds BOS" "[0,${plain#\[}" \
	"$(echo '"hi"' | "$cli" --model "$tmp/bos" --special)"
expect_output "no BOS without --special" "$plain" "$(echo '"hi"' | "$cli" --model "$model" --special)"

# --tokens writes the tokens' spellings.
expect_output "--tokens writes spellings" '["<|im_start|>","Ġ"]' \
	"$(echo '"<|im_start|> "' | "$cli" --model "$model" --tokens)"

# -o writes a file; zstd input is detected by its magic number.
"$cli" --model "$model" -o "$tmp/out.jsonl" "$tmp/in.jsonl" || fail "-o exited $?"
expect_output "-o writes the output file" "$(cat "$tmp/ids.jsonl")" "$(cat "$tmp/out.jsonl")"
if command -v zstd >/dev/null 2>&1; then
	zstd -q "$tmp/in.jsonl" -o "$tmp/in.jsonl.zst"
	expect_output "zstd input" "$(cat "$tmp/ids.jsonl")" "$("$cli" --model "$model" "$tmp/in.jsonl.zst")"
fi

# --chat writes the ids and assistant mask training uses; shard records
# (objects with "messages") and bare arrays both work.
conv='[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello"}]'
chat=$(echo "$conv" | "$cli" --model "$model" --chat)
case $chat in
'{"ids":[1,'*'],"mask":[0,'*',1,1,0]}') echo "ok: --chat writes ids and mask" ;;
*) fail "--chat output: $chat" ;;
esac
expect_output "--chat reads records with messages" "$chat" \
	"$(echo "{\"id\": \"a-1\", \"messages\": $conv}" | "$cli" --model "$model" --chat=chatml)"
expect_output "--chat --text renders the template" \
	'"<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n"' \
	"$(echo "$conv" | "$cli" --model "$model" --chat --text)"
expect_output "--chat --prompt --text ends with the assistant header" \
	'"<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"' \
	"$(echo '[{"role":"user","content":"Hi"}]' | "$cli" --model "$model" --chat --prompt --text)"
expect_error "--chat with a bad message" 1 "/0/content" sh -c \
	"echo '[{\"role\":\"user\"}]' | $cli --model '$model' --chat"
expect_error "--chat with an unknown template" 2 "mistral" sh -c "echo '[]' | $cli --model '$model' --chat=mistral"
expect_error "--chat=llama3 without its tokens" 1 "no token .<\|begin_of_text\|>" sh -c \
	"echo '[]' | $cli --model '$model' --chat=llama3"
expect_error "--prompt without --chat" 2 "need --chat" "$cli" --model "$model" --prompt

# Errors: invalid data exits 1 naming file and line; usage errors exit 2.
printf '%s\n' '"fine"' '{"not": "a string"}' >"$tmp/bad.jsonl"
expect_error "non-string line" 1 "bad.jsonl:2.*JSON string" "$cli" --model "$model" "$tmp/bad.jsonl"
printf '%s\n' '"fine"' '"unterminated' >"$tmp/bad.jsonl"
expect_error "invalid JSON line" 1 "bad.jsonl:2.*invalid JSON" "$cli" --model "$model" "$tmp/bad.jsonl"
printf 'ok\n\377\376\n' >"$tmp/bad.txt"
expect_error "invalid UTF-8 in --raw" 1 "bad.txt:2.*UTF-8" "$cli" --model "$model" --raw "$tmp/bad.txt"
expect_error "unknown id" 1 "999999.*not in the vocabulary" sh -c "echo '[1,999999]' | $cli --model '$model' --decode"
expect_error "non-integer id" 1 "element 1 is not a token id" sh -c "echo '[1,\"x\"]' | $cli --model '$model' --decode"
expect_error "missing --model" 2 "missing --model" "$cli"
expect_error "unknown option" 2 "Try .*--help" "$cli" --model "$model" --frobnicate
expect_error "--skip-special without --decode" 2 "needs --decode" "$cli" --model "$model" --skip-special
expect_error "missing model directory" 3 "$tmp/nowhere" "$cli" --model "$tmp/nowhere"
expect_error "missing input file" 3 "nofile" "$cli" --model "$model" "$tmp/nofile"
echo '{"model": {"type": "Unigram", "vocab": []}}' >"$tmp/unigram.json"
expect_error "unsupported model type" 1 "Unigram" "$cli" --model "$tmp/unigram.json"

"$cli" --help >"$tmp/help" || fail "--help exited $?"
for opt in --model --raw --special --split-special --tokens --decode --skip-special --chat \
	--prompt --text --output; do
	grep -q -- "$opt" "$tmp/help" || fail "--help does not mention $opt"
done

[ "$failures" -eq 0 ]
