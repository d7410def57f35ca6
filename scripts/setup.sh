#!/bin/sh
# The main job from a fresh Debian machine: install the packages, build,
# and run the pipeline on the bundled sample data (scripts/demo.sh). With
# SR_ENDPOINT and SR_MODEL set (and the key in OPENAI_API_KEY), sr-synth
# uses that teacher; otherwise the built-in offline teacher.
#
#   scripts/setup.sh [demo options, e.g. -o out]
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
"$src/scripts/deps.sh"
"$src/scripts/build.sh" "$src/build"
PATH="$src/build/tools:$PATH"
SRKIT_DATADIR="$src"
export PATH SRKIT_DATADIR
exec "$src/scripts/demo.sh" "$@"
