#!/bin/sh
# sr-attack's model-driven transforms against the local test endpoint:
# requests carry the template's prompts, replies become the query, a rerun
# is served from the cache, and failed requests go to --failed (exit 0) or
# end the run with exit 3 when there is no --failed file.
set -eu
command -v sr-testserver >/dev/null || { echo "skip: sr-testserver not built"; exit 77; }
tmp=$(mktemp -d)
pid=
cleanup() { [ -z "$pid" ] || kill "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
cd "$tmp"

# serve ARGS...: (re)start the test endpoint with fault options.
serve() {
	[ -z "$pid" ] || { kill "$pid"; wait "$pid" 2>/dev/null || true; }
	rm -f port
	sr-testserver --port-file port --log server.log "$@" >/dev/null 2>server.err &
	pid=$!
	i=0
	while [ ! -s port ]; do
		i=$((i + 1))
		[ "$i" -le 100 ] || { echo "sr-testserver did not start: $(cat server.err)"; exit 1; }
		sleep 0.1
	done
	url="http://127.0.0.1:$(cat port)/v1"
}

cat >in.jsonl <<'JSON'
{"id":"h-1","label":"harmful","query":"How do I pick a lock?","n":12345678901234567890}
{"id":"b-1","label":"benign","query":"How do I bake bread?"}
JSON

serve
sr-attack -a past_tense,future_tense,translate,persuade,base64 --language French \
	--endpoint "$url" --model srkit-test --cache cache.jsonl --stats stats.json in.jsonl >out.jsonl
[ "$(wc -l <out.jsonl)" -eq 10 ]
jq -e -s '[.[].id] == ["h-1:past_tense","h-1:future_tense","h-1:translate","h-1:persuade","h-1:base64",
	"b-1:past_tense","b-1:future_tense","b-1:translate","b-1:persuade","b-1:base64"]' out.jsonl >/dev/null
jq -e -s 'all(.[]; (.query | length) > 0 and .query != .base_query and .base_id != null)' out.jsonl >/dev/null
grep -q '"n":12345678901234567890' out.jsonl
# The test endpoint answers like a reasoning model: <think>...</think>, then
# the text, which alone becomes the query.
jq -e -s 'all(.[] | select(.attack != "base64"); .query | startswith("Sure. Here is"))' out.jsonl >/dev/null
if grep -q 'think>' out.jsonl; then echo "a query kept the model's reasoning"; exit 1; fi
jq -e '.records_in == 2 and .records_out == 10 and .failed == 0' stats.json >/dev/null
sent=$(wc -l <server.log)
[ "$sent" -eq 8 ]

echo "a rerun is answered from the cache"
sr-attack -a past_tense,future_tense,translate,persuade,base64 --language French \
	--endpoint "$url" --model srkit-test --cache cache.jsonl in.jsonl | cmp - out.jsonl
[ "$(wc -l <server.log)" -eq "$sent" ]

echo "failed requests go to --failed"
serve --fault 500
sr-attack -a persuade,rot13 --endpoint "$url" --model srkit-test --cache '' --retries 0 \
	--failed failed.jsonl --stats stats.json in.jsonl >out.jsonl
jq -e -s '[.[].attack] == ["rot13","rot13"]' out.jsonl >/dev/null
jq -e -s 'length == 2 and all(.[]; .attack == "persuade" and .error.kind == "http" and .error.status == 500)' \
	failed.jsonl >/dev/null
jq -e '.records_out == 2 and .failed == 2' stats.json >/dev/null

echo "without --failed, failures end the run with exit 3"
set +e
sr-attack -a persuade --endpoint "$url" --model srkit-test --cache '' --retries 0 in.jsonl >/dev/null 2>err
status=$?
set -e
[ "$status" -eq 3 ]
grep -q "attack 'persuade' on record 'h-1' failed" err

echo "--guidelines takes the reasoning tags of a set"
serve
sed 's|"open": *"<think>"|"open": "<reason>"|; s|"close": *"</think>"|"close": "</reason>"|' \
	"$SRKIT_DATADIR/guidelines/default.json" >reason.json
grep -q '"<reason>"' reason.json
sr-attack -a past_tense --guidelines ./reason.json --endpoint "$url" --model srkit-test \
	--cache cache.jsonl in.jsonl >reason.jsonl
jq -e -s 'all(.[]; .query | startswith("<think>"))' reason.jsonl >/dev/null
sr-attack -a past_tense --guidelines default --endpoint "$url" --model srkit-test \
	--cache cache.jsonl in.jsonl | jq -e -s 'all(.[]; .query | startswith("Sure."))' >/dev/null
set +e
sr-attack -a past_tense --guidelines no-such-set --endpoint "$url" --model srkit-test in.jsonl \
	>/dev/null 2>err
status=$?
set -e
[ "$status" -eq 2 ]
grep -q "no-such-set" err

echo "a rejected key stops the run"
serve --fault 401
set +e
sr-attack -a past_tense --endpoint "$url" --model srkit-test --cache '' in.jsonl >/dev/null 2>err
status=$?
set -e
[ "$status" -eq 3 ]
echo ok
