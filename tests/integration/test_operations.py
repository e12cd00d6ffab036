"""The operations artifacts of deploy/, checked against the real thing where there is one.

A real consumer (session broker, Movable Ink stand-in) must export every series the Grafana
dashboard and the alerts use; a real Prometheus scrapes it, answers every dashboard query and
evaluates every rule; promtool checks and unit-tests the rules; kustomize renders the base and
the example overlay, which validate against the Kubernetes schemas and refer to each other
consistently; hadolint lints the Dockerfile.

kustomize, promtool and prometheus come from `make ops-tools` (into .cache/ops-tools/bin);
hadolint and kubernetes-validate from the test extra. A missing tool fails its test with one
sentence naming the make target: nothing here is skipped.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tomllib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from standin import Faults, Rule, StandIn

from consumer.config import parse_settings
from tests.pipeline import PASSWORD, USERNAME, ConsumerProcess, produce, wait_for, write_config

try:
    import kubernetes_validate
    import yaml
except ImportError as exc:  # pragma: no cover - the test extra installs both
    raise ImportError(f"{exc.name} is missing: `make venv` installs it (the test extra).") from exc

ROOT = Path(__file__).resolve().parent.parent.parent
DEPLOY = ROOT / "deploy"
TOOLS = Path(os.environ.get("MIK_CACHE_DIR", ROOT / ".cache")) / "ops-tools" / "bin"
DASHBOARD = DEPLOY / "grafana" / "movableink-consumer.json"
RULES = DEPLOY / "prometheus" / "rules.yml"
METRIC = re.compile(r"\bmovableink_consumer_[a-z0-9_]+")
K8S_VERSIONS = ("1.27", kubernetes_validate.utils.latest_version())
CRD_KINDS = {"ServiceMonitor", "PrometheusRule", "ScaledObject", "TriggerAuthentication"}
CONFIG_DIR = "/etc/movableink-consumer"


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# -- what the dashboard and the rules ask of Prometheus ------------------------------------


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def panels() -> list[dict[str, Any]]:
    return [p for p in dashboard()["panels"] if p["type"] != "row"]


def dashboard_queries() -> dict[str, str]:
    """Each panel query (`title #refId` -> PromQL) and each variable's selector."""
    queries = {f"{p['title']} #{t['refId']}": t["expr"] for p in panels() for t in p["targets"]}
    for var in dashboard()["templating"]["list"]:
        if var["type"] == "query":
            inner = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", var["definition"])
            assert inner, f"variable {var['name']}: expected label_values(selector, label)"
            queries[f"${var['name']}"] = inner.group(1)
    return queries


def grafana_to_promql(expr: str) -> str:
    """What Grafana sends for 'All' of each variable."""
    values = {"$__rate_interval": "10s", "$job": ".*", "$destination": ".*"}
    return re.sub(r"\$\w+", lambda m: values[m.group(0)], expr)


def rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def used_series() -> set[str]:
    exprs = [*dashboard_queries().values(), *(r["expr"] for r in rules())]
    return {name for expr in exprs for name in METRIC.findall(expr)}


# -- a live consumer ------------------------------------------------------------------------


@dataclass
class Live:
    bootstrap: str
    topic: str
    port: int
    process: ConsumerProcess

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def scrape(self) -> dict[str, float]:
        """Every sample of /metrics: `name{labels}` -> value (labels sorted)."""
        text = httpx.get(f"{self.base}/metrics", timeout=5).text
        return {
            f"{s.name}{json.dumps(s.labels, sort_keys=True)}": s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }


def total(samples: dict[str, float], name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels`."""
    prefix = f"movableink_consumer_{name}{{"
    return sum(
        value
        for key, value in samples.items()
        if key.startswith(prefix) and labels.items() <= json.loads(key[len(prefix) - 1 :]).items()
    )


def people(stem: str, count: int) -> list[dict[str, Any]]:
    """For each person: an anonymous page, an identify joining the ids, a track."""
    now = datetime.now(UTC).isoformat()
    events = []
    for i in range(count):
        anon, user = f"anon-{stem}-{i}", f"user-{stem}-{i}"
        events += [
            {"type": "page", "messageId": f"{stem}-{i}-page", "anonymousId": anon},
            {
                "type": "identify",
                "messageId": f"{stem}-{i}-id",
                "anonymousId": anon,
                "userId": user,
            },
            {"type": "track", "messageId": f"{stem}-{i}-tr", "userId": user, "event": "Clicked"},
        ]
    return [{**event, "timestamp": now} for event in events]


def create_topic(bootstrap: str, partitions: int) -> str:
    from confluent_kafka.admin import AdminClient, NewTopic

    topic = f"ops-{uuid.uuid4().hex[:10]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})  # alive until the topic exists
    futures = admin.create_topics([NewTopic(topic, partitions, 1)], operation_timeout=30)
    futures[topic].result(timeout=30)
    return topic


def start_consumer(config: Path, log: Path) -> tuple[ConsumerProcess, int]:
    """The consumer with its status server on a free loopback port (MIK__ overrides)."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MIK__METRICS__HOST", "127.0.0.1")
        env.setenv("MIK__METRICS__PORT", "0")
        process = ConsumerProcess(config, log)
    found: list[int] = []

    def listening() -> bool:
        assert process.proc.poll() is None, f"the consumer exited:\n{process.logs()}"
        for line in process.logs().splitlines():
            if '"status server listening"' in line:
                found.append(json.loads(line)["port"])
                return True
        return False

    wait_for(listening, 30, "the status server")
    return process, found[0]


@pytest.fixture(scope="module")
def live(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """A consumer that has delivered, retried, filtered and dead-lettered events."""
    tmp = tmp_path_factory.mktemp("ops")
    topic = create_topic(kafka_bootstrap, 2)
    faults = Faults(
        rules=(
            Rule(match={"messageId": "ops-retried"}, status=503, times=1),
            Rule(match={"messageId": "ops-rejected"}, status=400),
        )
    )
    with StandIn(USERNAME, PASSWORD, faults=faults) as standin:
        config = write_config(
            tmp / "config.toml",
            bootstrap=kafka_bootstrap,
            topic=topic,
            group=f"ops-{uuid.uuid4().hex[:10]}",
            url=standin.url,
        )
        process, port = start_consumer(config, tmp / "consumer.log")
        live = Live(kafka_bootstrap, topic, port, process)
        try:
            track = {"type": "track", "userId": "u-ops", "event": "Clicked"}
            produce(
                kafka_bootstrap,
                topic,
                [
                    *people("first", 3),
                    {**track, "messageId": "ops-retried"},
                    {**track, "messageId": "ops-rejected"},
                    {**track, "messageId": "ops-filtered", "integrations": {"All": False}},
                    b"not a Segment message",
                ],
            )

            def settled() -> bool:
                samples = live.scrape()
                return (
                    total(samples, "events_total", outcome="delivered") >= 10
                    and total(samples, "events_total", outcome="dead_lettered") >= 2
                    and total(samples, "events_total", outcome="filtered") >= 1
                    and total(samples, "retries_total") >= 1
                    and any(k.startswith("movableink_consumer_lag_messages{") for k in samples)
                )

            wait_for(settled, 60, "every kind of outcome, and the lag of assigned partitions")
            yield live
        finally:
            process.stop()


def test_the_consumer_exports_every_series_the_dashboard_and_alerts_use(live: Live) -> None:
    exported = {key.partition("{")[0] for key in live.scrape()}
    used = used_series()
    assert used - exported == set(), f"used but not exported: {sorted(used - exported)}"
    # And the other way round: every family is shown or alerted on, but the committed offsets
    # (lag already says what they would).
    families = {
        re.sub(r"_(total|bucket|sum|count|created)$", "", name)
        for name in exported
        if METRIC.match(name)
    }
    shown = {re.sub(r"_(total|bucket)$", "", name) for name in used}
    missing = families - shown - {"movableink_consumer_committed_offset"}
    assert missing == set(), f"add a panel to {DASHBOARD.relative_to(ROOT)} for {sorted(missing)}"


def test_healthz_and_readyz_answer_200_once_joined(live: Live) -> None:
    assert httpx.get(f"{live.base}/healthz", timeout=5).status_code == 200

    def ready() -> bool:
        return httpx.get(f"{live.base}/readyz", timeout=5).status_code == 200

    wait_for(ready, 30, "/readyz to answer 200")


# -- Prometheus ------------------------------------------------------------------------------


def test_promtool_checks_and_unit_tests_the_rules_and_the_prometheusrule_matches() -> None:
    promtool = tool("promtool")
    run(promtool, "check", "rules", str(RULES))
    run(promtool, "test", "rules", str(DEPLOY / "prometheus" / "rules_test.yml"))
    operator = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yaml").read_text())
    assert operator["kind"] == "PrometheusRule"
    assert operator["spec"] == yaml.safe_load(RULES.read_text()), (
        "deploy/prometheus/alerts.yaml's spec must be exactly deploy/prometheus/rules.yml"
    )
    for rule in rules():
        assert {"summary", "description", "runbook"} <= set(rule["annotations"]), rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]


@pytest.fixture
def prometheus(live: Live, tmp_path: Path) -> Iterator[str]:
    """A real Prometheus scraping the live consumer every second, with the alerting rules."""
    binary = tool("prometheus")
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [
            {
                "job_name": "movableink-consumer",
                "static_configs": [{"targets": [f"127.0.0.1:{live.port}"]}],
            }
        ],
    }
    (tmp_path / "prometheus.yml").write_text(json.dumps(config))
    port = free_port()
    with (tmp_path / "prometheus.log").open("wb") as log:
        server = subprocess.Popen(
            [
                binary,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:

        def ready() -> bool:
            assert server.poll() is None, (tmp_path / "prometheus.log").read_text()
            try:
                return httpx.get(f"{url}/-/ready", timeout=5).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(ready, 30, "Prometheus to be ready")
        wait_for(
            lambda: query(url, 'up{job="movableink-consumer"} == 1') != [],
            30,
            "Prometheus to scrape the consumer",
        )
        yield url
    finally:
        server.terminate()
        server.wait(15)


def query(url: str, promql: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{url}/api/v1/query", params={"query": promql}, timeout=10).json()
    assert answer["status"] == "success", f"{promql}\n{answer}"
    result: list[dict[str, Any]] = answer["data"]["result"]
    return result


def test_prometheus_answers_every_dashboard_query_and_evaluates_every_rule(
    live: Live, prometheus: str
) -> None:
    produce(live.bootstrap, live.topic, people("second", 4))
    queries = {title: grafana_to_promql(expr) for title, expr in dashboard_queries().items()}
    throughput = queries["Events by outcome #A"]
    lag = queries["Lag by partition #A"]

    def delivering() -> bool:
        rates = {
            r["metric"].get("outcome"): float(r["value"][1]) for r in query(prometheus, throughput)
        }
        return rates.get("delivered", 0) > 0

    wait_for(delivering, 30, "a delivered rate above zero in Prometheus")
    assert {r["metric"]["partition"] for r in query(prometheus, lag)} == {"0", "1"}

    empty: list[str] = []

    def all_answer() -> bool:
        empty[:] = [title for title, promql in queries.items() if not query(prometheus, promql)]
        return not empty

    try:
        wait_for(all_answer, 20, "data for every dashboard query")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; no data for {empty}") from None

    def evaluated() -> list[dict[str, Any]]:
        answer = httpx.get(f"{prometheus}/api/v1/rules", timeout=10).json()
        return [r for g in answer["data"]["groups"] for r in g["rules"]]

    wait_for(lambda: all(r["health"] != "unknown" for r in evaluated()), 20, "every rule evaluated")
    failing = {r["name"]: r.get("lastError") for r in evaluated() if r["health"] != "ok"}
    assert failing == {}
    assert len(evaluated()) == len(rules())


def test_the_dashboard_is_importable_and_has_every_row() -> None:
    board = dashboard()
    assert [i["name"] for i in board["__inputs"]] == ["DS_PROMETHEUS"]
    names = {v["name"] for v in board["templating"]["list"]}
    assert {"DS_PROMETHEUS", "destination"} <= names
    rows = [p["title"] for p in board["panels"] if p["type"] == "row"]
    assert rows == [
        "Throughput",
        "Errors",
        "Latency",
        "Lag",
        "Backpressure",
        "Circuit",
        "Dead letters",
    ]
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    boxes = [(p["title"], p["gridPos"]) for p in board["panels"]]
    for i, (a, one) in enumerate(boxes):
        for b, other in boxes[i + 1 :]:
            apart = (
                one["x"] + one["w"] <= other["x"]
                or other["x"] + other["w"] <= one["x"]
                or one["y"] + one["h"] <= other["y"]
                or other["y"] + other["h"] <= one["y"]
            )
            assert apart, f"panels {a!r} and {b!r} overlap"
    for panel in panels():
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, panel["title"]
        sources = [panel["datasource"], *(t["datasource"] for t in panel["targets"])]
        assert all(s == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"} for s in sources)
    exprs = " ".join(dashboard_queries().values())
    for histogram in ("request_duration_seconds", "end_to_end_latency_seconds"):
        for q in ("0.5", "0.95", "0.99"):
            assert (
                f"histogram_quantile({q}, sum by (le) (rate(movableink_consumer_{histogram}_bucket"
                in exprs
            )


# -- the image -------------------------------------------------------------------------------


def dockerfile_stages() -> list[list[str]]:
    """The Dockerfile's instructions (continuations joined, comments dropped), per stage."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    stages: list[list[str]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("FROM "):
            stages.append([])
        if line and not line.startswith("#") and stages:
            stages[-1].append(line)
    return stages


def test_the_dockerfile_lints_clean_and_matches_the_deployment() -> None:
    run(tool("hadolint", target="venv"), "--no-color", str(DEPLOY / "Dockerfile"))
    builder, final = dockerfile_stages()
    assert re.fullmatch(r"FROM \S+ AS builder", builder[0])
    assert not any(re.search(r"\b(apt-get|gcc|build-essential)\b", i) for i in final)
    assert "USER 10001:10001" in final
    assert "EXPOSE 9464" in final
    assert 'ENTRYPOINT ["movableink-consumer"]' in final
    assert f'CMD ["run", "--config", "{CONFIG_DIR}/config.toml"]' in final
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignored[ignored.index("*") + 1 :][:1] == ["!pyproject.toml"], "an allow-list"


def test_the_wheel_the_image_installs_runs_outside_the_source_tree(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """The builder stage's COPY set makes a wheel that, installed away from the source tree,
    runs the image's command until ready and exits 0 on SIGTERM (the Docker build itself
    cannot run here)."""
    source = tmp_path / "src"
    builder = dockerfile_stages()[0]
    for copy in (i.split()[1:-1] for i in builder if i.startswith("COPY ")):
        for name in copy:
            target = source / name
            if (ROOT / name).is_dir():
                shutil.copytree(ROOT / name, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(ROOT / name, target)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    run(
        *pip,
        "wheel",
        "--no-deps",
        "--wheel-dir",
        str(tmp_path / "wheels"),
        str(source),
        timeout=180,
    )
    (wheel,) = (tmp_path / "wheels").glob("*.whl")
    run(*pip, "install", "--no-deps", "--target", str(tmp_path / "site"), str(wheel))

    topic = create_topic(kafka_bootstrap, 1)
    config = write_config(
        tmp_path / "config.toml",
        bootstrap=kafka_bootstrap,
        topic=topic,
        group=f"ops-{uuid.uuid4().hex[:10]}",
        url="http://127.0.0.1:9/behavioral/key",
    )
    # `python -S`: the venv's dependencies, but not its editable install of the source tree.
    paths = [str(tmp_path / "site"), str(Path(httpx.__file__).parent.parent)]
    installed = f"import sys; sys.path[:0] = {paths!r}; import consumer"
    run(
        sys.executable,
        "-S",
        "-c",
        f"{installed}; assert consumer.__file__.startswith({paths[0]!r})",
    )
    env = {**os.environ, "MI_USERNAME": USERNAME, "MI_PASSWORD": PASSWORD}
    env.update(MIK__METRICS__HOST="127.0.0.1", MIK__METRICS__PORT=str(free_port()))
    start = f"{installed}.cli; sys.exit(consumer.cli.main())"
    with (tmp_path / "consumer.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-S", "-c", start, "run", "--config", str(config)],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{env['MIK__METRICS__PORT']}/readyz"

        def ready() -> bool:
            assert process.poll() is None, (tmp_path / "consumer.log").read_text()
            try:
                return httpx.get(url, timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(ready, 30, "the installed consumer to be ready")
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


# -- Kubernetes ------------------------------------------------------------------------------


def build(path: Path) -> list[dict[str, Any]]:
    rendered = run(tool("kustomize"), "build", str(path))
    return [doc for doc in yaml.safe_load_all(rendered) if doc]


def validate(doc: dict[str, Any]) -> None:
    """Built-in kinds against the Kubernetes schemas (strict: unknown fields fail)."""
    if doc["kind"] in CRD_KINDS:
        return  # no offline schema; test_manifests_refer_to_each_other checks them
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
def test_kustomize_renders_manifests_that_validate(name: str) -> None:
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
    settings = parse_settings(tomllib.loads(config_map["data"]["config.toml"]), env)
    assert settings.metrics.port == ports["metrics"]
    assert pod["spec"]["terminationGracePeriodSeconds"] >= settings.delivery.shutdown_grace + 5

    # Secrets: every key the pod (and KEDA) reads exists when the Secret is part of the build.
    wanted = {
        (e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
        for e in container["env"]
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
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "kafka"
    assert trigger["metadata"]["bootstrapServers"] == settings.kafka.bootstrap_servers
    assert trigger["metadata"]["consumerGroup"] == settings.kafka.group_id
    assert trigger["metadata"]["topic"] in settings.kafka.topics
    assert all(isinstance(v, str) for v in trigger["metadata"].values())
    if "authenticationRef" in trigger:
        names = {a["metadata"]["name"] for a in of("TriggerAuthentication")}
        assert trigger["authenticationRef"]["name"] in names

    (rule,) = of("PrometheusRule")
    assert rule["spec"] == yaml.safe_load(RULES.read_text())


def test_the_example_overlay_kafka_settings_are_accepted_by_librdkafka() -> None:
    """The SASL_SSL example's pass-through properties, given to the real client library."""
    from consumer.kafka import Producer

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
