#!/bin/sh
# Run the EXAMPLES of sr-import(1) and sr-guide(1) on the shared data: each
# example block must exit 0 and produce records.
set -u
data="${SR_SHARED:-}/data"
if [ ! -d "$data" ]; then
	echo "shared data not found at '$data'; set SR_SHARED"
	exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
cd "$tmp" || exit 99

# The examples name the data files without their folders.
for f in advbench/harmful_behaviors.csv harmbench/harmbench_behaviors_text_all.csv \
	xstest/xstest_prompts.csv xstest/xstest_v2_prompts.csv \
	alpaca_eval/text_davinci_003_model_outputs.json \
	llm_past_tense/jailbreak_artifacts/past_tense/gpt-4o-mini.json; do
	ln -s "$data/$f" . || exit 99
done
printf 'prompt,extra\nfine,1\nragged\n' >mixed.csv
sr-import -l harmful -s advbench harmful_behaviors.csv >queries.jsonl || exit 99
cp "$SR_SRCDIR/guidelines/default.json" my-set.json || exit 99

# Print the example blocks of a man page, one command per line, with the
# roff escapes undone and continuation lines joined.
examples() {
	awk '/^\.SH/ { on = ($0 ~ /EXAMPLES/) } on && /^\.EX/ { ex = 1; next }
	     on && /^\.EE/ { ex = 0; next } on && ex' "$1" |
		sed 's/\\e$/\\/; s/\\-/-/g; s/\\e/\\/g' |
		sed -e ':a' -e '/\\$/N; s/\\\n//; ta'
}

n=0
for page in sr-import.1 sr-guide.1; do
	examples "$SR_SRCDIR/man/$page" >"examples-$page"
	while IFS= read -r cmd; do
		n=$((n + 1))
		sh -c "$cmd" >"out-$n" 2>"err-$n" </dev/null
		st=$?
		if [ "$st" -ne 0 ]; then
			echo "FAIL: $page: '$cmd' exited $st: $(head -c 300 "err-$n")"
			fail=1
		elif [ "${cmd#*>}" = "$cmd" ] && ! [ -s "out-$n" ]; then
			echo "FAIL: $page: '$cmd' wrote nothing"
			fail=1
		else
			echo "ok: $page: $cmd"
		fi
	done <"examples-$page"
done
[ "$n" -ge 8 ] || { echo "FAIL: only $n examples found"; fail=1; }
for f in advbench.jsonl prompts.jsonl prompts-ablated.jsonl prompts-rt.jsonl queries.jsonl; do
	[ -s "$f" ] || { echo "FAIL: the examples did not write $f"; fail=1; }
done
exit "$fail"
