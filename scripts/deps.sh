#!/bin/sh
# Install the Debian packages srkit needs to build and test, when missing.
# Needs root (or sudo). The package list is the one the README names.
#
#   scripts/deps.sh            build and test dependencies
#   scripts/deps.sh --ci       also the packages only some tests use
#                              (node/npm for the tokenizer reference,
#                              chromium for the SVG rendering check)
set -eu
packages="build-essential autoconf automake libtool pkg-config
libjansson-dev libcurl4-openssl-dev libpcre2-dev libzstd-dev libxxhash-dev
libcsv-dev libutf8proc-dev libopenblas-dev libmicrohttpd-dev
zstd jq python3 python3-jsonschema time"
if [ "${1:-}" = "--ci" ]; then
	packages="$packages nodejs npm chromium"
fi

missing=
for p in $packages; do
	dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -z "$missing" ]; then
	exit 0
fi
sudo=
if [ "$(id -u)" -ne 0 ]; then
	sudo=sudo
fi
echo "installing:$missing"
$sudo apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing
