#!/usr/bin/env bash
# The tools of tests/integration/test_kubernetes.py, test_helm.py and test_observability.py,
# into ${MIK_CACHE_DIR:-.cache}/ops-tools/ (git-ignored; `make ops-tools` runs this, and
# `make test` runs that first):
#   bin/kustomize, bin/helm, bin/kubeconform
#                        built from source with `go install` at pinned versions;
#   bin/promtool, bin/prometheus
#                        from Debian's `prometheus` package, unpacked there, not installed
#                        (no service is started, nothing is written outside the cache);
#   crds/                the CustomResourceDefinitions the manifests use (KEDA's ScaledObject and
#                        TriggerAuthentication, prometheus-operator's ServiceMonitor and
#                        PrometheusRule), copied from those projects' Go modules at pinned
#                        versions (`go mod download`), for kubeconform.
# A tool already in place is left alone, so only a new machine downloads anything.
set -euo pipefail

KUSTOMIZE_VERSION=v5.8.1
HELM_VERSION=v3.19.0
KUBECONFORM_VERSION=v0.8.0
KEDA_VERSION=v2.16.1
PROMETHEUS_OPERATOR_VERSION=v0.85.0

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tools="${MIK_CACHE_DIR:-$root/.cache}/ops-tools"
bin="$tools/bin"
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

# Built with `go install`, helm and kubeconform do not know their own versions (and helm's
# `helm template` assumes Kubernetes v1.20: the tests pass --kube-version), so a stamp beside
# each binary records the version built.
go_install() {  # name, version, package
    if [ -x "$bin/$1" ] && [ "$(cat "$bin/.$1.version" 2>/dev/null)" = "$2" ]; then
        return
    fi
    command -v go >/dev/null || fail "building $1 needs Go 1.24 or newer on PATH."
    echo "install-ops-tools: building $1 $2 (go install, a few minutes)"
    GOTOOLCHAIN=local GOBIN="$bin" go install "$3@$2"
    echo "$2" >"$bin/.$1.version"
}
go_install helm "$HELM_VERSION" helm.sh/helm/v3/cmd/helm
go_install kubeconform "$KUBECONFORM_VERSION" github.com/yannh/kubeconform/cmd/kubeconform

crds="$tools/crds/keda-$KEDA_VERSION-prometheus-operator-$PROMETHEUS_OPERATOR_VERSION"
if [ ! -d "$crds" ]; then
    command -v go >/dev/null || fail "fetching the CRDs needs Go on PATH (go mod download)."
    module_dir() {  # module@version -> its folder in the Go module cache
        local empty dir
        empty="$(mktemp -d)"  # outside any go.mod
        dir="$(cd "$empty" && GOTOOLCHAIN=local go mod download -json "$1" |
            sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
        rmdir "$empty"
        echo "$dir"
    }
    echo "install-ops-tools: fetching the KEDA and prometheus-operator CRDs (go mod download)"
    keda="$(module_dir "github.com/kedacore/keda/v2@$KEDA_VERSION")"
    operator="$(module_dir "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION")"
    [ -n "$keda" ] && [ -n "$operator" ] || fail "go mod download found no module folder."
    rm -rf "$tools/crds"  # only one version's CRDs: the tests read every file there
    mkdir -p "$crds.partial"
    cp "$keda"/config/crd/bases/keda.sh_{scaledobjects,triggerauthentications}.yaml \
        "$operator"/example/prometheus-operator-crd/monitoring.coreos.com_{servicemonitors,prometheusrules}.yaml \
        "$crds.partial/"
    chmod 0644 "$crds.partial"/*.yaml
    mv "$crds.partial" "$crds"
fi

if [ ! -x "$bin/promtool" ] || [ ! -x "$bin/prometheus" ]; then
    if ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then
        fail "promtool and prometheus come from Debian's prometheus package: put both on PATH instead."
    fi
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    "$(dirname "${BASH_SOURCE[0]}")/debian-package.sh" prometheus "$work/unpacked" install-ops-tools
    install -m 0755 "$work/unpacked/usr/bin/promtool" "$work/unpacked/usr/bin/prometheus" "$bin/"
fi

echo "install-ops-tools: kustomize $("$bin/kustomize" version)," \
    "helm $HELM_VERSION, kubeconform $KUBECONFORM_VERSION," \
    "$("$bin/promtool" --version 2>&1 | head -n 1) in $bin; CRDs in $crds"
