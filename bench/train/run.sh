#!/bin/sh
# bench/train/run.sh BUILDDIR [STEPS]
#
# Time the trainer's step on random tokens at sequence length 256 for two
# models: 12 layers, 768 wide, a 32000-token vocabulary (GPT-2 small
# sized), and 6 layers, 384 wide, 8192 tokens. The same script measures the
# machine's SGEMM rate (2048 x 2048 x 2048, OpenBLAS with the same thread
# count) for comparison. Prints one JSON line per measurement, then a Markdown
# table of medians.
#
# GFLOP/s counts 6 x (parameters except the input embedding, a lookup) x
# tokens plus attention, 12 x layers x heads x head size x 256 per token
# (the PaLM count). The step is what sr-train does per step: forward,
# backward, gradient norm, AdamW.
set -eu
build=${1:?usage: bench/train/run.sh BUILDDIR [STEPS]}
steps=${2:-3}
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cc -std=gnu11 -O2 -fopenmp -I"$src/lib" -I"$build" $(pkg-config --cflags jansson openblas) \
	-o "$tmp/bench-train" "$here/bench-train.c" -L"$build/lib/.libs" -lsrkit \
	$(pkg-config --libs openblas) -Wl,-rpath,"$build/lib/.libs"

out="$tmp/results.jsonl"
sgemm() { "$tmp/bench-train" sgemm 2048 2048 2048 3 | tee -a "$out"; }

sgemm
#                        layers hidden inter heads kv vocab batch seq
"$tmp/bench-train" step  12     768    2048  12    12 32000 4     256 "$steps" | tee -a "$out"
sgemm
"$tmp/bench-train" step  6      384    1024  6     6  8192  8     256 "$steps" | tee -a "$out"
sgemm

/usr/bin/python3 - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
sg = [r for r in rows if "sgemm" in r]
peak = statistics.median(r["gflops"] for r in sg)
peak_cpu = statistics.median(r["gflops_per_cpu_s"] for r in sg)
print()
print("| measurement | threads | median s | tokens/s | GFLOP/s | % of SGEMM | GFLOP per CPU-s | % of SGEMM per CPU-s |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
print("| SGEMM 2048^3 | %d | %.3f | | %.1f | 100 | %.1f | 100 |" % (
    sg[0]["threads"], statistics.median(r["seconds"] for r in sg), peak, peak_cpu))
for h in sorted({r["hidden"] for r in rows if "hidden" in r}, reverse=True):
    st = [r for r in rows if r.get("hidden") == h]
    g = statistics.median(r["gflops"] for r in st)
    gc = statistics.median(r["gflops_per_cpu_s"] for r in st)
    print("| step: %d layers, %d wide, vocab %d, %d x %d (%.1fM params) | %d | %.2f | %.0f | %.1f | %.0f | %.1f | %.0f |" % (
        st[0]["layers"], h, st[0]["vocab"], st[0]["batch"], st[0]["seq"], st[0]["params"] / 1e6,
        st[0]["threads"], statistics.median(r["seconds"] for r in st),
        statistics.median(r["tokens_per_s"] for r in st), g, 100 * g / peak, gc, 100 * gc / peak_cpu))
PY
