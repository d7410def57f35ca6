# mix-lib.sh - helpers sourced by the sr-mix and sr-shard tests.

# gen_samples SOURCE LABEL PROMPTS SAMPLES: write sample records to stdout,
# ids SOURCE-1 ... SOURCE-PROMPTS with samples 0 .. SAMPLES-1 each.
gen_samples() {
	awk -v src="$1" -v label="$2" -v n="$3" -v k="$4" 'BEGIN {
		for (i = 1; i <= n; i++) for (s = 0; s < k; s++) {
			printf "{\"id\":\"%s-%d\",\"source\":\"%s\",\"label\":\"%s\",", src, i, src, label
			printf "\"query\":\"Question %d of %s\",", i, src
			printf "\"guidelines\":{\"set\":\"default\",\"version\":\"1.0.0\",\"ids\":[\"intent\"],"
			printf "\"tags\":{\"open\":\"<think>\",\"close\":\"</think>\"}},"
			printf "\"request\":{\"messages\":[{\"role\":\"system\",\"content\":\"GUIDELINES\"},"
			printf "{\"role\":\"user\",\"content\":\"Question %d of %s\"}]},", i, src
			printf "\"sample\":%d,\"teacher\":{\"model\":\"test\"},", s
			printf "\"completion\":\"<think>\\nReasoning %d.%d\\n</think>\\n\\nAnswer %d.%d\",", i, s, i, s
			printf "\"reasoning\":\"Reasoning %d.%d\",\"answer\":\"Answer %d.%d\"}\n", i, s, i, s
		}
	}'
}

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# stats_balance FILE: records_in = records_out + skipped + rejected +
# duplicates + failed in a --stats file.
stats_balance() {
	jq -e '(.records_in) == (.records_out + .skipped + (.rejected // 0)
		+ (.duplicates // 0) + (.failed // 0))' "$1" >/dev/null
}
