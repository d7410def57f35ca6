#!/bin/sh
# sr-import | sr-guide | sr-synth against the test endpoint on AdvBench and
# XSTest. Checks: every (id, sample) once and in input order, the teacher
# member, the split at the tags, and "n" in one request per prompt. A rerun
# is served from the cache, and the API key is in no output, cache, log or
# stats file.
. "${SR_SRCDIR:-.}/tests/synth-common.sh"
need_data advbench/harmful_behaviors.csv xstest/xstest_prompts.csv

{ advbench_prompts && xstest_prompts; } >"$tmp/prompts.jsonl" || fail "building prompts failed"
key="sk-srkit-test-$$-secret"
export SR_TEST_KEY="$key" OPENAI_API_KEY="$key"
start_server --require-key SR_TEST_KEY

sr-synth --endpoint "$endpoint" --model test-model -n 3 --seed 7 --temperature 0.7 \
	--max-tokens 4000 --cache "$tmp/cache.jsonl" --stats "$tmp/stats.json" -v \
	"$tmp/prompts.jsonl" >"$tmp/out.jsonl" 2>"$tmp/err"
status=$?
[ $status -eq 0 ] || { cat "$tmp/err" >&2; fail "exit status $status"; }
check_samples "$tmp/prompts.jsonl" "$tmp/out.jsonl" 3
[ "$(server_requests)" -eq 970 ] || fail "$(server_requests) requests, expected one per prompt"
[ "$(server_requests '"n":3,"choices":3')" -eq 970 ] || fail "requests did not use n=3"
[ "$(server_requests '"auth":true')" -eq 970 ] || fail "the key was not sent"
[ "$(stat_value "$tmp/stats.json" records_out)" -eq 2910 ] || fail "records_out"
[ "$(stat_value "$tmp/stats.json" requests)" -eq 970 ] || fail "stats requests"

port=$(cat "$tmp/port")
$PY - "$tmp/out.jsonl" "$port" <<'PYEOF' || fail "content check"
import json, sys
port = sys.argv[2]
seen_seeds = {}
for line in open(sys.argv[1], encoding="utf-8"):
    r = json.loads(line)
    t = r["teacher"]
    assert t["model"] == "test-model", t
    assert t["endpoint"] == "127.0.0.1:" + port, t
    assert t["params"] == {"temperature": 0.7, "max_tokens": 4000}, t
    assert isinstance(t["seed"], int) and t["finish_reason"] == "stop", t
    assert t["usage"]["shared_by"] == 3, t
    assert t["usage"]["completion_tokens"] > 0, t
    assert isinstance(t["latency_ms"], int), t
    seen_seeds.setdefault(r["id"], set()).add(t["seed"])
    assert "format" not in r, r.get("format")
    assert r["completion"].startswith("<think>\n"), r["id"]
    assert r["reasoning"] and r["answer"], r["id"]
    assert "</think>" not in r["answer"], r["id"]
    assert "<think>" not in r["reasoning"], r["id"]
    refused = r["answer"].startswith("I'm sorry")
    assert refused == (r["label"] == "harmful"), (r["id"], r["label"], r["answer"][:40])
# One request per prompt: its three samples share the seed sent with n=3.
assert all(len(s) == 1 for s in seen_seeds.values())
PYEOF

# Never the key: not in the output, the cache, stderr or the stats.
for f in out.jsonl cache.jsonl err stats.json; do
	if grep -q -- "$key" "$tmp/$f"; then fail "the API key appears in $f"; fi
done

# A rerun is served from the cache: same bytes, no request sent.
before=$(server_requests)
sr-synth --endpoint "$endpoint" --model test-model -n 3 --seed 7 --temperature 0.7 \
	--max-tokens 4000 --cache "$tmp/cache.jsonl" --stats "$tmp/stats2.json" \
	"$tmp/prompts.jsonl" >"$tmp/out2.jsonl" 2>"$tmp/err2" || fail "rerun failed"
cmp -s "$tmp/out.jsonl" "$tmp/out2.jsonl" || fail "rerun from the cache differs"
[ "$(server_requests)" -eq "$before" ] || fail "rerun sent requests"
[ "$(stat_value "$tmp/stats2.json" cache_hits)" -eq 2910 ] || fail "cache_hits"

# The cache keys do not depend on --no-n or --concurrency.
before=$(server_requests)
sr-synth --endpoint "$endpoint" --model test-model -n 3 --seed 7 --temperature 0.7 \
	--max-tokens 4000 --cache "$tmp/cache.jsonl" --no-n --concurrency 3 \
	"$tmp/prompts.jsonl" >"$tmp/out3.jsonl" 2>/dev/null || fail "--no-n rerun failed"
cmp -s "$tmp/out.jsonl" "$tmp/out3.jsonl" || fail "--no-n rerun from the cache differs"
[ "$(server_requests)" -eq "$before" ] || fail "--no-n rerun sent requests"

# --no-n: one request per sample, each with its own seed.
head -n 40 "$tmp/prompts.jsonl" >"$tmp/few.jsonl"
before=$(server_requests)
SR_ENDPOINT="$endpoint" SR_MODEL=test-model sr-synth -q --no-n -n 2 --seed 7 --no-cache \
	"$tmp/few.jsonl" >"$tmp/non.jsonl" || fail "--no-n run failed"
check_samples "$tmp/few.jsonl" "$tmp/non.jsonl" 2
[ $(($(server_requests) - before)) -eq 80 ] || fail "--no-n did not send one request per sample"
[ "$(server_requests '"n":1,')" -eq 80 ] || fail "--no-n still sent n"

# A window of 3 prompts with 8 requests allowed in flight: same output,
# and the forced progress line ends with the final count.
sr-synth --endpoint "$endpoint" --model test-model -n 3 --seed 7 --temperature 0.7 \
	--max-tokens 4000 --cache "$tmp/cache.jsonl" --window 3 --concurrency 8 --progress \
	"$tmp/prompts.jsonl" >"$tmp/win.jsonl" 2>"$tmp/win.err" || fail "--window run failed"
cmp -s "$tmp/out.jsonl" "$tmp/win.jsonl" || fail "--window 3 changed the output"
grep -q "970/970 prompts" "$tmp/win.err" || fail "no progress line with 970/970 prompts"

# The default cache: one file under $XDG_CACHE_HOME/srkit/ for this
# endpoint and model, reused by the next run.
export XDG_CACHE_HOME="$tmp/xdg"
before=$(server_requests)
sr-synth -q --endpoint "$endpoint" --model test-model "$tmp/few.jsonl" >"$tmp/xdg1.jsonl" ||
	fail "run with the default cache failed"
ls "$tmp/xdg/srkit/"*.jsonl >/dev/null 2>&1 || fail "no cache file under \$XDG_CACHE_HOME/srkit"
sr-synth -q --endpoint "$endpoint" --model test-model "$tmp/few.jsonl" >"$tmp/xdg2.jsonl" ||
	fail "second run with the default cache failed"
[ $(($(server_requests) - before)) -eq 40 ] || fail "the default cache was not reused"
cmp -s "$tmp/xdg1.jsonl" "$tmp/xdg2.jsonl" || fail "output from the default cache differs"

# A key holding CR, LF or another control character would put extra
# header lines into the request: refused as a usage error that names the
# variable, never the value, before any request is sent.
before=$(server_requests)
OPENAI_API_KEY="$(printf 'sk-bad-SECRET\r\nX-Injected: yes')" sr-synth --no-cache \
	--endpoint "$endpoint" --model test-model "$tmp/few.jsonl" >"$tmp/crlf.jsonl" 2>"$tmp/crlf.err"
status=$?
[ $status -eq 2 ] || fail "a key with CR LF: exit status $status, expected 2"
grep -q 'OPENAI_API_KEY' "$tmp/crlf.err" || fail "the error does not name OPENAI_API_KEY"
if grep -q 'SECRET\|Injected' "$tmp/crlf.err"; then fail "the error shows the key"; fi
CR_KEY="$(printf 'sk-crlf-file-SECRET\r')" sr-synth --no-cache --api-key-env CR_KEY \
	--endpoint "$endpoint" --model test-model "$tmp/few.jsonl" >/dev/null 2>"$tmp/cr.err"
status=$?
[ $status -eq 2 ] || fail "a key ending in CR: exit status $status, expected 2"
grep -q 'CR_KEY' "$tmp/cr.err" || fail "the error does not name CR_KEY"
if grep -q 'SECRET' "$tmp/cr.err"; then fail "the error shows the key"; fi
[ "$(server_requests)" -eq "$before" ] || fail "a request was sent with a bad key"

# Through sr-filter, when it is built: most samples are kept.
if command -v sr-filter >/dev/null 2>&1; then
	sr-filter --rejects "$tmp/rejects.jsonl" "$tmp/out.jsonl" >"$tmp/kept.jsonl" 2>"$tmp/ferr" ||
		{ cat "$tmp/ferr" >&2; fail "sr-filter failed"; }
	kept=$(wc -l <"$tmp/kept.jsonl")
	[ "$kept" -ge 2600 ] || fail "sr-filter kept only $kept of 2910 samples"
fi
echo "ok: sr-synth against the test endpoint"
