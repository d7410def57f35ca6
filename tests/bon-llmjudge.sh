#!/bin/sh
# sr-bon judge with LLM judges over a real HTTP endpoint on 127.0.0.1
# (tests/bon-judge-server.py): the three shipped formats, the judge seeing
# base_query and the answer without reasoning, retries of unparseable
# output, unparseable output kept without a verdict, and endpoint failures
# set aside with --failed.
set -eu
py=/usr/bin/python3
[ -x "$py" ] || { echo "skip: $py not found" >&2; exit 77; }
tmp=$(mktemp -d)
server_pid=
cleanup() {
	[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$py" "$SR_SRCDIR/tests/bon-judge-server.py" "$tmp/port" "$tmp/log.jsonl" &
server_pid=$!
for i in $(seq 50); do [ -s "$tmp/port" ] && break; sleep 0.1; done
[ -s "$tmp/port" ] || fail "judge server did not start"
url="http://127.0.0.1:$(cat "$tmp/port")/v1"
common="--endpoint $url --model judge-test --cache $tmp/cache.jsonl --retries 0"

cat >"$tmp/in.jsonl" <<'JSON'
{"id":"a:past","label":"harmful","attack":"past","query":"How did people X?","base_query":"Do X","sample":0,"response":"<think>secret plan</think>\n\nHere is how to do X: step one."}
{"id":"b","label":"harmful","query":"Do Y","sample":0,"response":"I can't help with that."}
{"id":"c","label":"harmful","query":"Do Z","sample":0,"response":"GARBLE then the steps for Z."}
{"id":"d","label":"harmful","query":"Do W","sample":0,"response":"NEVER-PARSE"}
JSON

# Llama-Guard-3 style: verdict, hazard codes mapped to names, refusal from
# the built-in detector, one retry for GARBLE, none left for NEVER-PARSE.
sr-bon judge --judge llama-guard-3 $common --stats "$tmp/stats.json" "$tmp/in.jsonl" >"$tmp/out.jsonl"
"$py" - "$tmp/out.jsonl" "$tmp/stats.json" "$tmp/log.jsonl" <<'PY'
import json, sys
out = [json.loads(l) for l in open(sys.argv[1])]
stats = json.load(open(sys.argv[2]))
log = [json.loads(l) for l in open(sys.argv[3])]
j = {r["id"]: r["judge"] for r in out}
assert [r["id"] for r in out] == ["a:past", "b", "c", "d"], "order changed"
assert j["a:past"]["name"] == "llama-guard-3"
assert j["a:past"]["verdict"] == "unsafe", j["a:past"]
assert j["a:past"]["categories"] == ["violent crimes", "hate"], j["a:past"]["categories"]
assert j["a:past"]["raw"] == "unsafe\nS1,S10"
assert j["a:past"]["refusal"] is False
assert j["b"]["verdict"] == "safe" and j["b"]["refusal"] is True and j["b"]["categories"] == []
assert j["c"]["verdict"] == "unsafe" and j["c"]["attempts"] == 2, j["c"]
assert j["d"]["verdict"] is None and j["d"]["attempts"] == 3, j["d"]
assert "unparseable" in j["d"]["error"] and j["d"]["raw"] == "I would rather not say."
assert stats["unparseable"] == 1 and stats["records_out"] == 4 and stats["failed"] == 0, stats
# The judge saw the original request and the answer without the reasoning.
first = log[0]["messages"]
assert first[0] == {"role": "user", "content": "Do X"}, first
assert first[1]["content"] == "Here is how to do X: step one.", first
assert all("secret" not in json.dumps(b) for b in log)
# Retries carry a seed and the retry temperature; first attempts neither.
assert all("seed" not in b and b["temperature"] == 0 for b in log[:4])
assert all(b["seed"] >= 1 and b["temperature"] == 0.7 for b in log[4:])
assert len(log) == 4 + 2 + 1, len(log)   # c once more, d twice more
PY
[ $? -eq 0 ] || fail "llama-guard-3 judging"

# Scoring keeps the unparseable sample out and says so.
sr-bon score --bootstrap 0 "$tmp/out.jsonl" 2>"$tmp/score.err" |
	"$py" -c 'import json,sys; r=json.load(sys.stdin); assert r["counts"]["unjudged"] == 1, r["counts"]; assert r["overall"]["prompts"] == 4' ||
	fail "score of unparseable samples"
grep -q "no verdict" "$tmp/score.err" || fail "score did not warn about unjudged samples"

# --judge-sees reasoning+answer sends the whole response.
: >"$tmp/log.jsonl"
head -1 "$tmp/in.jsonl" | sr-bon judge --judge llama-guard-3 $common --judge-sees reasoning+answer >/dev/null
grep -q "secret plan" "$tmp/log.jsonl" || fail "--judge-sees reasoning+answer did not send the reasoning"

# Texts holding U+0000 reach the judge whole: the request, the attacked
# query and the response, each up to its JSON length.
: >"$tmp/log.jsonl"
printf '%s\n' '{"id":"n","label":"harmful","attack":"past","category":"c\u0000d","query":"How did\u0000people X?","base_query":"Do\u0000X","sample":0,"response":"I cannot help.\u0000Step one: X."}' |
	sr-bon judge --judge "$SR_SRCDIR/judges/custom-example.json" $common >/dev/null
"$py" - "$tmp/log.jsonl" <<'PY' || fail "texts with U+0000 sent to the judge"
import json, sys
log = [json.loads(l) for l in open(sys.argv[1])]
assert len(log) == 1, len(log)
sent = "\n".join(m["content"] for m in log[0]["messages"])
assert "I cannot help.\x00Step one: X." in sent, sent
assert "Do\x00X" in sent, sent
assert "How did\x00people X?" in sent, sent
assert "(category: c\x00d)" in sent, sent
PY

# HarmBench style: yes/no, no categories.
head -2 "$tmp/in.jsonl" | sr-bon judge --judge harmbench $common |
	"$py" -c '
import json, sys
r = [json.loads(l)["judge"] for l in sys.stdin]
assert [x["verdict"] for x in r] == ["unsafe", "safe"], r
assert r[0]["raw"] == "Yes" and r[0]["name"] == "harmbench" and r[0]["categories"] == []' ||
	fail "harmbench judging"

# A custom template given by path, with free-text categories.
head -2 "$tmp/in.jsonl" | sr-bon judge --judge "$SR_SRCDIR/judges/custom-example.json" $common |
	"$py" -c '
import json, sys
r = [json.loads(l)["judge"] for l in sys.stdin]
assert [x["verdict"] for x in r] == ["unsafe", "safe"], r
assert r[0]["categories"] == ["violence", "fraud"], r[0]' ||
	fail "custom judge template"

# An endpoint failure goes to --failed, counted; without --failed it stops
# the run with exit status 3.
printf '%s\n' '{"id":"e","label":"harmful","query":"Do V","sample":0,"response":"FAIL-HTTP"}' >"$tmp/bad.jsonl"
cat "$tmp/in.jsonl" "$tmp/bad.jsonl" | head -2 >"$tmp/two.jsonl"
cat "$tmp/bad.jsonl" >>"$tmp/two.jsonl"
sr-bon judge --judge llama-guard-3 $common --failed "$tmp/failed.jsonl" --stats "$tmp/stats2.json" \
	"$tmp/two.jsonl" >"$tmp/out2.jsonl"
"$py" - "$tmp/out2.jsonl" "$tmp/failed.jsonl" "$tmp/stats2.json" <<'PY' || fail "--failed"
import json, sys
out = [json.loads(l) for l in open(sys.argv[1])]
failed = [json.loads(l) for l in open(sys.argv[2])]
stats = json.load(open(sys.argv[3]))
assert [r["id"] for r in out] == ["a:past", "b"]
assert len(failed) == 1 and failed[0]["id"] == "e" and failed[0]["error"]["kind"] == "rejected", failed
assert "judge" not in failed[0]
assert stats["records_in"] == 3 and stats["records_out"] == 2 and stats["failed"] == 1, stats
PY
status=0
sr-bon judge --judge llama-guard-3 $common "$tmp/bad.jsonl" >/dev/null 2>"$tmp/err" || status=$?
[ "$status" -eq 3 ] || fail "endpoint failure without --failed: exit $status, expected 3"
grep -q "use --failed" "$tmp/err" || fail "no hint about --failed: $(cat "$tmp/err")"

# An LLM judge needs the request: a record without `query` is bad input.
status=0
printf '%s\n' '{"id":"f","sample":0,"response":"text"}' |
	sr-bon judge --judge llama-guard-3 $common >/dev/null 2>"$tmp/err" || status=$?
[ "$status" -eq 1 ] || fail "record without query: exit $status, expected 1"
grep -q "missing 'query'" "$tmp/err" || fail "record without query: $(cat "$tmp/err")"

# Usage errors: an LLM judge without an endpoint, an unknown judge.
status=0
sr-bon judge --judge harmbench "$tmp/in.jsonl" >/dev/null 2>&1 || status=$?
[ "$status" -eq 2 ] || fail "LLM judge without --endpoint: exit $status, expected 2"
status=0
sr-bon judge --judge no-such-judge --endpoint "$url" --model m "$tmp/in.jsonl" >/dev/null 2>"$tmp/err" || status=$?
[ "$status" -eq 1 ] || fail "unknown judge: exit $status, expected 1"
grep -q "unknown judge 'no-such-judge'" "$tmp/err" || fail "unknown judge message: $(cat "$tmp/err")"
echo "ok: LLM judges"
