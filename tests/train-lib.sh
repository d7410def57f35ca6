# train-lib.sh - helpers for the sr-train shell tests, sourced by them.
# Needs SR_SHARED (the shared data sets) and the built tools on PATH.

set -eu

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# make_shards DIR NTRAIN NVAL: chat examples from the AlpacaEval
# instructions and reference outputs, mixed by sr-mix --format raw into a
# finished shard directory (train and val shards and manifest.json).
make_shards() {
	mkdir -p "$1"
	/usr/bin/python3 - "$SR_SHARED/data/alpaca_eval/text_davinci_003_model_outputs.json" \
		"$1" "$2" "$3" <<'PY'
import json, sys
src, out, ntrain, nval = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rows = json.load(open(src))
def write(path, part):
    with open(path, "w") as f:
        for i, r in part:
            f.write(json.dumps({"id": "alpaca_eval-%d" % (i + 1), "source": "alpaca_eval",
                                "messages": [{"role": "user", "content": r["instruction"]},
                                             {"role": "assistant", "content": r["output"]}]}) + "\n")
items = list(enumerate(rows))
write(out + ".examples.jsonl", items[:ntrain + nval])
PY
	sr-mix --format raw --val "$3" --seed 1 -o "$1" "$1.examples.jsonl" 2>/dev/null ||
		fail "sr-mix could not shard the examples"
	rm -f "$1.examples.jsonl"
}

# tiny_config FILE: a 2-layer model small enough for unit-test time.
tiny_config() {
	cat > "$1" <<'JSON'
{"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "intermediate_size": 128,
 "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
 "max_position_embeddings": 256}
JSON
}

# log_fields LOG: the deterministic fields of each step line, one per line.
log_fields() {
	/usr/bin/python3 -c '
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if "step" in r:
        print(r["step"], repr(r["loss"]), repr(r["lr"]), repr(r["grad_norm"]), repr(r.get("val_loss")))
' "$1"
}
