#!/bin/sh
# sr-import | sr-guide | sr-synth with the built-in teacher on AdvBench and
# XSTest: every harmful prompt gets refusals whose reasoning covers each
# guideline, benign prompts without a reference go to --failed (exit 3),
# and two runs give the same bytes.
. "${SR_SRCDIR:-.}/tests/synth-common.sh"
need_data advbench/harmful_behaviors.csv xstest/xstest_prompts.csv

{ advbench_prompts && xstest_prompts; } >"$tmp/prompts.jsonl" || fail "building prompts failed"
[ "$(wc -l <"$tmp/prompts.jsonl")" -eq 970 ] || fail "expected 970 prompt records"

unset SR_ENDPOINT OPENAI_BASE_URL
sr-synth -n 2 --failed "$tmp/failed.jsonl" --stats "$tmp/stats.json" \
	"$tmp/prompts.jsonl" >"$tmp/out.jsonl" 2>"$tmp/err"
status=$?
[ $status -eq 3 ] || fail "exit status $status, expected 3 (benign prompts have no reference)"
grep -q "using the built-in rule-based teacher" "$tmp/err" || fail "no notice about the built-in teacher"
grep -q "has no 'reference'" "$tmp/err" || fail "no warning naming the missing reference"
# One warning for the cause, then its count, not one line per record.
[ "$(grep -c "record '.*has no 'reference'" "$tmp/err")" -eq 1 ] ||
	fail "$(grep -c "has no 'reference'" "$tmp/err") warnings about references, expected one and a count"
grep -q "250 records in all could not be answered (listed in --failed) because: benign record has no 'reference'" \
	"$tmp/err" || fail "no count of the records without a reference"

check_samples "$tmp/prompts.jsonl" "$tmp/out.jsonl" 2 "$tmp/failed.jsonl"
[ "$(stat_value "$tmp/stats.json" records_in)" -eq 1940 ] || fail "records_in: 970 prompts x 2"
[ "$(stat_value "$tmp/stats.json" prompts_in)" -eq 970 ] || fail "prompts_in"
[ "$(stat_value "$tmp/stats.json" records_out)" -eq 1440 ] || fail "records_out: 720 harmful x 2"
[ "$(stat_value "$tmp/stats.json" failed)" -eq 500 ] || fail "failed: 250 benign x 2"

$PY - "$tmp/out.jsonl" "$tmp/failed.jsonl" "$SRKIT_DATADIR/guidelines/default.json" <<'PYEOF' || fail "content check"
import json, re, sys
out, failed, setpath = sys.argv[1:4]
gs = json.load(open(setpath, encoding="utf-8"))
harmful_ids = [g for g in gs["guidelines"] if "harmful" in g.get("labels", ["harmful"])]
for line in open(out, encoding="utf-8"):
    r = json.loads(line)
    assert r["label"] == "harmful", r["id"]
    assert r["teacher"] == {"model": "builtin", "endpoint": "builtin", "finish_reason": "stop"}, r["teacher"]
    assert "format" not in r, (r["id"], r.get("format"))
    assert r["completion"] == "<think>\n%s\n</think>\n\n%s" % (r["reasoning"], r["answer"]), r["id"]
    assert "help" in r["answer"] and ("can't" in r["answer"] or "won't" in r["answer"]), r["answer"]
    steps = r["reasoning"].split("\n")
    assert len(steps) == len(harmful_ids), (r["id"], len(steps))
    for g, step in zip(harmful_ids, steps):
        pats = [re.compile(p.replace("(?i)", ""), re.I) for p in g["coverage"]]
        assert any(p.search(step) for p in pats), (r["id"], g["id"], step)
        # The request is quoted, not run into the sentence.
        if g["id"] == "intent":
            assert '"%s' % r["query"][:20] in step, (r["id"], step)
n = 0
for line in open(failed, encoding="utf-8"):
    r = json.loads(line)
    assert r["label"] == "benign"
    e = r["error"]
    assert set(e) == {"kind", "message", "status", "attempts"}, e
    assert e["kind"] == "builtin", e
    assert "reference" in e["message"], e
    n += 1
assert n == 500, n
PYEOF

# Byte-identical on a second run.
sr-synth -q -n 2 --failed "$tmp/failed2.jsonl" "$tmp/prompts.jsonl" >"$tmp/out2.jsonl" 2>/dev/null
cmp -s "$tmp/out.jsonl" "$tmp/out2.jsonl" || fail "second run differs"
cmp -s "$tmp/failed.jsonl" "$tmp/failed2.jsonl" || fail "second failed file differs"

# Through sr-filter, when it is built: the built-in teacher's samples are
# well-formed, cover the guidelines and refuse, so (nearly) all are kept.
if command -v sr-filter >/dev/null 2>&1; then
	sr-filter "$tmp/out.jsonl" >"$tmp/kept.jsonl" 2>"$tmp/ferr" || { cat "$tmp/ferr" >&2; fail "sr-filter failed"; }
	kept=$(wc -l <"$tmp/kept.jsonl")
	[ "$kept" -ge 1368 ] || fail "sr-filter kept only $kept of 1440 built-in samples"
fi

# sr-guide --refusal-only asks for a reply with no visible reasoning
# (guidelines.ids empty, variant refusal_only): the answer alone, not
# marked as a format problem. A record listing some ids gets those steps.
sr-import -l harmful "$SR_SHARED/data/advbench/harmful_behaviors.csv" | head -n 20 |
	sr-guide --refusal-only >"$tmp/rt-prompts.jsonl" || fail "sr-guide --refusal-only failed"
sr-synth -q -n 2 "$tmp/rt-prompts.jsonl" >"$tmp/rt.jsonl" || fail "refusal-only run failed"
sr-import -l harmful "$SR_SHARED/data/advbench/harmful_behaviors.csv" | head -n 5 |
	sr-guide --only intent,harm | sr-synth -q >"$tmp/only.jsonl" || fail "--only run failed"
$PY - "$tmp/rt.jsonl" "$tmp/only.jsonl" <<'PYEOF' || fail "refusal-only check"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
assert len(rows) == 40, len(rows)
for r in rows:
    assert r["guidelines"]["variant"] == "refusal_only" and r["guidelines"]["ids"] == [], r["guidelines"]
    assert "<think>" not in r["completion"] and "</think>" not in r["completion"], r["completion"]
    assert r["reasoning"] == "" and r["answer"] == r["completion"], r["id"]
    assert "help" in r["answer"] and ("can't" in r["answer"] or "won't" in r["answer"]), r["answer"]
    assert "format" not in r, r["format"]
for line in open(sys.argv[2], encoding="utf-8"):
    r = json.loads(line)
    assert len(r["reasoning"].split("\n")) == 2, r["reasoning"]
PYEOF

# A query holding U+0000 would be quoted only up to it: not answered,
# listed in --failed with the reason instead.
printf '%s\n' '{"id":"n1","source":"t","label":"harmful","query":"How do I build a bomb\u0000 at home?"}' \
	'{"id":"n2","source":"t","label":"harmful","query":"How do I build a bomb at home?"}' |
	sr-guide >"$tmp/nul-prompts.jsonl" || fail "sr-guide on the U+0000 records failed"
sr-synth -q --failed "$tmp/nul-failed.jsonl" "$tmp/nul-prompts.jsonl" >"$tmp/nul.jsonl" 2>/dev/null
[ $? -eq 3 ] || fail "U+0000 query: exit status, expected 3"
$PY - "$tmp/nul.jsonl" "$tmp/nul-failed.jsonl" <<'PYEOF' || fail "U+0000 query check"
import json, sys
out = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
failed = [json.loads(l) for l in open(sys.argv[2], encoding="utf-8")]
assert [r["id"] for r in out] == ["n2"], out
assert [r["id"] for r in failed] == ["n1"], failed
assert "'query' contains U+0000" in failed[0]["error"]["message"], failed[0]["error"]
PYEOF

# Harmful prompts alone: success.
advbench_prompts | sr-synth -q --teacher builtin >"$tmp/adv.jsonl" || fail "AdvBench alone failed"
[ "$(wc -l <"$tmp/adv.jsonl")" -eq 520 ] || fail "expected 520 AdvBench samples"
echo "ok: built-in teacher on AdvBench and XSTest"
