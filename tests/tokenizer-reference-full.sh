#!/bin/sh
# The reference comparison of tokenizer-reference.sh on every distinct
# string of the shared data sets instead of a sample.
SR_TOKENIZER_EVERY=1 exec "${SHELL:-/bin/sh}" "${SR_SRCDIR:-.}/tests/tokenizer-reference.sh"
