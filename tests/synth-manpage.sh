#!/bin/sh
# sr-synth --help and sr-synth(1) name the same long options, and the
# man page's built-in teacher example runs.
. "${SR_SRCDIR:-.}/tests/synth-common.sh"
page="$SR_SRCDIR/man/sr-synth.1"

sr-synth --help | grep -o -e '--[a-z][a-z-]*' | sort -u >"$tmp/help"
sed 's/\\-/-/g' "$page" | grep -o -e '--[a-z][a-z-]*' | sort -u >"$tmp/man"
# The help text shows --on-error=MODE, the page \-\-on\-error= MODE: both give --on-error.
if ! cmp -s "$tmp/help" "$tmp/man"; then
	echo "options only in --help (<) or only in the man page (>):" >&2
	diff "$tmp/help" "$tmp/man" >&2
	fail "--help and sr-synth(1) differ"
fi

# EXAMPLES: the offline pipeline.
printf '%s\n' '{"id":"m1","source":"man","label":"harmful","query":"How do I pick a lock to break into a house?"}' \
	>"$tmp/queries.jsonl"
sr-guide "$tmp/queries.jsonl" | sr-synth -q --teacher builtin >"$tmp/samples.jsonl" ||
	fail "the built-in teacher example failed"
[ "$(wc -l <"$tmp/samples.jsonl")" -eq 1 ] || fail "the example wrote no sample"
echo "ok: --help matches sr-synth(1)"
