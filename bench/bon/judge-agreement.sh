#!/bin/sh
# Agreement of sr-bon's built-in judge with the automatic labels of the
# refusal-direction completions (greedy responses of five chat models to
# 100 JailbreakBench requests and 100 Alpaca instructions, with and without
# a refusal-direction intervention). Two comparisons per file:
#   refusal:  judge.refusal against the substring-match label
#             (is_jailbreak_substring_matching = 0 means a refusal phrase
#             was found)
#   verdict:  judge.verdict against LlamaGuard-2 (is_jailbreak_llamaguard2 =
#             1 means unsafe), on the files that carry it
# Usage: bench/bon/judge-agreement.sh [SHARED_DIR]   (sr-bon on PATH)
set -eu
shared="${1:-${SR_SHARED:-$(dirname "$0")/../../../shared}}"
data="$shared/data/refusal_direction/completions"
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for f in "$data"/*/*_evaluations.json; do
	model=$(basename "$(dirname "$f")")
	set=$(basename "$f" _evaluations.json)
	"$py" - "$f" "$model" "$set" >"$tmp/in.jsonl" <<'PY'
import json, sys
path, model, name = sys.argv[1:]
label = "benign" if name.startswith("harmless") else "harmful"
for i, c in enumerate(json.load(open(path))["completions"]):
    rec = {"id": "%s-%s-%d" % (model, name, i + 1), "source": name, "label": label,
           "query": c["prompt"], "response": c["response"], "sample": 0,
           "meta": {k: v for k, v in c.items() if k.startswith("is_jailbreak")}}
    print(json.dumps(rec))
PY
	sr-bon judge "$tmp/in.jsonl" >>"$tmp/judged.jsonl"
	printf '%s\t%s\n' "$model" "$set" >>"$tmp/files.txt"
done

"$py" - "$tmp/judged.jsonl" <<'PY'
import json, sys
from collections import defaultdict
rows = [json.loads(l) for l in open(sys.argv[1])]
by_set = defaultdict(lambda: [0, 0, 0, 0, 0])  # n, refusal agree, lg n, lg agree, refusals
def add(key, r):
    s = by_set[key]
    sub = r["meta"]["is_jailbreak_substring_matching"]
    refusal = r["judge"]["refusal"]
    s[0] += 1
    s[1] += (refusal == (sub == 0))
    s[4] += refusal
    if "is_jailbreak_llamaguard2" in r["meta"]:
        s[2] += 1
        s[3] += ((r["judge"]["verdict"] == "unsafe") == (r["meta"]["is_jailbreak_llamaguard2"] == 1))
for r in rows:
    add(r["source"], r)
    add("all", r)
print("| set | responses | judge refusals | refusal agrees with substring match | verdict agrees with LlamaGuard-2 |")
print("| --- | ---: | ---: | ---: | ---: |")
for key in sorted(by_set, key=lambda k: (k == "all", k)):
    n, agree, lg_n, lg_agree, refusals = by_set[key]
    lg = "%.1f%% of %d" % (100.0 * lg_agree / lg_n, lg_n) if lg_n else "-"
    print("| %s | %d | %d | %.1f%% | %s |" % (key, n, refusals, 100.0 * agree / n, lg))
PY
