#!/bin/sh
# demo.sh - run the whole srkit pipeline on the bundled sample data:
# sr-import, sr-guide, sr-synth, sr-filter, sr-dedup, sr-mix (reasoning and
# refusal-only formats) and sr-shard verify, then print what was built.
# Installs nothing; the tools must be built first.
set -eu

usage() {
	cat <<'EOF'
Usage: scripts/demo.sh [-o DIR] [OPTION]...
Run the srkit pipeline on the bundled sample data and print a summary.

  -o, --output DIR        write everything under DIR (default ./out)
      --sources FILE      inputs to import, one per line (default
                          data/sample/sources.txt; its format is described
                          at the top of that file)
      --samples N         teacher samples per prompt (default 2)
      --seed N            seed of sr-synth and sr-mix (default 1)
      --val-fraction F    share of the mix kept for validation (default 0.1)
      --concurrency N     teacher requests in flight (default 16)
  -h, --help              show this help

Environment:
  SR_ENDPOINT, SR_MODEL   an OpenAI-compatible teacher (base URL ending in
                          /v1, and the model name); the API key is read from
                          OPENAI_API_KEY. Without them the built-in teacher
                          runs, and benign inputs without reference answers
                          are left out because it cannot answer them.
  SR_BINDIR               directory of the srkit tools when they are not on
                          PATH (default: the source tree's tools/ if built)
  SRKIT_DATADIR           where guidelines/ and schemas/ are (default: the
                          source tree)

Exit status: 0 success, 1 a stage rejected its input, 2 usage error,
3 a tool failed or teacher requests failed (rerun to retry them; answered
requests are cached in DIR/synth-cache.jsonl).
EOF
}

die() {
	echo "demo.sh: error: $*" >&2
	exit "${status:-3}"
}

out=./out
sources=
samples=2
seed=1
val_fraction=0.1
concurrency=16
while [ $# -gt 0 ]; do
	case $1 in
	-o|--output) out=${2:?}; shift 2 ;;
	--output=*) out=${1#*=}; shift ;;
	--sources) sources=${2:?}; shift 2 ;;
	--samples) samples=${2:?}; shift 2 ;;
	--seed) seed=${2:?}; shift 2 ;;
	--val-fraction) val_fraction=${2:?}; shift 2 ;;
	--concurrency) concurrency=${2:?}; shift 2 ;;
	-h|--help) usage; exit 0 ;;
	*) echo "demo.sh: error: unknown argument '$1'" >&2
	   echo "Try 'scripts/demo.sh --help'." >&2
	   exit 2 ;;
	esac
done

root=$(cd "$(dirname "$0")/.." && pwd)
[ -n "$sources" ] || sources=$root/data/sample/sources.txt
[ -f "$sources" ] || { status=2; die "sources file '$sources' not found"; }
srcdir=$(cd "$(dirname "$sources")" && pwd)

if [ -n "${SR_BINDIR:-}" ]; then
	PATH=$SR_BINDIR:$PATH
elif [ -x "$root/tools/sr-mix" ]; then
	PATH=$root/tools:$PATH
fi
export PATH
if [ -z "${SRKIT_DATADIR:-}" ] && [ -d "$root/guidelines" ]; then
	SRKIT_DATADIR=$root
	export SRKIT_DATADIR
fi
for tool in sr-import sr-guide sr-synth sr-filter sr-dedup sr-mix sr-shard; do
	command -v "$tool" >/dev/null 2>&1 ||
		die "'$tool' not found: build srkit first, or set SR_BINDIR to the directory of the tools"
done
command -v jq >/dev/null 2>&1 || die "'jq' not found: install the Debian package jq"

if [ -n "${SR_ENDPOINT:-}" ] && [ -n "${SR_MODEL:-}" ]; then
	teacher="endpoint $SR_ENDPOINT, model $SR_MODEL"
	endpoint=yes
else
	teacher="built-in teacher"
	endpoint=no
fi

mkdir -p "$out/import" "$out/stats" || die "cannot create '$out'"
stats=$out/stats

# 1. Import every input the teacher can answer.
imported=
left_out=
while read -r name file when opts; do
	case $name in ''|'#'*) continue ;; esac
	if [ "$when" = endpoint ] && [ "$endpoint" = no ]; then
		left_out="$left_out $name"
		continue
	fi
	case $file in /*) path=$file ;; *) path=$srcdir/$file ;; esac
	# $opts is split into words on purpose: it holds the import options.
	# shellcheck disable=SC2086
	sr-import --source "$name" $opts --stats "$stats/import-$name.json" \
		-o "$out/import/$name.jsonl" "$path" </dev/null ||
		{ status=$?; die "sr-import failed on '$path'"; }
	imported="$imported $out/import/$name.jsonl"
done <"$sources"
[ -n "$imported" ] || { status=1; die "no inputs to import in '$sources'"; }

# 2. Teacher requests with the default guideline set.
# shellcheck disable=SC2086
sr-guide --stats "$stats/guide.json" -o "$out/prompts.jsonl" $imported ||
	{ status=$?; die "sr-guide failed"; }

# 3. Samples. sr-synth exits 3 when requests failed after their retries;
# they are in failed.jsonl and the pipeline goes on with the rest.
synth_status=0
if [ "$endpoint" = yes ]; then
	sr-synth --endpoint "$SR_ENDPOINT" --model "$SR_MODEL" --samples "$samples" \
		--seed "$seed" --concurrency "$concurrency" --cache "$out/synth-cache.jsonl" \
		--failed "$out/failed.jsonl" --stats "$stats/synth.json" \
		-o "$out/samples.jsonl" "$out/prompts.jsonl" || synth_status=$?
else
	sr-synth --teacher builtin --samples "$samples" --seed "$seed" \
		--failed "$out/failed.jsonl" --stats "$stats/synth.json" \
		-o "$out/samples.jsonl" "$out/prompts.jsonl" || synth_status=$?
fi
[ "$synth_status" -eq 0 ] || [ "$synth_status" -eq 3 ] || { status=$synth_status; die "sr-synth failed"; }
[ -f "$out/samples.jsonl" ] || { status=3; die "sr-synth wrote no samples"; }

# 4. Rejection sampling with the default rules.
sr-filter --rejects "$out/rejects.jsonl" --stats "$stats/filter.json" \
	-o "$out/kept.jsonl" "$out/samples.jsonl" || { status=$?; die "sr-filter failed"; }

# 5. The same request imported from two sources is trained on once.
sr-dedup --key /query --key /sample --dups "$out/duplicates.jsonl" \
	--stats "$stats/dedup.json" -o "$out/unique.jsonl" "$out/kept.jsonl" ||
	{ status=$?; die "sr-dedup failed"; }

# 6. The reasoning data set and its refusal-only control, from the same
# samples with the same seed, so both hold the same ids on each side.
for format in srg rt; do
	sr-mix --format "$format" --seed "$seed" --val-fraction "$val_fraction" \
		--stats "$stats/mix-$format.json" -o "$out/$format" "$out/unique.jsonl" ||
		{ status=$?; die "sr-mix --format $format failed"; }
done

# 7. Check every shard against its manifest.
sr-shard verify "$out/srg" "$out/rt" || { status=$?; die "sr-shard verify failed"; }

# Summary.
echo "srkit demo: $teacher, $samples samples per prompt, seed $seed"
[ -z "$left_out" ] || echo "left out (benign without references, need an endpoint):$left_out"
echo
printf '%-24s %8s %8s %8s %8s %8s %8s  %s\n' stage in out skipped rejected dups failed balance
for f in "$stats"/import-*.json "$stats/guide.json" "$stats/synth.json" "$stats/filter.json" \
	"$stats/dedup.json" "$stats/mix-srg.json" "$stats/mix-rt.json"; do
	[ -f "$f" ] || continue
	stage=$(basename "$f" .json)
	# sr-synth counts samples (records_in is prompts x samples per
	# prompt), so the same balance holds for every stage.
	jq -r --arg stage "$stage" '
		def n(k): (.[k] // 0);
		[$stage, n("records_in"), n("records_out"), n("skipped"), n("rejected"),
		 n("duplicates"), n("failed"),
		 (if n("records_in") == n("records_out") + n("skipped") + n("rejected")
		     + n("duplicates") + n("failed") then "ok" else "MISMATCH" end)]
		| "\(.[0])\t\(.[1])\t\(.[2])\t\(.[3])\t\(.[4])\t\(.[5])\t\(.[6])\t\(.[7])"' "$f" |
	while IFS='	' read -r s i o sk r d fl b; do
		printf '%-24s %8s %8s %8s %8s %8s %8s  %s\n' "$s" "$i" "$o" "$sk" "$r" "$d" "$fl" "$b"
	done
done
echo "(balance: in = out + skipped + rejected + dups + failed; sr-synth counts samples)"
echo
echo "sr-filter, records rejected per rule:"
jq -r '(.rules // .per_rule // {}) | to_entries[]
	| "  \(.key): \(if (.value | type) == "object"
		then (.value | to_entries | map("\(.key) \(.value)") | join(", "))
		else (.value | tostring) end)"' "$stats/filter.json"
echo
for format in srg rt; do
	echo "$format shards ($out/$format):"
	jq -r '.shards[] | "  \(.file)  \(.records) records, \(.bytes) bytes, xxh64 \(.xxh64)"' \
		"$out/$format/manifest.json"
done
echo
echo "rejected samples: $out/rejects.jsonl; duplicates: $out/duplicates.jsonl"
if [ "$synth_status" -ne 0 ]; then
	echo "demo.sh: warning: $(wc -l <"$out/failed.jsonl") teacher requests failed (see $out/failed.jsonl); rerun to retry them" >&2
	exit 3
fi
