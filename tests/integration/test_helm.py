"""The Helm chart: it lints, renders for each value set into manifests kubeconform accepts
(Kubernetes and the KEDA and prometheus-operator CRDs), derives its KEDA triggers and grace
period from the one configuration in values, and renders what the kustomize base renders."""

from __future__ import annotations

import math
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from consumer.config import parse_duration, parse_settings
from tests.integration.ops import CONFIG_DIR, DEPLOY, K8S_VERSIONS, RULES, kubeconform, run, tool
from tests.integration.test_kubernetes import OVERLAYS, build

CHART = DEPLOY / "helm" / "movableink-consumer"
VALUE_SETS = {"default": None, **{p.stem: p for p in sorted((CHART / "ci").glob("*.yaml"))}}
RELEASE = "movableink-consumer"


def template(values: Path | None, *sets: str) -> str:
    args = [tool("helm"), "template", RELEASE, str(CHART), "--kube-version", K8S_VERSIONS[0]]
    args += ["--values", str(values)] if values else []
    args += [arg for s in sets for arg in ("--set", s)]
    return run(*args)


def docs(values: Path | None, *sets: str) -> dict[str, list[dict[str, Any]]]:
    """The rendered objects by kind."""
    kinds: dict[str, list[dict[str, Any]]] = {}
    for doc in yaml.safe_load_all(template(values, *sets)):
        if doc:
            kinds.setdefault(doc["kind"], []).append(doc)
    return kinds


def settings_of(config_map: dict[str, Any]) -> Any:
    text = config_map["data"]["config.toml"]
    return parse_settings(
        tomllib.loads(text),
        {
            "MOVABLEINK_USERNAME": "u",
            "MOVABLEINK_PASSWORD": "p",
            "KAFKA_SASL_USERNAME": "u",
            "KAFKA_SASL_PASSWORD": "p",
        },
    )


@pytest.fixture(scope="module")
def schemas(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("schemas")


@pytest.mark.parametrize("name", VALUE_SETS)
def test_the_chart_lints_and_renders_manifests_kubeconform_accepts(
    name: str, schemas: Path
) -> None:
    values = VALUE_SETS[name]
    run(
        tool("helm"), "lint", "--strict", str(CHART), *(["--values", str(values)] if values else [])
    )
    summary = kubeconform(template(values), schemas)
    assert "Invalid: 0, Errors: 0, Skipped: 0" in summary, summary


def test_kubeconform_rejects_an_unknown_field_of_a_custom_resource(schemas: Path) -> None:
    broken = template(None).replace("  pollingInterval: 30\n", "  pollingIntervall: 30\n")
    with pytest.raises(AssertionError, match="pollingIntervall"):
        kubeconform(broken, schemas)


def test_every_topic_gets_a_keda_trigger_from_the_one_configuration() -> None:
    kinds = docs(VALUE_SETS["sasl-topics-values"])
    settings = settings_of(kinds["ConfigMap"][0])
    ((scaled,), (auth,)) = kinds["ScaledObject"], kinds["TriggerAuthentication"]
    triggers = scaled["spec"]["triggers"]
    assert [t["metadata"]["topic"] for t in triggers] == list(settings.kafka.topics)
    for trigger in triggers:
        meta = trigger["metadata"]
        assert meta["bootstrapServers"] == settings.kafka.bootstrap_servers
        assert meta["consumerGroup"] == settings.kafka.group_id == "movableink-eu"
        assert (meta["sasl"], meta["tls"]) == ("scram_sha512", "enable")
        assert trigger["authenticationRef"] == {"name": auth["metadata"]["name"]}
    assert {r["name"] for r in auth["spec"]["secretTargetRef"]} == {"movableink-from-vault"}
    (deployment,) = kinds["Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    assert "Secret" not in kinds  # existingSecret: the chart makes none
    refs = {
        e["valueFrom"]["secretKeyRef"]["name"]
        for e in pod["containers"][0]["env"]
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    assert refs == {"movableink-from-vault"}
    # terminationGracePeriodSeconds follows [delivery] shutdown_grace (1m) plus the margin.
    assert pod["terminationGracePeriodSeconds"] == math.ceil(parse_duration("1m", "")) + 5 == 65
    egress = {
        p["port"]
        for rule in pod and kinds["NetworkPolicy"][0]["spec"]["egress"]
        for p in rule["ports"]
    }
    assert 9096 in egress  # the bootstrap servers' port
    (monitor,) = kinds["ServiceMonitor"]
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"


def test_digest_zones_and_the_hpa_alternative() -> None:
    kinds = docs(VALUE_SETS["hpa-digest-zones-values"])
    assert "ScaledObject" not in kinds
    (deployment,) = kinds["Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"].endswith("/movableink-consumer@sha256:" + "0123456789abcdef" * 4)
    keys = [c["topologyKey"] for c in pod["topologySpreadConstraints"]]
    assert keys == ["kubernetes.io/hostname", "topology.kubernetes.io/zone"]
    assert "MIK__KAFKA__GROUP_INSTANCE_ID" not in {e["name"] for e in container["env"]}
    (hpa,) = kinds["HorizontalPodAutoscaler"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert "replicas" not in deployment["spec"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("autoscaling.hpa.enabled=true", "autoscaling.keda.enabled and autoscaling.hpa.enabled"),
        ("autoscaling.keda.enable=true", "additional properties 'enable' not allowed"),
        (
            "config.delivery.shutdown_grace=soon",
            "config.delivery.shutdown_grace must be a duration",
        ),
        ("replay.enabled=true", "replay.args must name at least the topic"),
    ],
)
def test_wrong_values_are_refused_with_one_sentence(value: str, message: str) -> None:
    args = [tool("helm"), "template", RELEASE, str(CHART), "--kube-version", K8S_VERSIONS[0]]
    done = subprocess.run([*args, "--set", value], capture_output=True, text=True, check=False)
    assert done.returncode != 0
    assert message in done.stderr


def test_the_replay_job_runs_replay_with_the_consumers_configuration_and_secrets() -> None:
    kinds = docs(VALUE_SETS["replay-values"])
    (job,) = kinds["Job"]
    (deployment,) = kinds["Deployment"]
    assert deployment["spec"]["replicas"] == 3
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"] == [
        "replay",
        "--config",
        f"{CONFIG_DIR}/config.toml",
        "--topic",
        "segment-events.dlq",
        "--since",
        "2026-11-29T00:00:00Z",
    ]
    assert pod["restartPolicy"] == "Never" and job["spec"]["backoffLimit"] == 0
    consumer = deployment["spec"]["template"]["spec"]
    assert pod["volumes"] == consumer["volumes"]
    assert container["volumeMounts"] == consumer["containers"][0]["volumeMounts"]
    assert container["securityContext"] == consumer["containers"][0]["securityContext"]
    static = {"MIK__KAFKA__GROUP_INSTANCE_ID"}
    assert [e for e in container["env"] if e["name"] not in static] == [
        e for e in consumer["containers"][0]["env"] if e["name"] not in static
    ]
    # The Job's pods are under the NetworkPolicy, not behind the scraped Service or the PDB.
    labels = job["spec"]["template"]["metadata"]["labels"]
    (policy,) = kinds["NetworkPolicy"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
    (service,) = kinds["Service"]
    assert not service["spec"]["selector"].items() <= labels.items()
    assert {"ServiceMonitor", "PrometheusRule", "ScaledObject"}.isdisjoint(kinds)


def test_static_membership_names_each_pod_its_group_instance() -> None:
    (deployment,) = docs(None)["Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    (env,) = [e for e in container["env"] if e["name"] == "MIK__KAFKA__GROUP_INSTANCE_ID"]
    assert env["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}


# -- the chart and the kustomize base render the same objects --------------------------------


def normalized(doc: dict[str, Any]) -> Any:
    """An object without what the two tools name or label differently by design."""

    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            dropped = {"labels", "matchLabels", "annotations", "selector", "labelSelector"}
            return {k: strip(v) for k, v in node.items() if k not in dropped}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    body = strip({k: v for k, v in doc.items() if k != "metadata"})
    if doc["kind"] == "ConfigMap":
        body["data"] = tomllib.loads(body["data"]["config.toml"])
    if doc["kind"] == "Deployment":
        for volume in body["spec"]["template"]["spec"]["volumes"]:
            volume["configMap"]["name"] = "config"  # kustomize appends a content hash
    return body


def test_the_chart_renders_what_the_kustomize_base_renders() -> None:
    chart = {(d["kind"], d["metadata"]["name"]): d for ds in docs(None).values() for d in ds}
    base = {(d["kind"], d["metadata"]["name"]): d for d in build(OVERLAYS["base"])}
    config = [k for k in base if k[0] == "ConfigMap"]
    base[("ConfigMap", "movableink-consumer-config")] = base.pop(config[0])
    chart.pop(("Secret", "movableink-consumer-credentials"))  # the base leaves it to overlays
    assert sorted(chart) == sorted(base)
    for key, doc in chart.items():
        assert normalized(doc) == normalized(base[key]), (
            f"{key}: the chart and deploy/k8s/base differ"
        )


def test_the_charts_rules_are_deploy_prometheus_rules() -> None:
    assert (CHART / "files" / "rules.yml").read_text() == RULES.read_text()


@pytest.mark.parametrize(
    ("sets", "gate"),
    [
        ((), "observe"),  # KEDA, up to 6 replicas
        (("autoscaling.keda.enabled=false", "replicaCount=1"), "off"),
        (("autoscaling.keda.enabled=false", "replicaCount=3"), "observe"),
        (("autoscaling.keda.enabled=false", "autoscaling.hpa.enabled=true"), "observe"),
        (("config.ordering.gate=enforce",), "enforce"),
    ],
)
def test_the_identity_gate_observes_when_several_replicas_may_run(
    sets: tuple[str, ...], gate: str
) -> None:
    (config_map,) = docs(None, *sets)["ConfigMap"]
    assert settings_of(config_map).ordering.gate == gate
