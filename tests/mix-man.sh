#!/bin/sh
# The man pages of sr-mix and sr-shard list the same long options as
# --help, and the man page examples that need no data run.
set -u
. "${SR_SRCDIR:-.}/tests/mix-lib.sh"
for tool in sr-mix sr-shard; do
	page="$SR_SRCDIR/man/$tool.1"
	help=$("$tool" --help | grep -o -e '--[a-z][a-z-]*' | sort -u)
	man=$(grep -o -e '\\-\\-[a-z][a-z-]*' "$page" | sed 's/\\//g' | sort -u)
	[ -n "$help" ] || fail "$tool --help lists no options"
	missing=$(printf '%s\n' "$help" | grep -vxF -e "$(printf '%s\n' "$man")")
	extra=$(printf '%s\n' "$man" | grep -vxF -e "$(printf '%s\n' "$help")")
	[ -z "$missing" ] || fail "$page lacks options of --help: $missing"
	[ -z "$extra" ] || fail "$page lists options --help lacks: $extra"
done

# The EXAMPLES of sr-mix(1), run on generated records.
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 99
{ gen_samples advbench harmful 3500 1; gen_samples alpaca benign 6500 1; } >kept.jsonl
sed -n '/^\.SH EXAMPLES/,/^\.SH SEE ALSO/p' "$SR_SRCDIR/man/sr-mix.1" |
	sed -n '/^\.EX/,/^\.EE/p' | grep -v '^\.E[XE]' | sed 's/\\e$/\\/' >examples.sh
[ "$(grep -c '^sr-' examples.sh)" -ge 5 ] || fail "found too few examples in sr-mix.1"
sh -e examples.sh >examples.out 2>examples.err || fail "sr-mix(1) examples: $(cat examples.err)"
[ "$(jq '.counts.keys.advbench.selected' srg/manifest.json)" -eq 2000 ] || fail "example --take"
[ "$(jq '.counts.labels.harmful.train' mix/manifest.json)" -eq 3000 ] || fail "example --ratio"
echo "mix-man: ok"
