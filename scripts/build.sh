#!/bin/sh
# Configure and build srkit out of tree in BUILDDIR (default: build).
#   scripts/build.sh [BUILDDIR] [CONFIGURE-ARGS...]
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build}
[ $# -gt 0 ] && shift
cd "$src"
if [ ! -x configure ] || [ configure.ac -nt configure ]; then
	autoreconf -fi
fi
mkdir -p "$build"
cd "$build"
if [ ! -f Makefile ]; then
	"$src/configure" -q "$@"
fi
make -j"$(nproc)" >/dev/null
