#!/bin/sh
# Sampling speed of the trainer's model with and without the key/value
# cache: builds bench/bon/gen-speed.c against a build tree's libsrkit and
# runs it for a 1M-parameter model at batch sizes 1 and 8 and a
# 6M-parameter model at batch size 1 (the uncached run at batch 8 of the
# larger model takes many minutes on two cores).
# Usage: bench/bon/gen-speed.sh BUILD_DIR [RUNS]
set -eu
build=${1:?usage: gen-speed.sh BUILD_DIR [RUNS]}
runs=${2:-3}
src=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gcc -std=gnu11 -O2 -I"$src/lib" -I"$build/lib" $(pkg-config --cflags jansson) \
	"$src/bench/bon/gen-speed.c" -o "$tmp/gen-speed" \
	-L"$build/lib/.libs" -Wl,-rpath,"$build/lib/.libs" -lsrkit -lm
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
"$tmp/gen-speed" 128 2 2048 1 16 128 "$runs"
"$tmp/gen-speed" 128 2 2048 8 16 128 "$runs"
"$tmp/gen-speed" 256 4 4096 1 16 128 "$runs"
