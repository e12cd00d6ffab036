#!/usr/bin/env bash
# nginx for the benchmark's native HTTP server (bench/nginx_server.py), into
# ${MIK_CACHE_DIR:-.cache}/ops-tools/bin/nginx (git-ignored): Debian's `nginx` package,
# downloaded with `apt-get download` and unpacked there, not installed (no service is started,
# nothing is written outside the cache), as install-ops-tools.sh does for prometheus.
# Already in place: left alone. NGINX=/path/to/nginx (any nginx on PATH) skips the download.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bin="${MIK_CACHE_DIR:-$root/.cache}/ops-tools/bin"
mkdir -p "$bin"

fail() {
    echo "install-nginx: $*" >&2
    exit 1
}

if [ -x "$bin/nginx" ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then
    fail "nginx comes from Debian's nginx package: set NGINX to an nginx binary instead."
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$root/deploy/tools/debian-package.sh" nginx "$work/unpacked" install-nginx
install -m 0755 "$work/unpacked/usr/sbin/nginx" "$bin/nginx.partial"
mv "$bin/nginx.partial" "$bin/nginx"
echo "install-nginx: $("$bin/nginx" -v 2>&1) in $bin"
