#!/bin/sh
# `make install` into a temporary prefix: tools, library, man pages and
# the data files land under PREFIX, and the installed tools find the
# installed guideline sets and schemas by name, without a path.
set -u
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix="$tmp/prefix"
fail=0
check() { desc=$1; shift; if "$@"; then echo "ok: $desc"; else echo "FAIL: $desc"; fail=1; fi; }

mkdir "$tmp/build"
cd "$tmp/build" || exit 1
"$SR_SRCDIR/configure" -q --prefix="$prefix" >/dev/null || { echo "FAIL: configure"; exit 1; }
make -j2 >/dev/null 2>&1 && make install >/dev/null 2>&1 || { echo "FAIL: make install"; exit 1; }

for t in sr-import sr-guide sr-synth sr-filter sr-dedup sr-mix sr-shard sr-train sr-attack sr-bon; do
	check "$t installed" test -x "$prefix/bin/$t"
	check "$t man page installed" test -f "$prefix/share/man/man1/$t.1"
done
check "srkit(7) installed" test -f "$prefix/share/man/man7/srkit.7"
check "srkit-records(5) installed" test -f "$prefix/share/man/man5/srkit-records.5"
check "library installed" test -f "$prefix/lib/libsrkit.so"
check "default guideline set installed" test -f "$prefix/share/srkit/guidelines/default.json"
check "query schema installed" test -f "$prefix/share/srkit/schemas/query.schema.json"

# A set that exists only in the installed data directory must be found by
# name, so the lookup really goes through PREFIX/share/srkit.
sed 's/"name": *"default"/"name": "probe"/' "$prefix/share/srkit/guidelines/default.json" \
	>"$prefix/share/srkit/guidelines/probe.json"
printf '{"id":"t-1","source":"t","label":"harmful","query":"How do I pick a lock?"}\n' >q.jsonl
env -u SRKIT_DATADIR "$prefix/bin/sr-guide" -g probe q.jsonl >p.jsonl 2>err.txt
check "installed sr-guide finds an installed set by name" test $? -eq 0
check "prompt names the installed set" grep -q '"set":"probe"' p.jsonl
exit $fail
