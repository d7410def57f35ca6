#!/bin/sh
# Run srkit's test suite and end with one line "N passed, N failed".
#
#   scripts/test.sh          install missing packages, build, make check
#   scripts/test.sh --full   also make check-full (full data sets, slow
#                            runs) and make check under AddressSanitizer
#                            and UBSan in a second build; this is what CI runs
set -u
src=$(cd "$(dirname "$0")/.." && pwd)
full=0
[ "${1:-}" = "--full" ] && full=1
status=0

if [ $full -eq 1 ]; then
	"$src/scripts/deps.sh" --ci || exit 3
else
	"$src/scripts/deps.sh" || exit 3
fi
[ $full -eq 1 ] && "$src/scripts/npm-deps.sh" "$src/build/npm" || true

"$src/scripts/build.sh" "$src/build" || { echo "0 passed, 1 failed"; exit 1; }
cd "$src/build"
export SR_NPM_DIR="$src/build/npm"
make -j2 check >check.out 2>&1 || status=1
if [ $full -eq 1 ]; then
	make -j2 check-full >check-full.out 2>&1 || status=1
	"$src/scripts/build.sh" "$src/build-asan" --enable-sanitizers || status=1
	(cd "$src/build-asan" &&
		ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		make -j2 check >check.out 2>&1) || status=1
fi

# Show what failed, then the one summary line over every build.
for dir in "$src/build" "$src/build-asan"; do
	[ -d "$dir" ] || continue
	grep -l '^:test-result: \(FAIL\|ERROR\|XPASS\)' $(find "$dir" -name '*.trs') 2>/dev/null |
	while read -r trs; do
		log=${trs%.trs}.log
		echo "=== FAILED: ${log#"$src"/}"
		tail -40 "$log"
	done
done
dirs="$src/build"
[ $full -eq 1 ] && dirs="$dirs $src/build-asan"
results=$(find $dirs -name '*.trs' -exec grep -h '^:test-result:' {} + 2>/dev/null)
pass=$(printf '%s\n' "$results" | grep -c -E ':test-result: (PASS|XFAIL)')
failn=$(printf '%s\n' "$results" | grep -c -E ':test-result: (FAIL|XPASS|ERROR)')
skip=$(printf '%s\n' "$results" | grep -c -E ':test-result: SKIP')
# A build or harness failure with no failed test still counts as a failure.
if [ $status -ne 0 ] && [ "$failn" -eq 0 ]; then
	failn=1
	tail -30 "$src/build/check.out"
fi
echo "$pass passed, $failn failed, $skip skipped"
[ "$failn" -eq 0 ]
