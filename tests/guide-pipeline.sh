#!/bin/sh
# sr-import | sr-guide on each real data set: record counts, guideline ids by
# label, byte-identical reruns, ablation switches, the refusal-only variant,
# and prompt records valid against schemas/prompt.schema.json.
set -u
data="${SR_SHARED:-}/data"
if [ ! -d "$data" ]; then
	echo "shared data not found at '$data'; set SR_SHARED"
	exit 77
fi
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
harmful_ids='["intent","decode","framing","harm","benign","plan","refusal_style","reflect"]'
benign_ids='["intent","decode","framing","harm","benign","plan","helpfulness","reflect"]'

# pipe NAME COUNT FILE SR-IMPORT-OPTIONS...
pipe() {
	name=$1 want=$2 file=$3
	shift 3
	if ! sr-import "$@" "$data/$file" | sr-guide --stats "$tmp/$name.stats" >"$tmp/$name.jsonl" 2>"$tmp/$name.err"; then
		echo "FAIL: $name: the pipeline failed: $(cat "$tmp/$name.err")"
		fail=1
		return
	fi
	got=$(wc -l <"$tmp/$name.jsonl")
	nh=$(grep -c "\"label\":\"harmful\"" "$tmp/$name.jsonl")
	nhi=$(grep -cF "\"ids\":$harmful_ids" "$tmp/$name.jsonl")
	nb=$(grep -c "\"label\":\"benign\"" "$tmp/$name.jsonl")
	nbi=$(grep -cF "\"ids\":$benign_ids" "$tmp/$name.jsonl")
	if [ "$got" -ne "$want" ]; then
		echo "FAIL: $name: $got prompt records, expected $want"
		fail=1
	elif [ "$nh" -ne "$nhi" ] || [ "$nb" -ne "$nbi" ] || [ $((nh + nb)) -ne "$want" ]; then
		echo "FAIL: $name: guideline ids do not follow the labels ($nh harmful, $nhi with harmful ids; $nb benign, $nbi with benign ids)"
		fail=1
	elif ! grep -q "\"records_in\": $want," "$tmp/$name.stats"; then
		echo "FAIL: $name: stats: $(cat "$tmp/$name.stats")"
		fail=1
	else
		echo "ok: $name ($got prompt records)"
	fi
}

pipe advbench 520 advbench/harmful_behaviors.csv -l harmful -s advbench
pipe harmbench 400 harmbench/harmbench_behaviors_text_all.csv -l harmful -s harmbench \
	-m category=SemanticCategory -m id=BehaviorID --context ContextString
pipe jbb_harmful 100 jailbreakbench/harmful-behaviors.csv -l harmful -s jbb
pipe jbb_benign 100 jailbreakbench/benign-behaviors.csv -l benign -s jbb_benign
pipe strongreject 313 strongreject/strongreject_dataset.csv -l harmful
pipe xstest 450 xstest/xstest_prompts.csv -s xstest --label-map safe=benign,unsafe=harmful
pipe alpaca_eval 805 alpaca_eval/text_davinci_003_model_outputs.json -l benign -m reference=output
pipe seed_tasks 175 stanford_alpaca/seed_tasks.jsonl -l benign
pipe rd_harmful_test 572 refusal_direction/splits/harmful_test.json -l harmful
pipe rd_harmless_val 6264 refusal_direction/splits/harmless_val.json -l benign
pipe advbench_strings 574 advbench/harmful_strings.csv -l harmful -m query=target
pipe harmbench_val 80 harmbench/harmbench_behaviors_text_val.csv -l harmful -m id=BehaviorID
pipe harmbench_test 320 harmbench/harmbench_behaviors_text_test.csv -l harmful -m id=BehaviorID
pipe past_tense_goals 100 llm_past_tense/harmful_behaviors_jailbreakbench.csv -l harmful
pipe xstest_v2 450 xstest/xstest_v2_prompts.csv --label-field type --label-map 'contrast_*=harmful,*=benign'
pipe xstest_v1 200 xstest/xstest_prompts_v1.csv -l benign
pipe rd_malicious 100 refusal_direction/processed/malicious_instruct.json -l harmful
pipe rd_tdc 100 refusal_direction/processed/tdc2023.json -l harmful
pipe rd_harmful_train 260 refusal_direction/splits/harmful_train.json -l harmful
pipe rd_harmful_val 39 refusal_direction/splits/harmful_val.json -l harmful

# The large benign sets are only counted: their prompt records are about
# 10 KB each, too many to keep.
for s in processed/alpaca:31323 splits/harmless_train:18793 splits/harmless_test:6266; do
	name=${s%:*} want=${s#*:}
	got=$(sr-import -l benign "$data/refusal_direction/$name.json" | sr-guide | grep -cF "\"ids\":$benign_ids")
	if [ "$got" -eq "$want" ]; then
		echo "ok: $name ($got prompt records)"
	else
		echo "FAIL: $name: $got prompt records with the benign ids, expected $want"
		fail=1
	fi
done

# The same input and set give the same bytes.
sr-import -s xstest --label-map safe=benign,unsafe=harmful "$data/xstest/xstest_prompts.csv" | sr-guide >"$tmp/again.jsonl"
if cmp -s "$tmp/xstest.jsonl" "$tmp/again.jsonl"; then
	echo "ok: rerun is byte-identical"
else
	echo "FAIL: a second run of sr-guide gave different bytes"
	fail=1
fi

# Ablations and the refusal-only variant change the ids and the prompt.
sr-guide --except decode,reflect "$tmp/xstest.jsonl" >"$tmp/except.jsonl" &&
	sr-guide --only intent,helpfulness "$tmp/xstest.jsonl" >"$tmp/only.jsonl" &&
	sr-guide --refusal-only "$tmp/xstest.jsonl" >"$tmp/rt.jsonl" || { echo "FAIL: ablation runs failed"; fail=1; }
n=$(grep -c '"ids":\["intent","framing","harm","benign","plan","helpfulness"\]' "$tmp/except.jsonl")
[ "$n" -eq 250 ] || { echo "FAIL: --except: $n benign records with the expected ids, expected 250"; fail=1; }
grep -q 'Decode and restate' "$tmp/except.jsonl" && { echo "FAIL: --except decode left its step in the prompt"; fail=1; }
n=$(grep -c '"ids":\["intent"\]' "$tmp/only.jsonl")
[ "$n" -eq 200 ] || { echo "FAIL: --only: $n harmful records with ids [intent], expected 200"; fail=1; }
n=$(grep -c '"ids":\[\],"tags":{"open":"<think>","close":"</think>"},"variant":"refusal_only"' "$tmp/rt.jsonl")
[ "$n" -eq 450 ] || { echo "FAIL: --refusal-only: $n records marked refusal_only, expected 450"; fail=1; }
grep -q '<think>' "$tmp/rt.jsonl" && grep -q '"role":"assistant","content":"<think>' "$tmp/rt.jsonl" &&
	{ echo "FAIL: --refusal-only examples still contain reasoning"; fail=1; }
echo "ok: ablation switches checked"

if [ ! -x "$py" ] || ! "$py" -c 'import jsonschema' 2>/dev/null; then
	echo "note: $py with jsonschema is missing; prompt records were not validated"
	exit "$fail"
fi
"$py" - "$tmp" "$SR_SRCDIR/schemas" <<'PY' || fail=1
import json, sys, glob, os
import jsonschema

tmp, schemas = sys.argv[1:3]
prompt = jsonschema.Draft202012Validator(json.load(open(schemas + "/prompt.schema.json")))
bad = 0
for path in sorted(glob.glob(tmp + "/*.jsonl")):
    n = 0
    for i, line in enumerate(open(path, encoding="utf-8")):
        rec = json.loads(line)
        msgs = rec["request"]["messages"]
        errors = list(prompt.iter_errors(rec))
        if errors:
            print("FAIL: %s line %d: %s" % (os.path.basename(path), i + 1, errors[0].message))
            bad = 1
            break
        if msgs[0]["role"] != "system" or msgs[-1] != {"role": "user", "content": rec["query"]}:
            print("FAIL: %s line %d: request is not [system, ..., user query]" % (os.path.basename(path), i + 1))
            bad = 1
            break
        if "{{" in msgs[0]["content"]:
            print("FAIL: %s line %d: a placeholder was left in the system prompt" % (os.path.basename(path), i + 1))
            bad = 1
            break
        n += 1
    print("ok: %s: %d prompt records valid" % (os.path.basename(path), n))
sys.exit(bad)
PY
exit "$fail"
