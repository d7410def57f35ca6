#!/bin/sh
# The manifest and the training examples of every format validate against
# schemas/manifest.schema.json and schemas/example.schema.json under the
# reference validator (python3-jsonschema), and sr-mix's manifests pass our
# own validator through sr-shard verify.
set -u
. "${SR_SRCDIR:-.}/tests/mix-lib.sh"
py=/usr/bin/python3
"$py" -c 'import jsonschema' 2>/dev/null || { echo "SKIP: python3-jsonschema is not installed"; exit 77; }
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 99

gen_samples a harmful 20 2 >a.jsonl
gen_samples b benign 20 1 >b.jsonl
for f in srg rt alpaca alpaca-rt; do
	sr-mix -o "$f" --format "$f" --val 6 --ratio a=2 --ratio b=1 --total 30 --system "S" a.jsonl b.jsonl ||
		fail "sr-mix --format $f exited $?"
	sr-shard verify "$f" 2>/dev/null || fail "verify $f"
	sr-shard cat "$f" >"$f.jsonl" || fail "cat $f"
done
sr-mix -o stdin --format rt <a.jsonl || fail "sr-mix from standard input exited $?"

"$py" - "$SR_SRCDIR/schemas" srg rt alpaca alpaca-rt stdin <<'PY' || fail "reference validation"
import json, sys, jsonschema
schemas, dirs = sys.argv[1], sys.argv[2:]
manifest = json.load(open(schemas + "/manifest.schema.json"))
example = json.load(open(schemas + "/example.schema.json"))
jsonschema.Draft202012Validator.check_schema(manifest)
jsonschema.Draft202012Validator.check_schema(example)
mv = jsonschema.Draft202012Validator(manifest)
ev = jsonschema.Draft202012Validator(example)
bad = 0
for d in dirs:
    for e in mv.iter_errors(json.load(open(d + "/manifest.json"))):
        print(f"{d}/manifest.json: {e.json_path}: {e.message}")
        bad += 1
    if d == "stdin":
        continue
    n = 0
    for line in open(d + ".jsonl"):
        n += 1
        for e in ev.iter_errors(json.loads(line)):
            print(f"{d}.jsonl:{n}: {e.json_path}: {e.message}")
            bad += 1
    assert n == 30, f"{d}: {n} examples, expected 30"
# A wrong example is refused, so the schema is not vacuous.
assert not ev.is_valid({"id": "x", "messages": [{"role": "user", "content": "q"}], "extra": 1})
assert not ev.is_valid({"id": "x", "label": "unsafe"})
sys.exit(1 if bad else 0)
PY
jq -e '.inputs == [{"name": "-", "xxh64": null}]' stdin/manifest.json >/dev/null ||
	fail "standard input entry: $(jq -c .inputs stdin/manifest.json)"
echo "mix-schema: ok"
