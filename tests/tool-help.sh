#!/bin/sh
# Every installed tool: --help goes to stdout, exits 0 and fits a screen
# (at most 60 lines); --version names srkit; an unknown option exits 2;
# every long option in --help is documented in the tool's man page, and
# every long option the man page's OPTIONS section documents is in --help.
set -u
fail=0
tools=$(cd "$SR_BUILDDIR/tools" 2>/dev/null && ls sr-* 2>/dev/null | grep -v '\.' )
[ -n "$tools" ] || { echo "SKIP: no tools built"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for t in $tools; do
	"$t" --help >"$tmp/help" 2>"$tmp/err"
	st=$?
	[ $st -eq 0 ] || { echo "FAIL: $t --help exits $st"; fail=1; }
	[ -s "$tmp/help" ] || { echo "FAIL: $t --help prints nothing on stdout"; fail=1; }
	lines=$(wc -l <"$tmp/help")
	[ "$lines" -le 60 ] || { echo "FAIL: $t --help has $lines lines (max 60)"; fail=1; }
	"$t" --version >"$tmp/ver" 2>&1
	grep -q "(srkit)" "$tmp/ver" || { echo "FAIL: $t --version prints '$(head -1 "$tmp/ver")'"; fail=1; }
	"$t" --no-such-option </dev/null >/dev/null 2>&1
	st=$?
	[ $st -eq 2 ] || { echo "FAIL: $t --no-such-option exits $st, expected 2"; fail=1; }

	man="$SR_SRCDIR/man/$t.1"
	if [ ! -f "$man" ]; then
		echo "FAIL: $t has no man page man/$t.1"
		fail=1
		continue
	fi
	# Long options named in --help, and in each subcommand's --help for
	# tools that have subcommands.
	case $t in
	sr-bon) subs="sample judge score plot run convert" ;;
	sr-train) subs="init train eval tokenize generate" ;;
	sr-shard) subs="verify cat stats" ;;
	*) subs= ;;
	esac
	for sub in $subs; do
		"$t" "$sub" --help >>"$tmp/help" 2>/dev/null
	done
	grep -o -E -- '--[a-z][a-z0-9-]+' "$tmp/help" | sort -u >"$tmp/help-opts"
	# Long options in the man page (troff writes '-' as '\-').
	sed 's/\\-/-/g; s/\\f[BIRP]//g' "$man" >"$tmp/man.txt"
	grep -o -E -- '--[a-z][a-z0-9-]+' "$tmp/man.txt" | sort -u >"$tmp/man-opts"
	awk '/^\.SH/ { on = ($0 ~ /OPTIONS/) } on' "$tmp/man.txt" |
		grep -o -E -- '--[a-z][a-z0-9-]+' | sort -u >"$tmp/man-section-opts"
	missing=$(comm -23 "$tmp/help-opts" "$tmp/man-opts" | tr '\n' ' ')
	[ -z "$missing" ] || { echo "FAIL: $t --help options missing from man/$t.1: $missing"; fail=1; }
	extra=$(comm -13 "$tmp/help-opts" "$tmp/man-section-opts" | tr '\n' ' ')
	[ -z "$extra" ] || { echo "FAIL: man/$t.1 OPTIONS lists options $t --help lacks: $extra"; fail=1; }
	[ $fail -eq 0 ] && echo "ok: $t"
done
exit $fail
