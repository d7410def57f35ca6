#!/bin/sh
# Check libsrkit's schema validator against python3-jsonschema (Debian's
# /usr/bin/python3): every schema in schemas/ must be a valid draft 2020-12
# schema, and both validators must give the same verdict on the keyword
# cases in tests/data/schema/cases.jsonl and on the example records
# tests/data/schema/NAME.jsonl checked against schemas/NAME.schema.json.
set -u
py=/usr/bin/python3
if ! "$py" -c 'import jsonschema' 2>/dev/null; then
	echo "SKIP: $py has no jsonschema module (apt-get install python3-jsonschema)"
	exit 77
fi
src="$SR_SRCDIR"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

# Each schema must itself be valid, for the reference and for us.
for s in "$src"/schemas/*.schema.json; do
	"$py" "$src/tests/schema-reference.py" check-schema "$s" ||
		{ echo "FAIL: $s is not a valid draft 2020-12 schema"; fail=1; }
	echo '{}' | schema-check "$s" >/dev/null ||
		{ echo "FAIL: libsrkit cannot load $s"; fail=1; }
done

compare() { # name, ours, theirs
	if ! cut -d' ' -f1 "$2" | cmp -s - "$3"; then
		echo "FAIL: verdicts differ for $1 (line: ours | reference):"
		cut -d' ' -f1 "$2" | paste -d'|' - "$3" | grep -n -v -E '^[0-9]+:(valid\|valid|invalid\|invalid)$'
		fail=1
	fi
	echo "$1: $(wc -l <"$3") verdicts compared"
}

schema-check --cases <"$src/tests/data/schema/cases.jsonl" >"$tmp/ours" ||
	{ echo "FAIL: record and tree validation disagree on cases.jsonl"; fail=1; }
"$py" "$src/tests/schema-reference.py" cases <"$src/tests/data/schema/cases.jsonl" >"$tmp/theirs"
compare cases.jsonl "$tmp/ours" "$tmp/theirs"
# The cases must exercise both verdicts, or the comparison proves little.
grep -q '^valid' "$tmp/theirs" && grep -q '^invalid' "$tmp/theirs" || { echo "FAIL: cases lack a verdict kind"; fail=1; }

for inst in "$src"/tests/data/schema/*.jsonl; do
	name=$(basename "$inst" .jsonl)
	[ "$name" = cases ] && continue
	s="$src/schemas/$name.schema.json"
	[ -f "$s" ] || { echo "FAIL: $inst has no schema $s"; fail=1; continue; }
	schema-check "$s" <"$inst" >"$tmp/ours" ||
		{ echo "FAIL: record and tree validation disagree on $name.jsonl"; fail=1; }
	"$py" "$src/tests/schema-reference.py" instances "$s" <"$inst" >"$tmp/theirs"
	compare "$name.jsonl" "$tmp/ours" "$tmp/theirs"
done
exit $fail
