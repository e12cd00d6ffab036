"""kustomize renders the base and the example overlay, which validate against the Kubernetes
schemas (kubernetes-validate, and kubeconform with the KEDA and prometheus-operator CRDs) and refer
to each other consistently."""

from __future__ import annotations

import re
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from consumer.config import parse_settings

try:
    import kubernetes_validate
    import yaml
except ImportError as exc:  # pragma: no cover - the test extra installs both
    raise ImportError(f"{exc.name} is missing: `make venv` installs it (the test extra).") from exc
from tests.integration.ops import CONFIG_DIR, DEPLOY, K8S_VERSIONS, RULES, kubeconform, run, tool

CRD_KINDS = {"ServiceMonitor", "PrometheusRule", "ScaledObject", "TriggerAuthentication"}


def build(path: Path) -> list[dict[str, Any]]:
    rendered = run(tool("kustomize"), "build", str(path))
    return [doc for doc in yaml.safe_load_all(rendered) if doc]


def validate(doc: dict[str, Any]) -> None:
    """Built-in kinds against the Kubernetes schemas (strict: unknown fields fail)."""
    if doc["kind"] in CRD_KINDS:
        return  # kubeconform checks them against the CRDs
    for version in K8S_VERSIONS:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(p) for p in exc.path)
            pytest.fail(
                f"{doc['kind']}/{doc['metadata']['name']} on {version}: {where}: {exc.message}"
            )


OVERLAYS = {"base": DEPLOY / "k8s" / "base", "example": DEPLOY / "k8s" / "overlays" / "example"}


@pytest.mark.parametrize("name", OVERLAYS)
def test_kustomize_renders_manifests_that_validate(name: str, tmp_path: Path) -> None:
    rendered = run(tool("kustomize"), "build", str(OVERLAYS[name]))
    summary = kubeconform(rendered, tmp_path)
    assert "Invalid: 0, Errors: 0, Skipped: 0" in summary, summary
    docs = build(OVERLAYS[name])
    kinds = {d["kind"] for d in docs}
    expected = {"Deployment", "Service", "ConfigMap", "PodDisruptionBudget", "NetworkPolicy"}
    assert expected | {"ServiceMonitor", "PrometheusRule", "ScaledObject"} <= kinds
    for doc in docs:
        validate(doc)
    if name == "example":
        assert {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"} == {
            "movableink"
        }


def test_the_schema_validation_rejects_an_unknown_field() -> None:
    (deployment,) = [d for d in build(OVERLAYS["base"]) if d["kind"] == "Deployment"]
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError, match="imagePullPolicyy"):
        kubernetes_validate.validate(deployment, K8S_VERSIONS[0], strict=True)


def test_the_hpa_alternative_validates() -> None:
    (hpa,) = yaml.safe_load_all((DEPLOY / "k8s" / "hpa-alternative.yaml").read_text())
    validate(hpa)
    (deployment,) = [d for d in build(OVERLAYS["base"]) if d["kind"] == "Deployment"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]


def subset(small: dict[str, str], big: dict[str, str]) -> bool:
    return small.items() <= big.items()


@pytest.mark.parametrize("name", OVERLAYS)
def test_manifests_refer_to_each_other(name: str) -> None:
    docs = build(OVERLAYS[name])

    def of(kind: str) -> list[dict[str, Any]]:
        return [d for d in docs if d["kind"] == kind]

    (deployment,) = of("Deployment")
    pod = deployment["spec"]["template"]
    labels = pod["metadata"]["labels"]
    assert subset(deployment["spec"]["selector"]["matchLabels"], labels)
    (container,) = pod["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"metrics": 9464}

    # The image's contract: config path, user, and the status server's endpoints.
    assert container["args"] == ["run", "--config", f"{CONFIG_DIR}/config.toml"]
    assert pod["spec"]["securityContext"]["runAsUser"] == 10001
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert pod["spec"]["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        assert container[probe]["httpGet"] == {"path": path, "port": "metrics"}
    assert container["resources"]["limits"]["memory"] and container["resources"]["requests"]["cpu"]

    # The configuration: mounted from the ConfigMap, loadable with the env the pod gets.
    (mount,) = container["volumeMounts"]
    assert mount["mountPath"] == CONFIG_DIR
    (volume,) = [v for v in pod["spec"]["volumes"] if v["name"] == mount["name"]]
    (config_map,) = [
        c for c in of("ConfigMap") if c["metadata"]["name"] == volume["configMap"]["name"]
    ]
    env = {e["name"]: "placeholder" for e in container["env"]}
    secret_env = [e for e in container["env"] if "secretKeyRef" in e["valueFrom"]]
    settings = parse_settings(tomllib.loads(config_map["data"]["config.toml"]), env)
    assert settings.metrics.port == ports["metrics"]
    assert pod["spec"]["terminationGracePeriodSeconds"] >= settings.delivery.shutdown_grace + 5

    # Static membership: the pod's name is the group instance id (downward API).
    by_name = {e["name"]: e for e in container["env"]}
    instance_id = by_name["MIK__KAFKA__GROUP_INSTANCE_ID"]["valueFrom"]
    assert instance_id == {"fieldRef": {"fieldPath": "metadata.name"}}

    # Secrets: every key the pod (and KEDA) reads exists when the Secret is part of the build.
    wanted = {
        (e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
        for e in secret_env
    }
    for auth in of("TriggerAuthentication"):
        wanted |= {(r["name"], r["key"]) for r in auth["spec"]["secretTargetRef"]}
    secrets = {s["metadata"]["name"]: s["data"] for s in of("Secret")}
    if name == "example":
        assert {(n, k) for n, k in wanted if k not in secrets.get(n, {})} == set()

    # Scraping and policy select the pods, on the metrics port.
    (service,) = of("Service")
    assert subset(service["spec"]["selector"], labels)
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["metrics"]
    (monitor,) = of("ServiceMonitor")
    assert subset(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == [
        service["spec"]["ports"][0]["name"]
    ]
    (budget,) = of("PodDisruptionBudget")
    assert subset(budget["spec"]["selector"]["matchLabels"], labels)
    (policy,) = of("NetworkPolicy")
    assert subset(policy["spec"]["podSelector"]["matchLabels"], labels)
    assert [p["port"] for p in policy["spec"]["ingress"][0]["ports"]] == ["metrics"]
    egress = {p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"]}
    assert {53, 443} <= egress
    assert {int(s.rsplit(":", 1)[1]) for s in settings.kafka.bootstrap_servers.split(",")} <= egress

    # KEDA scales this Deployment on this consumer group's lag.
    (scaled,) = of("ScaledObject")
    assert scaled["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert scaled["spec"]["minReplicaCount"] >= 1
    triggers = scaled["spec"]["triggers"]
    # One trigger per topic of config.toml: KEDA scales on the laggiest.
    assert sorted(t["metadata"]["topic"] for t in triggers) == sorted(settings.kafka.topics)
    for trigger in triggers:
        assert trigger["type"] == "kafka"
        assert trigger["metadata"]["bootstrapServers"] == settings.kafka.bootstrap_servers
        assert trigger["metadata"]["consumerGroup"] == settings.kafka.group_id
        assert all(isinstance(v, str) for v in trigger["metadata"].values())
        if "authenticationRef" in trigger:
            names = {a["metadata"]["name"] for a in of("TriggerAuthentication")}
            assert trigger["authenticationRef"]["name"] in names

    (rule,) = of("PrometheusRule")
    assert rule["spec"] == yaml.safe_load(RULES.read_text())


def test_the_example_overlay_kafka_settings_are_accepted_by_librdkafka() -> None:
    """The SASL_SSL example's pass-through properties, given to the real client library."""
    from consumer.shell.kafka.client import Producer

    (config_map,) = [
        d
        for d in build(OVERLAYS["example"])
        if d["kind"] == "ConfigMap" and "config.toml" in d.get("data", {})
    ]
    env = {n: "placeholder" for n in re.findall(r"\$\{(\w+)\}", config_map["data"]["config.toml"])}
    settings = parse_settings(tomllib.loads(config_map["data"]["config.toml"]), env)
    assert settings.kafka.properties["security.protocol"] == "SASL_SSL"
    # Construction checks every property (name and value); nothing is sent anywhere.
    Producer(replace(settings.kafka, bootstrap_servers="127.0.0.1:9"))
