#!/bin/sh
# Run the declarative CLI cases under tests/cases/TOOL/CASE/. Each case has:
#   cmd         a shell command line, run in a fresh temporary directory with
#               $CASE set to the case directory and the built tools on PATH
#   stdin       (optional) fed to the command; /dev/null otherwise
#   stdout      (optional) expected standard output, byte for byte
#   stderr      (optional) expected standard error, byte for byte
#   stderr.grep (optional) extended regular expressions, one per line, that
#               must each match some line of standard error
#   exit        (optional) expected exit status; 0 when absent
# Prints one line per failing case and exits 1 if any failed.
set -u
cases_dir="${SR_SRCDIR:-.}/tests/cases"
only="${1:-}"
pass=0
fail=0
for case in "$cases_dir"/*/*/; do
	case=${case%/}
	[ -f "$case/cmd" ] || continue
	name=${case#"$cases_dir"/}
	if [ -n "$only" ] && [ "${name#"$only"}" = "$name" ]; then continue; fi
	tmp=$(mktemp -d)
	input=/dev/null
	[ -f "$case/stdin" ] && input="$case/stdin"
	(cd "$tmp" && CASE="$case" sh "$case/cmd" <"$input" >"$tmp/.out" 2>"$tmp/.err")
	status=$?
	want=0
	[ -f "$case/exit" ] && want=$(cat "$case/exit")
	bad=
	[ "$status" -eq "$want" ] || bad="exit status $status, expected $want"
	if [ -z "$bad" ] && [ -f "$case/stdout" ] && ! cmp -s "$case/stdout" "$tmp/.out"; then
		bad="stdout differs:
$(diff "$case/stdout" "$tmp/.out" | head -20)"
	fi
	if [ -z "$bad" ] && [ -f "$case/stderr" ] && ! cmp -s "$case/stderr" "$tmp/.err"; then
		bad="stderr differs:
$(diff "$case/stderr" "$tmp/.err" | head -20)"
	fi
	if [ -z "$bad" ] && [ -f "$case/stderr.grep" ]; then
		while IFS= read -r re; do
			[ -n "$re" ] || continue
			grep -Eq -- "$re" "$tmp/.err" || { bad="stderr has no line matching: $re"; break; }
		done <"$case/stderr.grep"
	fi
	if [ -n "$bad" ]; then
		fail=$((fail + 1))
		echo "FAIL: $name: $bad"
		echo "  stderr was: $(head -c 600 "$tmp/.err")"
	else
		pass=$((pass + 1))
		echo "ok: $name"
	fi
	rm -rf "$tmp"
done
echo "cli cases: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
