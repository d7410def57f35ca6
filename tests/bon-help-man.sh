#!/bin/sh
# Every long option that `sr-bon COMMAND --help` lists is described in
# sr-bon(1), and every subcommand of `sr-bon --help` has its --help.
set -eu
man="$SR_SRCDIR/man/sr-bon.1"
missing=0
commands=$(sr-bon --help | awk '/^Commands:/ {on = 1; next} on && /^  [a-z]/ {print $1} on && /^$/ {on = 0}')
[ -n "$commands" ] || { echo "FAIL: no commands in sr-bon --help"; exit 1; }
for cmd in $commands; do
	sr-bon "$cmd" --help >/tmp/bon-help.$$ || { echo "FAIL: sr-bon $cmd --help failed"; rm -f /tmp/bon-help.$$; exit 1; }
	grep -q "^\.SS $cmd\$" "$man" || { echo "FAIL: no section for '$cmd' in sr-bon(1)"; missing=1; }
	for opt in $(grep -o -- '--[a-z][a-z0-9+-]*' /tmp/bon-help.$$ | sort -u); do
		name=${opt#--}
		# The man page escapes each '-' in option names as '\-'.
		escaped=$(printf '%s' "$name" | sed 's/-/\\\\-/g')
		if ! grep -q -- "\\\\-\\\\-$escaped" "$man"; then
			echo "FAIL: sr-bon $cmd: $opt is not in sr-bon(1)"
			missing=1
		fi
	done
done
rm -f /tmp/bon-help.$$
[ "$missing" -eq 0 ] && echo "ok: help and man page agree for: $(echo $commands)"
