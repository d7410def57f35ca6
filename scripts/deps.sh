#!/bin/sh
# Install the Debian packages srkit needs to build and test, when missing.
# Needs root (or sudo). The package list is the one the README names.
#
#   scripts/deps.sh            build and test dependencies
#   scripts/deps.sh --ci       also the tools only some tests use (node and
#                              npm for the tokenizer reference, chromium for
#                              the SVG rendering check); a failure to install
#                              these is a warning, and those tests skip
set -eu
packages="build-essential autoconf automake libtool pkg-config
libjansson-dev libcurl4-openssl-dev libpcre2-dev libzstd-dev libxxhash-dev
libcsv-dev libutf8proc-dev libopenblas-dev libmicrohttpd-dev
zstd jq python3 python3-jsonschema time"

sudo=
if [ "$(id -u)" -ne 0 ]; then
	sudo=sudo
fi
updated=0
apt_install() { # packages...
	if [ $updated -eq 0 ]; then
		$sudo apt-get update -qq
		updated=1
	fi
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@"
}

missing=
for p in $packages; do
	dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "installing:$missing"
	# shellcheck disable=SC2086
	apt_install $missing
fi

if [ "${1:-}" = "--ci" ]; then
	# Optional tools are looked for as commands, because node and npm may
	# come from another package than Debian's (which would conflict).
	optional=
	command -v node >/dev/null 2>&1 || optional="$optional nodejs"
	command -v npm >/dev/null 2>&1 || optional="$optional npm"
	command -v chromium >/dev/null 2>&1 || optional="$optional chromium"
	for p in $optional; do
		echo "installing optional $p"
		apt_install "$p" || echo "warning: could not install $p; the tests that need it will skip"
	done
fi
exit 0
