#!/usr/bin/env bash
# debian-package.sh PACKAGE DIR NAME: Debian's PACKAGE downloaded with `apt-get download` and
# unpacked into DIR, not installed (no service started, nothing written outside DIR). The one
# place the tool installers (install-nginx.sh, install-ops-tools.sh) take a binary from
# Debian's archive; NAME is the installer, for its messages. Root is needed only when the
# package lists must be refreshed first.
set -euo pipefail

package="$1" into="$2" name="$3"
fail() {
    echo "$name: $*" >&2
    exit 1
}

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "$name: fetching Debian's $package package"
if ! (cd "$work" && apt-get download -qq "$package" 2>/dev/null); then
    apt-get update -qq || fail "apt-get update failed (it needs root)."
    (cd "$work" && apt-get download -qq "$package") || fail "apt-get download $package failed."
fi
mkdir -p "$into"
dpkg-deb -x "$work/${package}"_*.deb "$into"
