"""Kafka as it fails in production, short form: on a three-broker cluster (replication 3,
`min.insync.replicas=2`) behind Toxiproxy, a rolling restart, a SIGKILL of the group's
coordinator (a leader of input partitions too; commits sent meanwhile are retried after newer
ones, see docs/kafka-failures.md) and a 10 s network cut, each while a stream of many people's events is delivered. After each:
nothing lost, each person's order kept, no dead letter, every offset committed, and the
consumer never exited. The full set is `make chaos` (bench/chaos.py, devkit/faults.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devkit import faults
from devkit.cluster import Cluster
from devkit.standin import StandIn
from devkit.toxiproxy import Toxiproxy


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    state = tmp_path_factory.mktemp("cluster")
    proxy = Toxiproxy.start(state / "toxiproxy")
    try:
        running = Cluster.start(state / "kafka", brokers=3, proxy=proxy)
        try:
            yield running
        finally:
            running.shutdown()
    finally:
        proxy.stop()


# Within pytest's timeout, so that a stream that does not finish is judged and its state shown.
FINISH_S = 150.0

SCENARIOS: dict[str, Callable[[faults.Scenario], None]] = {
    "rolling-restart": faults.rolling_restart(times=1),
    "coordinator-kill": faults.kill_and_restart(faults.group_coordinator, down_s=5.0),
    "network-cut": faults.network("cut", 10.0, every_broker=True),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_a_cluster_fault_loses_and_reorders_nothing(
    name: str, cluster: Cluster, standin: StandIn, tmp_path: Path
) -> None:
    scenario = faults.Scenario(
        name, cluster, standin, tmp_path, events=3000, people=300, finish_s=FINISH_S
    )
    outcome = scenario.run(SCENARIOS[name])
    print(outcome.line())
    assert outcome.lost == 0, outcome
    assert outcome.order_violations == 0, outcome
    assert outcome.dead_letters == 0, outcome
    assert outcome.exits == [], outcome
    assert outcome.committed, outcome
