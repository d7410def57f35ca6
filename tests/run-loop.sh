#!/bin/sh
# The record loop every tool shares, driven through sr-passthrough: exit
# codes, the bad-input policy, --stats counts, byte-exact passthrough, zstd
# input, a full disk and a closed pipe.
set -u
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
fail=0
check() { # description, condition...
	desc=$1
	shift
	if "$@"; then echo "ok: $desc"; else echo "FAIL: $desc"; fail=1; fi
}

printf '\357\273\277{"a":12345678901234567890}\r\n\n{"b":1.0000000000000001,"c":[1, 2]}\r\nnot json\n{"id":"x","id":"y"}\n{"d":"\377"}\n' >mixed.jsonl

# Default policy: stop at the first bad line with status 1, naming file:line:column.
sr-passthrough mixed.jsonl >out.jsonl 2>err.txt
check "bad line exits 1" test $? -eq 1
check "error names file, line and column" grep -q "mixed.jsonl:4:1: invalid JSON" err.txt
check "error line has the program prefix" grep -q "^sr-passthrough: error: " err.txt
check "records before the bad line reach stdout" test "$(wc -l <out.jsonl)" -eq 2
sr-passthrough -o failed-out.jsonl mixed.jsonl 2>/dev/null
check "-o file not created on failure" test ! -e failed-out.jsonl

# Skip: counts add up, passthrough is byte-exact.
sr-passthrough --on-error=skip --stats st.json mixed.jsonl >out.jsonl 2>err.txt
check "skip exits 0" test $? -eq 0
printf '{"a":12345678901234567890}\n{"b":1.0000000000000001,"c":[1, 2]}\n' >want.jsonl
check "big numbers pass through exactly" cmp -s want.jsonl out.jsonl
check "stats records_in" grep -q '"records_in": 5' st.json
check "stats records_out" grep -q '"records_out": 2' st.json
check "stats skipped" grep -q '"skipped": 3' st.json
check "stats blank_lines" grep -q '"blank_lines": 1' st.json
check "duplicate key named" grep -q "mixed.jsonl:5:.*field 'id': duplicate key" err.txt
check "invalid UTF-8 reported with column" grep -q "mixed.jsonl:6:7: invalid JSON: invalid UTF-8" err.txt

# Quarantine: the raw bad lines, nothing else.
sr-passthrough --on-error=quarantine --quarantine q.jsonl mixed.jsonl >/dev/null 2>err.txt
check "quarantine exits 0" test $? -eq 0
check "quarantine holds 3 lines" test "$(wc -l <q.jsonl)" -eq 3
check "quarantine keeps raw bytes" grep -q '^not json$' q.jsonl
sr-passthrough --on-error=quarantine mixed.jsonl >/dev/null 2>err.txt
check "quarantine without file is a usage error" test $? -eq 2

# An over-long line is one bad line: fatal by default, skipped or
# quarantined whole under the other policies, and the next line is read.
awk 'BEGIN { printf "{\"a\":1}\n{\"q\":\""; for (i = 0; i < 3000; i++) printf "xxxxxxxxxx"; printf "\"}\n{\"b\":2}\n" }' >long.jsonl
sr-passthrough --max-line 1K long.jsonl >out.jsonl 2>err.txt
check "over-long line exits 1 by default" test $? -eq 1
check "over-long line named" grep -q "long.jsonl:2: line longer than the limit of 1024 bytes" err.txt
sr-passthrough --max-line 1K --on-error=skip --stats st.json long.jsonl >out.jsonl 2>err.txt
check "over-long line skipped" test $? -eq 0
check "lines around it kept" test "$(cat out.jsonl | tr -d '\n')" = '{"a":1}{"b":2}'
check "over-long line counted in" grep -q '"records_in": 3' st.json
check "over-long line counted skipped" grep -q '"skipped": 1' st.json
sr-passthrough --max-line 1K --on-error=quarantine --quarantine q2.jsonl long.jsonl >out.jsonl 2>err.txt
check "over-long line quarantined" test $? -eq 0
check "quarantine holds the whole line" test "$(wc -c <q2.jsonl)" -eq 30009
check "quarantined line intact" test "$(sed -n 2p long.jsonl)" = "$(cat q2.jsonl)"

# Help and version output that cannot be written is an error, not success.
if [ -c /dev/full ] && [ -w /dev/full ]; then
	sr-passthrough --help >/dev/full 2>err.txt
	check "--help to a full disk exits 3" test $? -eq 3
	check "--help write error reported" grep -q "cannot write 'standard output'" err.txt
fi

# Usage errors exit 2.
sr-passthrough --on-error=maybe mixed.jsonl >/dev/null 2>err.txt
check "bad --on-error exits 2" test $? -eq 2
sr-passthrough --no-such-option >/dev/null 2>err.txt
check "unknown option exits 2" test $? -eq 2

# A missing input file is an I/O error (3) naming the file.
sr-passthrough missing.jsonl >/dev/null 2>err.txt
check "missing file exits 3" test $? -eq 3
check "missing file named" grep -q "cannot open 'missing.jsonl'" err.txt

# zstd input is detected by content.
printf '{"z":1}\n{"z":2}\n' | zstd -q -c >z.bin
check "zstd input read" test "$(sr-passthrough z.bin | wc -l)" -eq 2
head -c 20 z.bin >cut.bin
sr-passthrough cut.bin >/dev/null 2>err.txt
check "truncated zstd exits 1" test $? -eq 1
check "truncated zstd named" grep -q "cut.bin.*truncated zstd frame" err.txt

# Schema validation names the field.
printf '{"id":"a","source":"s","label":"maybe","query":"q"}\n' >bad-label.jsonl
if [ -f "$SR_SRCDIR/schemas/query.schema.json" ]; then
	sr-passthrough --schema query bad-label.jsonl >/dev/null 2>err.txt
	check "schema violation exits 1" test $? -eq 1
	check "schema violation names the field" grep -q "bad-label.jsonl:1: field '/label'" err.txt
fi

# A full disk is an error (3), not a silent truncation.
if [ -c /dev/full ] && [ -w /dev/full ]; then
	awk 'BEGIN { for (i = 0; i < 50000; i++) printf "{\"i\":%d}\n", i }' >many.jsonl
	sr-passthrough many.jsonl >/dev/full 2>err.txt
	check "full disk exits 3" test $? -eq 3
	check "full disk reported" grep -q "No space left on device" err.txt
	sr-passthrough -o /dev/full many.jsonl 2>err.txt
	check "-o to a full disk fails" test $? -ne 0
fi

# A closed pipe ends quietly with status 0.
awk 'BEGIN { for (i = 0; i < 200000; i++) printf "{\"i\":%d}\n", i }' >lots.jsonl
status=$( { sr-passthrough lots.jsonl 2>err.txt; echo $? >pipe-status; } | head -1 >/dev/null; cat pipe-status)
check "SIGPIPE exits 0" test "$status" -eq 0
check "SIGPIPE is quiet" test ! -s err.txt
{ sr-passthrough --stats closed.json lots.jsonl; } 2>/dev/null | head -1 >/dev/null
check "SIGPIPE marked in stats" grep -q '"output_closed": true' closed.json
sr-passthrough --stats open.json lots.jsonl >/dev/null
check "complete run not marked closed" test -z "$(grep output_closed open.json)"

# -o writes atomically: the file appears only complete.
sr-passthrough -o o.jsonl lots.jsonl
check "-o output complete" test "$(wc -l <o.jsonl)" -eq 200000
check "no temporary left" test -z "$(ls | grep '\.tmp\.')"
# -o through a link: /dev/stdout is written in place and stays a link; a
# user's link to a file keeps pointing at the (replaced) file.
sr-passthrough -o /dev/stdout lots.jsonl >via-dev-stdout.jsonl
check "-o /dev/stdout writes to standard output" test "$(wc -l <via-dev-stdout.jsonl)" -eq 200000
check "/dev/stdout is still a link" test -L /dev/stdout
echo old >target.jsonl
ln -s target.jsonl link.jsonl
sr-passthrough -o link.jsonl lots.jsonl
check "-o through a link keeps the link" test -L link.jsonl
check "-o through a link replaces its target" test "$(wc -l <target.jsonl)" -eq 200000

# A killed run's temporary file is removed by the next run; a live one stays.
sh -c 'exit 0' & dead=$!
wait $dead
echo partial >"o.jsonl.tmp.$dead"
echo live >"o.jsonl.tmp.$$"
sr-passthrough -o o.jsonl lots.jsonl
check "stale temporary removed" test ! -e "o.jsonl.tmp.$dead"
check "live writer's temporary kept" test -e "o.jsonl.tmp.$$"
rm -f "o.jsonl.tmp.$$"

exit $fail
