"""What the operations tests share: where deploy/ is, its tools, kubeconform's schemas, and a
topic of their own.

kustomize, helm, kubeconform, promtool and prometheus come from `make ops-tools` (into
.cache/ops-tools/bin, the CRDs into .cache/ops-tools/crds); hadolint and kubernetes-validate
from the test extra. A missing tool fails its test with one sentence naming the make target:
nothing here is skipped.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from devkit import harness

ROOT = Path(__file__).resolve().parent.parent.parent
DEPLOY = ROOT / "deploy"
TOOLS = Path(os.environ.get("MIK_CACHE_DIR", ROOT / ".cache")) / "ops-tools" / "bin"
RULES = DEPLOY / "prometheus" / "rules.yml"
METRIC = re.compile(r"\bmovableink_consumer_[a-z0-9_]+")
CONFIG_DIR = "/etc/movableink-consumer"
# The oldest Kubernetes the manifests support and the newest kubernetes-validate knows, as x.y.z.
K8S_VERSIONS = tuple(
    v if v.count(".") == 2 else f"{v}.0"
    for v in ("1.27", kubernetes_validate.utils.latest_version())
)


def tool(name: str, target: str = "ops-tools") -> str:
    """A tool's path: .cache/ops-tools/bin, then the venv's bin, then PATH."""
    for found in (TOOLS / name, Path(sys.executable).with_name(name), shutil.which(name)):
        if found and os.access(found, os.X_OK):
            return str(found)
    pytest.fail(f"{name} is missing: `make {target}` installs it.", pytrace=False)


def run(*args: str, timeout: float = 60) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}{done.stderr}"
    return done.stdout


def create_topic(bootstrap: str, partitions: int) -> str:
    """A topic of the operations tests' own (module-scoped fixtures cannot use `new_topic`)."""
    return harness.create_topic(bootstrap, f"ops-{uuid.uuid4().hex[:10]}", partitions)


# -- kubeconform --------------------------------------------------------------------------------


def _strict(node: Any) -> Any:
    """A CRD's OpenAPI schema as kubeconform wants it: unknown fields refused, int-or-string."""
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _strict(value) for key, value in node.items()}
    if out.pop("x-kubernetes-int-or-string", False):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def schema_locations(cache: Path) -> list[str]:
    """kubeconform's -schema-location values, written under `cache` once per session.

    Kubernetes: kubernetes-validate's schemas, made standalone (its `$id`s and `/api/` refs point
    to kubernetes.io). CRDs: the definitions `make ops-tools` fetched, one file per version.
    """
    k8s = cache / "kubernetes"
    if not k8s.exists():
        source = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
        for version in K8S_VERSIONS:
            target = k8s / f"v{version}-standalone-strict"
            target.mkdir(parents=True)
            for schema in (source / f"v{version}-local-strict").glob("*.json"):
                doc = json.loads(schema.read_text())
                doc.pop("$id", None)
                text = json.dumps(doc).replace('"/api/_definitions.json#', '"_definitions.json#')
                (target / schema.name).write_text(text)
    crds = sorted(TOOLS.parent.glob("crds/*/*.yaml"))
    if not crds:
        pytest.fail("The CRDs are missing: `make ops-tools` fetches them.", pytrace=False)
    for path in crds:
        crd = yaml.safe_load(path.read_text())
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"].lower()
        for version in crd["spec"]["versions"]:
            target = cache / "crds" / group / f"{kind}_{version['name']}.json"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(_strict(version["schema"]["openAPIV3Schema"])))
    return [
        f"{k8s}/{{{{ .NormalizedKubernetesVersion }}}}-standalone{{{{ .StrictSuffix }}}}/"
        "{{ .ResourceKind }}{{ .KindSuffix }}.json",
        f"{cache}/crds/{{{{ .Group }}}}/{{{{ .ResourceKind }}}}_{{{{ .ResourceAPIVersion }}}}.json",
    ]


def kubeconform(manifests: str, cache: Path) -> str:
    """Validate rendered manifests, strictly, for each Kubernetes version; its summary lines.

    A kind with no schema fails too (no -ignore-missing-schemas)."""
    locations = [arg for loc in schema_locations(cache) for arg in ("-schema-location", loc)]
    (cache / "manifests.yaml").write_text(manifests)
    summaries = []
    for version in K8S_VERSIONS:
        args = ["-strict", "-summary", "-kubernetes-version", version, *locations]
        out = run(tool("kubeconform"), *args, str(cache / "manifests.yaml"))
        summaries.append(f"Kubernetes {version}: {out.strip()}")
    return "\n".join(summaries)
