#!/bin/sh
# sr-mix selection, formats and shard caps, checked through sr-shard cat.
set -u
. "${SR_SRCDIR:-.}/tests/mix-lib.sh"
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 99

gen_samples a harmful 30 2 >a.jsonl
gen_samples b benign 40 1 >b.jsonl
gen_samples c benign 10 1 >c.jsonl

# --take: exact totals per source, before the validation split.
sr-mix -o take --take a=20 --take b=15 --val 5 --seed 3 --stats take.json a.jsonl b.jsonl c.jsonl ||
	fail "sr-mix --take exited $?"
sr-shard cat take >take.all || fail "sr-shard cat exited $?"
[ "$(grep -c '"source":"a"' take.all)" -eq 20 ] || fail "--take a=20 gave $(grep -c '"source":"a"' take.all)"
[ "$(grep -c '"source":"b"' take.all)" -eq 15 ] || fail "--take b=15 gave $(grep -c '"source":"b"' take.all)"
[ "$(grep -c '"source":"c"' take.all)" -eq 0 ] || fail "source c was not named but was taken"
[ "$(jq .counts.val take/manifest.json)" -eq 5 ] ||
	fail "--val 5 gave $(jq .counts.val take/manifest.json)"
jq -e '.records_in == 110 and .records_out == 35 and .rejected == 75 and .not_selected == 75' take.json >/dev/null ||
	fail "stats of --take: $(cat take.json)"
stats_balance take.json || fail "stats of --take do not balance"

# A source too small is an error naming it, and leaves no manifest.
sr-mix -o small --take c=11 c.jsonl 2>small.err
[ $? -eq 1 ] || fail "--take c=11 of 10 records did not exit 1"
grep -q "'c' has 10 records but 11 were requested" small.err || fail "message: $(cat small.err)"
[ ! -e small/manifest.json ] || fail "a failed run left a manifest"
# With --replace it is allowed.
sr-mix -o repl --take c=25 --replace --stats repl.json c.jsonl || fail "--replace exited $?"
jq -e '.records_out == 25 and .repeats >= 15' repl.json >/dev/null || fail "stats of --replace: $(cat repl.json)"

# --ratio with --total: 1:3 of 40 is 10 and 30.
sr-mix -o ratio --ratio a=1 --ratio b=3 --total 40 a.jsonl b.jsonl || fail "--ratio exited $?"
jq -e '.counts.keys.a.selected == 10 and .counts.keys.b.selected == 30' ratio/manifest.json >/dev/null ||
	fail "--ratio counts: $(jq -c .counts.keys ratio/manifest.json)"

# Validation groups whole prompts: no id is on both sides.
sr-mix -o val --val-fraction 0.25 --seed 11 a.jsonl b.jsonl || fail "--val-fraction exited $?"
sr-shard cat --split train val | jq -r .id | sort -u >train.ids
sr-shard cat --split val val | jq -r .id | sort -u >val.ids
[ -s val.ids ] || fail "empty validation split"
[ -z "$(comm -12 train.ids val.ids)" ] || fail "prompt ids on both sides: $(comm -12 train.ids val.ids | head -3)"
# Source a's share is 15, but its prompts come in pairs: 14, and the one
# left over goes to a single-sample prompt of b so the total is exact.
jq -e '.counts.val == 25 and .counts.sources.a.val == 14 and .counts.sources.b.val == 11' val/manifest.json >/dev/null ||
	fail "stratified split: $(jq -c .counts val/manifest.json)"

# Formats: the user turn is the bare query; srg wraps the reasoning in the
# record's tags; rt is the answer alone; --system comes first.
sr-mix -o srg --format srg --system "Be safe." a.jsonl || fail "srg exited $?"
sr-shard cat srg | jq -s -e 'map(select(.id == "a-7" and .sample == 1)) | .[0].messages ==
	[{"role":"system","content":"Be safe."},
	 {"role":"user","content":"Question 7 of a"},
	 {"role":"assistant","content":"<think>\nReasoning 7.1\n</think>\n\nAnswer 7.1"}]' >/dev/null ||
	fail "srg example: $(sr-shard cat srg | grep '"a-7"' | head -1)"
sr-shard cat srg | grep -q GUIDELINES && fail "the teacher's guidelines leaked into training input"
sr-mix -o rt --format rt a.jsonl || fail "rt exited $?"
sr-shard cat rt | jq -s -e 'map(select(.id == "a-7" and .sample == 1)) | .[0] | .messages[1].content == "Answer 7.1"
	and .label == "harmful" and .source == "a" and (.messages | length) == 2' >/dev/null ||
	fail "rt example: $(sr-shard cat rt | grep '"a-7"' | head -1)"
# attack is kept beside messages, and the user turn is the disguised query.
sed -n 1p a.jsonl | sed 's/"id":"a-1",/"id":"a-1:base64","attack":"base64",/; s/"query":"Question 1 of a"/"query":"UXVlc3Rpb24gMQ=="/' >attack.jsonl
sr-mix -o att --format rt attack.jsonl || fail "attack record exited $?"
sr-shard cat att | jq -e '.attack == "base64" and .id == "a-1:base64"
	and .messages[0] == {"role": "user", "content": "UXVlc3Rpb24gMQ=="}' >/dev/null ||
	fail "attack example: $(sr-shard cat att)"
sr-mix -o alp --format alpaca b.jsonl || fail "alpaca exited $?"
sr-shard cat alp | jq -s -e 'map(select(.id == "b-3")) | .[0] | .instruction == "Question 3 of b" and .input == ""
	and .output == "<think>\nReasoning 3.0\n</think>\n\nAnswer 3.0" and .system == ""' >/dev/null ||
	fail "alpaca example: $(sr-shard cat alp | grep '"b-3"')"

# raw: the records unchanged, byte for byte.
sr-mix -o raw --format raw a.jsonl b.jsonl || fail "raw exited $?"
sr-shard cat raw | sort >raw.out
sort a.jsonl b.jsonl >raw.in
cmp -s raw.in raw.out || fail "raw format changed records"

# --by any field.
sr-mix -o bylabel --by label --take harmful=5 --take benign=7 a.jsonl b.jsonl || fail "--by label exited $?"
jq -e '.counts.labels.harmful.train == 5 and .counts.labels.benign.train == 7' bylabel/manifest.json >/dev/null ||
	fail "--by label: $(jq -c .counts.labels bylabel/manifest.json)"

# Shard caps, and a rerun that writes fewer shards removes the old ones.
sr-mix -o caps --shard-records 7 --format rt b.jsonl || fail "--shard-records exited $?"
[ "$(jq '.shards | length' caps/manifest.json)" -eq 6 ] || fail "40 records in shards of 7: $(jq '.shards|length' caps/manifest.json) shards"
jq -e '[.shards[].records] | max <= 7' caps/manifest.json >/dev/null || fail "a shard holds more than 7 records"
[ "$(sr-shard cat caps | wc -l)" -eq 40 ] || fail "cat of capped shards lost records"
sr-mix -o caps --format rt b.jsonl 2>/dev/null || fail "rerun exited $?"
[ "$(ls caps | grep -c '^train-')" -eq 1 ] || fail "old shards left: $(ls caps)"
sr-shard verify caps 2>/dev/null || fail "verify after rerun"

# Bad input lines follow --on-error and are counted.
{ cat c.jsonl; echo '{"id": broken'; echo '{"id":"x","source":"c"}'; } >bad.jsonl
sr-mix -o bad --format rt bad.jsonl 2>bad.err
[ $? -eq 1 ] || fail "a malformed line did not exit 1"
grep -q 'bad.jsonl:11' bad.err || fail "error does not name file and line: $(cat bad.err)"
sr-mix -o bad --format rt --on-error=skip --stats bad.json bad.jsonl 2>/dev/null || fail "--on-error=skip exited $?"
jq -e '.records_in == 12 and .skipped == 2 and .records_out == 10' bad.json >/dev/null || fail "skip stats: $(cat bad.json)"
stats_balance bad.json || fail "skip stats do not balance"
echo "mix-select: ok"
