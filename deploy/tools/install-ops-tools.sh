#!/usr/bin/env bash
# The tools of tests/integration/test_operations.py, into ${MIK_CACHE_DIR:-.cache}/ops-tools/bin
# (git-ignored; `make ops-tools` runs this, and `make test` runs that first):
#   kustomize            built from source with `go install` at a pinned version;
#   promtool, prometheus from Debian's `prometheus` package, unpacked there, not installed
#                        (no service is started, nothing is written outside the cache).
# A tool already in place is left alone, so only a new machine downloads anything.
set -euo pipefail

KUSTOMIZE_VERSION=v5.8.1

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bin="${MIK_CACHE_DIR:-$root/.cache}/ops-tools/bin"
mkdir -p "$bin"

fail() {
    echo "install-ops-tools: $*" >&2
    exit 1
}

if [ "$("$bin/kustomize" version 2>/dev/null || true)" != "$KUSTOMIZE_VERSION" ]; then
    command -v go >/dev/null || fail "building kustomize needs Go 1.22 or newer on PATH."
    echo "install-ops-tools: building kustomize $KUSTOMIZE_VERSION (go install, about a minute)"
    GOTOOLCHAIN=local GOBIN="$bin" go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
fi

if [ ! -x "$bin/promtool" ] || [ ! -x "$bin/prometheus" ]; then
    if ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then
        fail "promtool and prometheus come from Debian's prometheus package: put both on PATH instead."
    fi
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    echo "install-ops-tools: fetching Debian's prometheus package (promtool, prometheus)"
    if ! (cd "$work" && apt-get download -qq prometheus 2>/dev/null); then
        apt-get update -qq || fail "apt-get update failed (it needs root)."
        (cd "$work" && apt-get download -qq prometheus) || fail "apt-get download prometheus failed."
    fi
    dpkg-deb -x "$work"/prometheus_*.deb "$work/unpacked"
    install -m 0755 "$work/unpacked/usr/bin/promtool" "$work/unpacked/usr/bin/prometheus" "$bin/"
fi

echo "install-ops-tools: kustomize $("$bin/kustomize" version)," \
    "$("$bin/promtool" --version 2>&1 | head -n 1) in $bin"
