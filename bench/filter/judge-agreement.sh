#!/bin/sh
# Agreement of sr-filter's built-in judge with the automatic labels of real
# model responses in the shared data sets:
#   refusal_direction/completions/*/*_evaluations.json
#       is_jailbreak_substring_matching (0 = a refusal phrase was found) and,
#       where present, is_jailbreak_llamaguard2 (1 = LlamaGuard-2 judged the
#       response unsafe)
#   llm_past_tense/jailbreak_artifacts/*/*.json
#       jailbroken_rules, jailbroken_gpt (GPT-4 judge), jailbroken_llama
#       (Llama-3-70B judge)
# A label counts as "refusal" when the response was not judged a jailbreak.
# The judge's refusal flag (true for full and partial refusals) is compared
# with it. Unsafe-content labels (LlamaGuard, GPT-4) are not refusal labels:
# a response that complies with harmless content is "not unsafe", so expect
# lower agreement with them.
#
# Usage: judge-agreement.sh [SHARED_DATA_DIR] [MARKDOWN_OUT]
# Needs sr-filter on PATH and jq. Prints a Markdown table.
set -eu
data=${1:-${SR_SHARED:-$(dirname "$0")/../../../shared}/data}
out=${2:-/dev/stdout}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for t in sr-filter jq; do
	command -v "$t" >/dev/null 2>&1 || { echo "judge-agreement.sh: $t not found on PATH" >&2; exit 2; }
done
[ -d "$data/refusal_direction/completions" ] || { echo "judge-agreement.sh: no data under '$data'" >&2; exit 2; }

# One rule: the label rule, so that --annotate carries the judge's verdict.
printf 'label label\n' >"$tmp/rules"

# Convert every file to sample-like records with the labels beside them.
for f in "$data"/refusal_direction/completions/*/*_evaluations.json; do
	name=refusal_direction/$(basename "$(dirname "$f")")/$(basename "$f" _evaluations.json)
	case $f in *harmless*) label=benign ;; *) label=harmful ;; esac
	jq -c --arg file "$name" --arg lab "$label" '
		.completions | to_entries[] | {
			id: "\($file)#\(.key)", "label": $lab, query: .value.prompt, answer: .value.response,
			file: $file,
			refusal_rules: (.value.is_jailbreak_substring_matching == 0),
			refusal_guard: (if .value.is_jailbreak_llamaguard2 == null then null
			                else .value.is_jailbreak_llamaguard2 == 0 end)}' "$f"
done >"$tmp/records.jsonl"
for f in "$data"/llm_past_tense/jailbreak_artifacts/*/*.json; do
	name=llm_past_tense/$(basename "$(dirname "$f")")/$(basename "$f" .json)
	jq -c --arg file "$name" '
		.jb_artifacts | to_entries[] | {
			id: "\($file)#\(.key)", "label": "harmful", query: .value.request_reformulated,
			answer: .value.response, file: $file,
			refusal_rules: (.value.jailbroken_rules | not),
			refusal_gpt: (.value.jailbroken_gpt | not),
			refusal_llama: (.value.jailbroken_llama | not)}' "$f"
done >>"$tmp/records.jsonl"

sr-filter --annotate --rules "$tmp/rules" "$tmp/records.jsonl" >"$tmp/judged.jsonl"

# Per file and overall: agreement with each label kind present.
jq -s -r '
	def pct(a; n): if n == 0 then "-" else ((a * 1000 / n | round) / 10 | tostring | if test("\\.") then . else . + ".0" end) + "%" end;
	def agree(rows; key):
		[rows[] | select(.[key] != null)] as $r
		| {n: ($r | length), a: ([$r[] | select(.[key] == .checks.label.judge.refusal)] | length)};
	def row(name; rows):
		(rows | length) as $n
		| agree(rows; "refusal_rules") as $rules
		| agree(rows; "refusal_guard") as $guard
		| agree(rows; "refusal_gpt") as $gpt
		| agree(rows; "refusal_llama") as $llama
		| "| \(name) | \($n) | \([rows[] | select(.checks.label.judge.refusal)] | length) | \(pct($rules.a; $rules.n)) | \(pct($guard.a; $guard.n)) | \(pct($gpt.a; $gpt.n)) | \(pct($llama.a; $llama.n)) |";
	"| file | responses | judged refusal | agrees with refusal-phrase rule | with LlamaGuard-2 | with GPT-4 judge | with Llama-3-70B judge |",
	"| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
	(group_by(.file)[] | row(.[0].file; .)),
	(map(select(.file | startswith("refusal_direction"))) | row("**refusal_direction, all**"; .)),
	(map(select(.file | startswith("llm_past_tense"))) | row("**llm_past_tense, all**"; .)),
	row("**overall**"; .)
' "$tmp/judged.jsonl" >"$out"
