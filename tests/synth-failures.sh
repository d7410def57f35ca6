#!/bin/sh
# Requests that fail for good: 400 at once with the endpoint's message,
# 503 after the retries, 401 stopping the run. Each failed sample goes to
# --failed with its error, the exit status is 3, nothing is lost, a rerun
# retries exactly the failed samples, and the API key appears nowhere.
. "${SR_SRCDIR:-.}/tests/synth-common.sh"
need_data advbench/harmful_behaviors.csv

advbench_prompts | head -n 12 >"$tmp/prompts.jsonl" || fail "building prompts failed"
key="sk-failures-test-$$-secret"
export OPENAI_API_KEY="$key"

synth()
{
	sr-synth --endpoint "$endpoint" --model test-model --seed 5 --retry-delay 0.02 \
		--cache "$tmp/cache" --failed "$tmp/failed.jsonl" --stats "$tmp/stats.json" "$@" \
		"$tmp/prompts.jsonl" >"$tmp/out.jsonl" 2>"$tmp/err"
}

# error_field FILE N FIELD: a member of the error of the Nth failed record.
error_field()
{
	$PY -c 'import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(rows[int(sys.argv[2])]["error"][sys.argv[3]])' "$@"
}

# 400 on every fourth request: those fail at once, the rest is written.
start_server --fault 400:4
synth --concurrency 1
[ $? -eq 3 ] || fail "400: exit status, expected 3"
[ "$(wc -l <"$tmp/failed.jsonl")" -eq 3 ] || fail "400: expected 3 failed samples"
[ "$(error_field "$tmp/failed.jsonl" 0 kind)" = rejected ] || fail "400: error kind"
[ "$(error_field "$tmp/failed.jsonl" 0 status)" = 400 ] || fail "400: error status"
[ "$(error_field "$tmp/failed.jsonl" 0 attempts)" = 1 ] || fail "400: retried"
error_field "$tmp/failed.jsonl" 0 message | grep -q "Injected fault: this request is invalid." ||
	fail "400: the endpoint's message was not kept"
[ "$(server_requests)" -eq 12 ] || fail "400: a rejected request was retried"
check_samples "$tmp/prompts.jsonl" "$tmp/out.jsonl" 1 "$tmp/failed.jsonl"
[ "$(stat_value "$tmp/stats.json" failed)" -eq 3 ] || fail "400: stats failed"
grep -q "3 sample(s) failed and were written to" "$tmp/err" || fail "400: no closing error"

# A rerun against a healthy endpoint (on the same port: the endpoint URL
# is part of the cache key) sends only the three failed ones.
start_server --port "$(cat "$tmp/port")"
synth || fail "rerun after 400 failed"
[ "$(server_requests)" -eq 3 ] || fail "rerun sent $(server_requests) requests, expected 3"
check_samples "$tmp/prompts.jsonl" "$tmp/out.jsonl" 1
[ ! -s "$tmp/failed.jsonl" ] || fail "rerun still lists failures"

# 503 on every request: each sample fails after 1 + 2 attempts.
rm -f "$tmp/cache"
start_server --fault 503
synth -n 2 --max-retries 2 --concurrency 3
[ $? -eq 3 ] || fail "503: exit status, expected 3"
[ "$(wc -l <"$tmp/failed.jsonl")" -eq 24 ] || fail "503: expected 24 failed samples"
[ "$(error_field "$tmp/failed.jsonl" 5 kind)" = http ] || fail "503: error kind"
[ "$(error_field "$tmp/failed.jsonl" 5 status)" = 503 ] || fail "503: error status"
[ "$(error_field "$tmp/failed.jsonl" 5 attempts)" = 3 ] || fail "503: attempts"
[ "$(server_requests)" -eq 36 ] || fail "503: $(server_requests) requests, expected 12 x 3"
[ ! -s "$tmp/out.jsonl" ] || fail "503: samples were written"

# The stats count samples, so that records_in = records_out + skipped +
# failed holds for any -n: a bad line (skipped) and 400s on every fourth
# request (failed, one request per sample), under -n 1 and -n 3.
{ head -n 5 "$tmp/prompts.jsonl"; echo '{"id":"broken",'; tail -n +6 "$tmp/prompts.jsonl"; } \
	>"$tmp/mixed.jsonl"
for n in 1 3; do
	rm -f "$tmp/cache"
	start_server --fault 400:4
	sr-synth --endpoint "$endpoint" --model test-model --seed 5 --cache "$tmp/cache" \
		--concurrency 1 --no-n -n $n --on-error=skip --stats "$tmp/bal.json" \
		"$tmp/mixed.jsonl" >"$tmp/bal.jsonl" 2>/dev/null
	[ $? -eq 3 ] || fail "balance -n $n: exit status, expected 3"
	$PY - "$tmp/bal.json" $n <<'PYEOF' || fail "balance -n $n: $(cat "$tmp/bal.json")"
import json, sys
s, n = json.load(open(sys.argv[1])), int(sys.argv[2])
assert s["prompts_in"] == 13 and s["prompts_skipped"] == 1, s
assert s["records_in"] == 13 * n and s["skipped"] == n, s
assert s["failed"] == 3 * n and s["records_out"] == 9 * n, s
assert s["records_in"] == s["records_out"] + s["skipped"] + s["failed"], s
PYEOF
done

# A wrong key: the 401 stops the run; everything not done is listed as
# failed, and the key the server echoes back is redacted.
export SR_SERVER_KEY="sk-the-right-one-$$"
start_server --require-key SR_SERVER_KEY --latency 50
synth --concurrency 2
[ $? -eq 3 ] || fail "401: exit status, expected 3"
grep -q "HTTP 401" "$tmp/err" || fail "401: no error message"
grep -q "\[redacted\]" "$tmp/err" || fail "401: the echoed key was not redacted"
[ "$(server_requests)" -le 3 ] || fail "401: the run went on after the 401"
check_samples "$tmp/prompts.jsonl" "$tmp/out.jsonl" 1 "$tmp/failed.jsonl"
grep -q '"kind":"auth"' "$tmp/failed.jsonl" || fail "401: no auth error in --failed"
grep -q '"kind":"aborted"' "$tmp/failed.jsonl" || fail "401: no aborted samples in --failed"

for f in out.jsonl failed.jsonl err stats.json cache; do
	if [ -f "$tmp/$f" ] && grep -q -- "$key" "$tmp/$f"; then fail "the API key appears in $f"; fi
done
echo "ok: failed requests"
