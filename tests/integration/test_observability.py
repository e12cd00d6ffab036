"""The dashboard and the alerts against a real consumer and a real Prometheus.

A real consumer (session broker, Movable Ink stand-in) must export every series the Grafana
dashboard and the alerts use; a real Prometheus scrapes it, answers every dashboard query and
evaluates every rule; promtool checks and unit-tests the rules.
"""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from devkit import processes
from devkit.harness import PASSWORD, USERNAME, ConsumerProcess, Metrics, produce, scrape, wait_for
from devkit.standin import Faults, Rule, StandIn
from tests.pipeline import write_config

try:
    import yaml
except ImportError as exc:  # pragma: no cover - the test extra installs it
    raise ImportError(f"{exc.name} is missing: `make venv` installs it (the test extra).") from exc
from tests.integration.ops import DEPLOY, METRIC, ROOT, RULES, create_topic, run, tool

DASHBOARD = DEPLOY / "grafana" / "movableink-consumer.json"

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
    values = {"$__rate_interval": "10s", "$namespace": ".*", "$job": ".*", "$destination": ".*"}
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

    def scrape(self) -> Metrics:
        return scrape(self.port)


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


def start_consumer(config: Path, log: Path) -> tuple[ConsumerProcess, int]:
    """The consumer with its status server on a port it picks (a MIK__ override), read from
    its log."""
    process = ConsumerProcess(config, log, env={"MIK__METRICS__PORT": "0"})
    found: list[int] = []

    def listening() -> bool:
        assert process.alive(), f"the consumer exited:\n{process.logs()}"
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
                metrics = live.scrape()

                def total(name: str, **labels: str) -> float:
                    return metrics.total(f"movableink_consumer_{name}", **labels)

                return (
                    total("events_total", outcome="delivered") >= 10
                    and total("events_total", outcome="dead_lettered") >= 2
                    and total("events_total", outcome="filtered") >= 1
                    and total("retries_total") >= 1
                    and "movableink_consumer_lag_messages" in metrics.names()
                )

            wait_for(settled, 60, "every kind of outcome, and the lag of assigned partitions")
            yield live
        finally:
            process.kill()


def test_the_consumer_exports_every_series_the_dashboard_and_alerts_use(live: Live) -> None:
    exported = live.scrape().names()
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
    port = processes.free_port()
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
    except TimeoutError as exc:
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
    assert {"DS_PROMETHEUS", "namespace", "job", "destination"} <= names
    rows = [p["title"] for p in board["panels"] if p["type"] == "row"]
    assert rows == [
        "Overview",
        "Throughput",
        "Errors",
        "Latency",
        "Lag",
        "Backpressure",
        "Circuit",
        "Dead letters",
        "Pods",
        "Order across partitions",
        "Order across pods",
    ]
    # The top row: one number each for what an operator checks first.
    stats = [p["title"] for p in board["panels"] if p["type"] == "stat"]
    assert stats == [
        "Delivered / s",
        "Lag",
        "Oldest unprocessed",
        "Dead letters / s",
        "Circuit",
        "Pods up",
    ]
    assert all(p["gridPos"]["y"] == 1 for p in board["panels"] if p["type"] == "stat")
    for title in ("Pod CPU", "Pod memory"):
        (panel,) = [p for p in panels() if p["title"] == title]
        assert 'namespace=~"$namespace", job=~"$job"' in panel["targets"][0]["expr"]
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
