#!/bin/sh
# Import every query set in the shared data and check each against the file
# itself: the record count, and every query, meta value and id compared with
# what Python's csv and json modules read from the same file.
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

# run NAME COUNT FILE QUERYCOL CONTEXTCOL USEDCOLS -- SR-IMPORT-OPTIONS...
# USEDCOLS are the columns that must not appear in meta (comma-separated).
run() {
	name=$1 want=$2 file=$3 qcol=$4 ctx=$5 used=$6
	shift 7
	if ! sr-import --stats "$tmp/$name.stats" -o "$tmp/$name.jsonl" "$@" "$data/$file" 2>"$tmp/$name.err"; then
		echo "FAIL: $name: sr-import exited with an error: $(cat "$tmp/$name.err")"
		fail=1
		return
	fi
	got=$(wc -l <"$tmp/$name.jsonl")
	if [ "$got" -ne "$want" ]; then
		echo "FAIL: $name: $got records, expected $want"
		fail=1
	fi
	grep -q "\"records_in\": $want," "$tmp/$name.stats" && grep -q "\"records_out\": $want," "$tmp/$name.stats" ||
		{ echo "FAIL: $name: stats do not count $want records in and out"; fail=1; }
	printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$file" "$qcol" "$ctx" "$used" >>"$tmp/list"
	echo "ok: $name ($got records)"
}

run advbench 520 advbench/harmful_behaviors.csv goal - goal -- -l harmful -s advbench
run advbench_strings 574 advbench/harmful_strings.csv target - target -- -l harmful -s advbench_strings -m query=target
for part in all:400 val:80 test:320; do
	run "harmbench_${part%:*}" "${part#*:}" "harmbench/harmbench_behaviors_text_${part%:*}.csv" Behavior ContextString \
		Behavior,SemanticCategory,BehaviorID,ContextString -- -l harmful -s harmbench \
		-m category=SemanticCategory -m id=BehaviorID --context ContextString
done
run jbb_harmful 100 jailbreakbench/harmful-behaviors.csv Goal - Goal,Category -- -l harmful -s jbb
run jbb_benign 100 jailbreakbench/benign-behaviors.csv Goal - Goal,Category -- -l benign -s jbb_benign
run past_tense_goals 100 llm_past_tense/harmful_behaviors_jailbreakbench.csv Goal - Goal,Category -- -l harmful -s jbb_past
run strongreject 313 strongreject/strongreject_dataset.csv forbidden_prompt - forbidden_prompt,category -- -l harmful
run xstest 450 xstest/xstest_prompts.csv prompt - id,prompt,label -- -s xstest --label-map safe=benign,unsafe=harmful
run xstest_v2 450 xstest/xstest_v2_prompts.csv prompt - id_v2,prompt,type -- -s xstest_v2 \
	--label-field type --label-map 'contrast_*=harmful,*=benign' -m id=id_v2
run xstest_v1 200 xstest/xstest_prompts_v1.csv prompt - id,prompt -- -s xstest_v1 -l benign
run alpaca_eval 805 alpaca_eval/text_davinci_003_model_outputs.json instruction - instruction,output,dataset -- \
	-l benign -m reference=output -m source=dataset
run seed_tasks 175 stanford_alpaca/seed_tasks.jsonl instruction - id,instruction -- -l benign -s alpaca_seed
run rd_alpaca 31323 refusal_direction/processed/alpaca.json instruction - instruction,category -- -l benign -s rd_alpaca
run rd_malicious 100 refusal_direction/processed/malicious_instruct.json instruction - instruction,category -- -l harmful
run rd_tdc 100 refusal_direction/processed/tdc2023.json instruction - instruction,category -- -l harmful
for s in harmless_train:18793 harmless_val:6264 harmless_test:6266; do
	run "rd_${s%:*}" "${s#*:}" "refusal_direction/splits/${s%:*}.json" instruction - instruction,category -- -l benign
done
for s in harmful_train:260 harmful_val:39 harmful_test:572; do
	run "rd_${s%:*}" "${s#*:}" "refusal_direction/splits/${s%:*}.json" instruction - instruction,category -- -l harmful
done
# A past-tense attack log: the records are the jb_artifacts array of an object.
run past_tense_gpt4o 100 llm_past_tense/jailbreak_artifacts/past_tense/gpt-4o-2024-05-13.json request_reformulated - \
	request_reformulated -- -l harmful --records /jb_artifacts -m query=request_reformulated

if [ ! -x "$py" ] || ! "$py" -c 'import jsonschema' 2>/dev/null; then
	echo "note: $py with jsonschema is missing; values were not cross-checked"
	[ "$fail" -eq 0 ] || exit 1
	exit 0
fi

"$py" - "$tmp" "$data" "$SR_SRCDIR/schemas/query.schema.json" <<'PY' || fail=1
import csv, json, sys, collections
import jsonschema

tmp, data, schema_path = sys.argv[1:4]
validator = jsonschema.Draft202012Validator(json.load(open(schema_path)))
bad = 0

def rows_of(path):
    if path.endswith(".csv"):
        with open(path, newline="", encoding="utf-8-sig") as f:
            return list(csv.DictReader(f))
    if path.endswith(".jsonl"):
        with open(path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    doc = json.load(open(path, encoding="utf-8"))
    return doc["jb_artifacts"] if isinstance(doc, dict) else doc

all_ids = collections.Counter()
for line in open(tmp + "/list"):
    name, file, qcol, ctx, used = line.rstrip("\n").split("\t")
    used = set(used.split(","))
    rows = rows_of(data + "/" + file)
    recs = [json.loads(l) for l in open(tmp + "/" + name + ".jsonl", encoding="utf-8")]
    problems = []
    if len(rows) != len(recs):
        problems.append("%d rows in the file, %d records" % (len(rows), len(recs)))
    for i, (row, rec) in enumerate(zip(rows, recs)):
        q = row[qcol]
        if ctx != "-" and row.get(ctx, "").strip():
            q = row[ctx] + "\n\n---\n\n" + q
        if rec["query"] != q:
            problems.append("row %d: query %r, expected %r" % (i + 1, rec["query"][:60], q[:60]))
        meta = {k: v for k, v in row.items() if k not in used and k.lower() not in ("id", "category")}
        if rec.get("meta") != meta:
            problems.append("row %d: meta %r, expected %r" % (i + 1, rec.get("meta"), meta))
        errors = list(validator.iter_errors(rec))
        if errors:
            problems.append("row %d: schema: %s" % (i + 1, errors[0].message))
        if "id" in row and "id" in used and rec["id"] != str(row["id"]):
            problems.append("row %d: id %r, expected %r" % (i + 1, rec["id"], row["id"]))
        if len(problems) > 5:
            break
    all_ids.update(r["id"] for r in recs)
    if problems:
        bad = 1
        print("FAIL: %s: %s" % (name, "; ".join(problems[:5])))
    else:
        print("ok: %s values match the file" % name)

def labels(name):
    return collections.Counter(json.loads(l)["label"] for l in open(tmp + "/" + name + ".jsonl"))

for name, want in (("xstest", {"benign": 250, "harmful": 200}), ("xstest_v2", {"benign": 250, "harmful": 200})):
    if labels(name) != want:
        bad = 1
        print("FAIL: %s labels %r, expected %r" % (name, dict(labels(name)), want))
sources = collections.Counter(json.loads(l)["source"] for l in open(tmp + "/alpaca_eval.jsonl"))
want = {"selfinstruct": 252, "oasst": 188, "koala": 156, "helpful_base": 129, "vicuna": 80}
if dict(sources) != want:
    bad = 1
    print("FAIL: alpaca_eval sources %r, expected %r" % (dict(sources), want))
sys.exit(bad)
PY
exit "$fail"
