#!/bin/sh
# Every option sr-train and its subcommands list in --help is in
# sr-train(1), and every option the man page names is in some --help.
. "${SR_SRCDIR:-.}/tests/train-lib.sh"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
{
	sr-train --help
	sr-train init --help
	sr-train eval --help
	sr-train generate --help
} | grep -o -- '--[a-z][a-z0-9-]*' | sort -u > "$tmp/help"
sed 's/\\-/-/g; s/\\f[BIR]//g; /^sr-mix /d' "$SR_SRCDIR/man/sr-train.1" | grep -o -- '--[a-z][a-z0-9-]*' |
	sort -u > "$tmp/man"
# options of the tokenize subcommand are documented by its own --help
sr-train tokenize --help | grep -o -- '--[a-z][a-z0-9-]*' | sort -u > "$tmp/tokenize"
missing=$(comm -23 "$tmp/help" "$tmp/man")
test -z "$missing" || fail "in --help but not in sr-train(1): $missing"
extra=$(sort -u "$tmp/help" "$tmp/tokenize" | comm -13 - "$tmp/man")
test -z "$extra" || fail "in sr-train(1) but in no --help: $extra"
exit 0
