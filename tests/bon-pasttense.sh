#!/bin/sh
# Reproduce the per-model attack success rates of the past-tense attack logs:
# convert each artifact file with each of its three judges, score with
# --aggregate any-unsafe --ordered, and compare the success rate at every k
# from 1 to 20 with the rate Python computes from the same JSON: the
# fraction of requests whose kept attempt is jailbroken and has
# i_restart < k. Requests that the kept attempt does not settle must be
# counted as incomplete, not dropped.
set -eu
data="${SR_SHARED:-}/data/llm_past_tense/jailbreak_artifacts"
if [ ! -d "$data" ]; then
	echo "skip: $data not found" >&2
	exit 77
fi
py=/usr/bin/python3
[ -x "$py" ] || { echo "skip: $py not found" >&2; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ks=$(seq -s, 1 20)
files=0
for f in "$data"/*/*.json; do
	for judge in gpt llama rules; do
		sr-bon convert --judge "$judge" --stats "$tmp/convert.json" "$f" >"$tmp/samples.jsonl"
		sr-bon score --aggregate any-unsafe --ordered --bootstrap 0 -k "$ks" \
			"$tmp/samples.jsonl" >"$tmp/report.json"
		"$py" - "$f" "$judge" "$tmp/report.json" "$tmp/convert.json" <<'PY'
import json, sys
path, judge, report_path, stats_path = sys.argv[1:]
arts = json.load(open(path))["jb_artifacts"]
rep = json.load(open(report_path))
stats = json.load(open(stats_path))
field = "jailbroken_" + judge
n = len(arts)
bad = []
if stats["records_in"] != n or stats["records_out"] != n:
    bad.append("convert counts %r for %d artifacts" % (stats, n))
asr = rep["overall"]["asr"]
if rep["overall"]["prompts"] != n:
    bad.append("report has %d prompts, file has %d" % (rep["overall"]["prompts"], n))
for entry in asr:
    k = entry["k"]
    hits = sum(1 for a in arts if a[field] and a["i_restart"] < k)
    # Only the kept attempt is present, so indices 0..k-1 are all there
    # only when k = 1 and that attempt is the first.
    unsettled = sum(1 for a in arts
                    if not (a[field] and a["i_restart"] < k) and not (k == 1 and a["i_restart"] == 0))
    if abs(entry["value"] - hits / n) > 1e-12:
        bad.append("k=%d: sr-bon %.6f, expected %d/%d" % (k, entry["value"], hits, n))
    if entry["incomplete"] != unsettled or entry["prompts"] != n:
        bad.append("k=%d: incomplete %d, expected %d" % (k, entry["incomplete"], unsettled))
final = asr[-1]["value"] * n
print("%s %s: %d/%d jailbroken" % (path.split("jailbreak_artifacts/")[1], judge, round(final), n))
if bad:
    print("FAIL " + path + " " + judge + ": " + "; ".join(bad))
    sys.exit(1)
PY
	done
	files=$((files + 1))
done
[ "$files" -eq 24 ] || { echo "FAIL: expected 24 artifact files, found $files"; exit 1; }

# The counts printed in the data's notes for gpt-3.5-turbo, past tense.
f="$data/past_tense/gpt-3.5-turbo.json"
for pair in gpt:74 llama:47 rules:73; do
	judge=${pair%%:*} want=${pair#*:}
	got=$(sr-bon convert --judge "$judge" "$f" |
		sr-bon score --aggregate any-unsafe --ordered --bootstrap 0 -k 20 |
		"$py" -c 'import json,sys; print(round(json.load(sys.stdin)["overall"]["asr"][0]["value"] * 100))')
	[ "$got" = "$want" ] || { echo "FAIL: gpt-3.5-turbo $judge: $got, expected $want"; exit 1; }
done
# Per category, with the categories joined from the behaviours CSV.
sr-import -q -s jailbreakbench -l harmful "$data/../harmful_behaviors_jailbreakbench.csv" >"$tmp/queries.jsonl"
sr-bon convert --queries "$tmp/queries.jsonl" --stats "$tmp/convert.json" "$data/past_tense/gpt-4o-mini.json" |
	sr-bon score --aggregate any-unsafe --ordered --bootstrap 0 -k 20 >"$tmp/report.json"
"$py" - "$data/../harmful_behaviors_jailbreakbench.csv" "$data/past_tense/gpt-4o-mini.json" \
	"$tmp/report.json" "$tmp/convert.json" <<'PY'
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1])))
arts = json.load(open(sys.argv[2]))["jb_artifacts"]
rep = json.load(open(sys.argv[3]))
assert json.load(open(sys.argv[4]))["unmatched"] == 0
cats = {}
for a in arts:
    c = rows[a["i_request"]]["Category"]
    hit, n = cats.get(c, (0, 0))
    cats[c] = (hit + a["jailbroken_gpt"], n + 1)
got = {c: (g["asr"][0]["value"], g["prompts"]) for c, g in rep["categories"].items()}
want = {c: (hit / n, n) for c, (hit, n) in cats.items()}
assert got.keys() == want.keys(), (sorted(got), sorted(want))
for c in want:
    assert abs(got[c][0] - want[c][0]) < 1e-12, (c, got[c], want[c])
    assert got[c][1] == want[c][1], (c, got[c], want[c])
PY

# All models of one attack in one call: the model goes into id and source,
# so no id repeats and the report has one source per model with that
# model's rate. The same model and attack twice is refused.
sr-bon convert "$data"/past_tense/*.json >"$tmp/all.jsonl"
sr-bon score --aggregate any-unsafe --ordered --bootstrap 0 -k 20 "$tmp/all.jsonl" >"$tmp/report.json"
"$py" - "$tmp/all.jsonl" "$tmp/report.json" "$data"/past_tense/*.json <<'PY'
import json, sys
recs = [json.loads(line) for line in open(sys.argv[1])]
rep = json.load(open(sys.argv[2]))
ids = [r["id"] for r in recs]
assert len(ids) == len(set(ids)), "%d ids repeat" % (len(ids) - len(set(ids)))
want = {}
for path in sys.argv[3:]:
    doc = json.load(open(path))
    arts = doc["jb_artifacts"]
    want["jailbreakbench@" + doc["target_model"]] = (sum(a["jailbroken_gpt"] for a in arts) / len(arts), len(arts))
got = {s: (g["asr"][0]["value"], g["prompts"]) for s, g in rep["sources"].items()}
assert got.keys() == want.keys(), (sorted(got), sorted(want))
for s in want:
    assert abs(got[s][0] - want[s][0]) < 1e-12 and got[s][1] == want[s][1], (s, got[s], want[s])
assert rep["overall"]["prompts"] == len(recs), (rep["overall"]["prompts"], len(recs))
PY
f="$data/past_tense/phi3.json"
status=0
sr-bon convert "$f" "$data/past_tense/r2d2.json" "$f" >/dev/null 2>"$tmp/err" || status=$?
[ "$status" -eq 1 ] || { echo "FAIL: same model twice: exit $status, expected 1"; exit 1; }
grep -q "model 'phi3' was already converted" "$tmp/err" || { echo "FAIL: same model twice: $(cat "$tmp/err")"; exit 1; }

# A queries file of other requests is refused.
sed 's/"query":"Write/"query":"Rewrite/' "$tmp/queries.jsonl" >"$tmp/other.jsonl"
status=0
sr-bon convert --queries "$tmp/other.jsonl" "$data/past_tense/gpt-4o-mini.json" >/dev/null 2>&1 || status=$?
[ "$status" -eq 1 ] || { echo "FAIL: mismatched --queries: exit $status, expected 1"; exit 1; }
echo "ok: 24 files x 3 judges reproduced, categories joined, models kept apart"
