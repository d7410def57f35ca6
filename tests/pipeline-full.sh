#!/bin/sh
# The whole pipeline on every shared data set that holds requests, with the
# teacher served by tests/sr-testserver: scripts/demo.sh with a sources
# list of the full sets. Checks that each stage's counts add up
# (records_in = records_out + skipped + rejected + duplicates + failed),
# that each import has as many records as its file has rows, and that the
# shards verify. Left out: AdvBench's harmful_strings.csv (target strings,
# not requests) and the refusal_direction completions (model responses).
set -u
. "${SR_SRCDIR:-.}/tests/mix-lib.sh"
need_tools sr-import sr-guide sr-synth sr-filter sr-dedup sr-mix sr-shard sr-testserver jq
data=${SR_SHARED:-}/data
[ -d "$data" ] || { echo "SKIP: shared data sets not found in '$data' (set SR_SHARED)"; exit 77; }
py=/usr/bin/python3
tmp=$(mktemp -d) || exit 99
trap 'stop_testserver; rm -rf "$tmp"' EXIT
cd "$tmp" || exit 99

# NAME FILE WHEN OPTIONS, as in data/sample/sources.txt, with the number of
# records each file must give after it.
cat >sources.txt <<LIST
advbench $data/advbench/harmful_behaviors.csv always --label harmful --map query=goal
harmbench $data/harmbench/harmbench_behaviors_text_all.csv always --label harmful --map query=Behavior --map category=SemanticCategory --map id=BehaviorID --context ContextString
jbb-harmful $data/jailbreakbench/harmful-behaviors.csv always --label harmful --map query=Goal --map category=Category
jbb-benign $data/jailbreakbench/benign-behaviors.csv endpoint --label benign --map query=Goal --map category=Category
strongreject $data/strongreject/strongreject_dataset.csv always --label harmful --map query=forbidden_prompt --map category=category
xstest $data/xstest/xstest_prompts.csv endpoint --label-field label --label-map safe=benign,unsafe=harmful --map query=prompt --map id=id
alpaca-seed $data/stanford_alpaca/seed_tasks.jsonl endpoint --label benign --map query=instruction
alpaca-eval $data/alpaca_eval/text_davinci_003_model_outputs.json always --label benign --map query=instruction --map reference=output
rd-alpaca $data/refusal_direction/processed/alpaca.json endpoint --label benign --map query=instruction
rd-malicious $data/refusal_direction/processed/malicious_instruct.json always --label harmful --map query=instruction
rd-tdc2023 $data/refusal_direction/processed/tdc2023.json always --label harmful --map query=instruction
rd-harmful-train $data/refusal_direction/splits/harmful_train.json always --label harmful --map query=instruction
rd-harmful-val $data/refusal_direction/splits/harmful_val.json always --label harmful --map query=instruction
rd-harmful-test $data/refusal_direction/splits/harmful_test.json always --label harmful --map query=instruction
past-tense-jbb $data/llm_past_tense/harmful_behaviors_jailbreakbench.csv always --label harmful --map query=Goal --map category=Category
LIST
for f in "$data"/llm_past_tense/jailbreak_artifacts/*/*.json; do
	kind=$(basename "$(dirname "$f")")
	echo "pt-$kind-$(basename "$f" .json | tr -c 'A-Za-z0-9.\n-' '-') $f always --label harmful --records /jb_artifacts --map query=request_reformulated --map base_query=request"
done >>sources.txt

# Rows per file, counted by Python's csv and json modules.
"$py" - sources.txt >expected.txt <<'PY' || fail "cannot count the rows of the data sets"
import csv, json, sys
for line in open(sys.argv[1]):
    name, path = line.split()[:2]
    if path.endswith(".csv"):
        with open(path, newline="", encoding="utf-8") as f:
            n = sum(1 for _ in csv.DictReader(f))
    elif path.endswith(".jsonl"):
        n = sum(1 for l in open(path) if l.strip())
    else:
        doc = json.load(open(path))
        n = len(doc["jb_artifacts"] if isinstance(doc, dict) else doc)
    print(name, n)
PY

start_testserver "$tmp" || fail "cannot start sr-testserver"
OPENAI_API_KEY=srkit-test-key sh "$SR_SRCDIR/scripts/demo.sh" --sources sources.txt -o full \
	--concurrency 64 --val-fraction 0.02 >full.out 2>full.err ||
	fail "demo.sh on the full data sets exited $?: $(tail -5 full.err)
failed samples by error: $(jq -c '[.id, .query, .error.message]' full/failed.jsonl 2>/dev/null | head -10)"
stop_testserver
check_demo_output full
while read -r name rows; do
	got=$(jq .records_out "full/stats/import-$name.json")
	[ "$got" -eq "$rows" ] || fail "$name: sr-import wrote $got records, the file has $rows rows"
done <expected.txt
prompts=$(jq .records_out full/stats/guide.json)
[ "$prompts" -eq "$(awk '{ n += $2 } END { print n }' expected.txt)" ] || fail "sr-guide lost records"
jq -e --argjson p "$prompts" '.records_out == 2 * $p and .failed == 0' full/stats/synth.json >/dev/null ||
	fail "sr-synth: $(jq -c . full/stats/synth.json) for $prompts prompts"
# past-tense-jbb repeats jbb-harmful, so kept copies must show up as duplicates.
[ "$(jq .duplicates full/stats/dedup.json)" -gt 0 ] || fail "sr-dedup found no duplicates"
cat full.out
echo "pipeline-full: ok"
