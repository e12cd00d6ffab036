#!/usr/bin/env bash
# Toxiproxy, the TCP proxy that injects network faults between the consumer and the brokers of
# the three-broker cluster (devkit/toxiproxy.py; `make chaos`, tests/integration/test_cluster.py),
# built from source with `go install` at a pinned version into ${MIK_CACHE_DIR:-.cache}/ops-tools/bin
# as `toxiproxy-server` (the module names its command `server`). `make toxiproxy` runs this; a
# binary of the pinned version already in place is left alone.
set -euo pipefail

TOXIPROXY_VERSION=v2.12.0

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bin="${MIK_CACHE_DIR:-$root/.cache}/ops-tools/bin"
mkdir -p "$bin"

if [ -x "$bin/toxiproxy-server" ] && [ "$(cat "$bin/.toxiproxy-server.version" 2>/dev/null)" = "$TOXIPROXY_VERSION" ]; then
    exit 0
fi
command -v go >/dev/null || { echo "install-toxiproxy: building Toxiproxy needs Go 1.22 or newer on PATH." >&2; exit 1; }
echo "install-toxiproxy: building toxiproxy-server $TOXIPROXY_VERSION (go install, about a minute)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
GOTOOLCHAIN=local GOBIN="$work" go install "github.com/Shopify/toxiproxy/v2/cmd/server@$TOXIPROXY_VERSION"
install -m 0755 "$work/server" "$bin/toxiproxy-server"
echo "$TOXIPROXY_VERSION" >"$bin/.toxiproxy-server.version"
