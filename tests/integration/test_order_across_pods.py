"""Order across a consumer group: two `run` processes in one group on the real broker.

Records are written as Segment's Kafka destination writes them keyed anonymousId-first
(`devkit/segment_kafka`): a person's identify {anonymousId A, userId U} on partition(A), their
server-side Order Completed {userId U} on partition(U). The people are chosen so that the two
partitions are owned by different processes, and the stand-in refuses each identify once, so
that the window in which the server event can overtake opens every time. Gate off: it does
(the test sees the fault); observe: the same, and counted; enforce: it never does, nothing is
lost and nothing is released without the guarantee.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from consumer.core.keying import murmur2_partition
from devkit import processes, segment_kafka
from devkit.harness import PASSWORD, USERNAME, ConsumerProcess, Metrics, wait_for
from devkit.standin import Faults, Rule, StandIn, lost, order_violations
from tests.pipeline import write_config

PARTITIONS = 12
PEOPLE = 220
GATE = "movableink_consumer_identity_gate"
AGE = "movableink_consumer_identity_progress_age_seconds"


def owners(bootstrap: str, group: str, topic: str) -> dict[int, str] | None:
    """Partition -> member id, once two members share every partition."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    found = admin.describe_consumer_groups([group])[group].result(timeout=10)
    owned = {
        tp.partition: member.member_id
        for member in found.members
        for tp in member.assignment.topic_partitions
        if tp.topic == topic
    }
    if len(found.members) != 2 or len(owned) != PARTITIONS or len(set(owned.values())) != 2:
        return None
    return owned


def people(owned: dict[int, str]) -> list[int]:
    """Person numbers whose partition(A) and partition(U) have different owners."""
    chosen: list[int] = []
    n = 0
    while len(chosen) < PEOPLE:
        a = murmur2_partition(f"anon-{n}".encode(), PARTITIONS)
        u = murmur2_partition(f"user-{n}".encode(), PARTITIONS)
        if owned[a] != owned[u]:
            chosen.append(n)
        n += 1
    return chosen


def events(chosen: list[int]) -> list[dict[str, Any]]:
    now = time.time()
    out: list[dict[str, Any]] = []
    for n in chosen:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + ".000Z"
        out.append(
            {
                "type": "identify",
                "messageId": f"id-{n}",
                "anonymousId": f"anon-{n}",
                "userId": f"user-{n}",
                "traits": {"plan": "pro"},
                "timestamp": stamp,
            }
        )
        out.append(
            {
                "type": "track",
                "messageId": f"oc-{n}",
                "userId": f"user-{n}",
                "event": "Order Completed",
                "properties": {"total": 10, "products": [{"sku": "s", "price": 10}]},
                "timestamp": stamp,
            }
        )
    return out


@dataclass(frozen=True)
class Run:
    overtaken: int  # server events that reached the stand-in before their person's identify
    scrapes: list[Metrics]  # each process's identity-gate metrics
    links: int  # records on the links topic
    inputs: int


def links_count(bootstrap: str, topic: str) -> int:
    reader = Consumer({"bootstrap.servers": bootstrap, "group.id": "count"})
    try:
        low, high = reader.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        return int(high - low)
    finally:
        reader.close()


@pytest.fixture
def run(
    tmp_path: Path,
    kafka_bootstrap: str,
    new_topic: Callable[..., str],
    unique_name: Callable[[str], str],
) -> Callable[[str], Run]:
    def go(gate: str) -> Run:
        topic = new_topic(PARTITIONS)
        group = unique_name("group")
        # Each identify is refused once: it is retried after a backoff, and meanwhile the server
        # event, on the other process, is free to go first unless the gate holds it.
        rules = tuple(Rule({"messageId": f"id-{n}"}, times=1) for n in range(4 * PEOPLE))
        faults = Faults(latency_ms=5, jitter_ms=10, rules=rules)
        with StandIn(USERNAME, PASSWORD, faults=faults) as si:
            pods = []
            for i in range(2):
                port = processes.free_port()
                config = write_config(
                    tmp_path / f"{gate}-{i}.toml",
                    bootstrap=kafka_bootstrap,
                    topic=topic,
                    group=group,
                    url=si.url,
                    metrics_port=port,
                    delivery={"backoff_base": "300ms", "circuit_threshold": 100_000},
                    ordering={"gate": gate, "hold_max": "30s"},
                )
                pods.append(
                    ConsumerProcess(config, tmp_path / f"{gate}-{i}.log", metrics_port=port)
                )
            try:
                for pod in pods:
                    wait_for(pod.ready, 60, "the consumers to join")
                owned: dict[int, str] = {}

                def split() -> bool:
                    nonlocal owned
                    owned = owners(kafka_bootstrap, group, topic) or {}
                    return bool(owned)

                wait_for(split, 60, "the two consumers to share the partitions")
                chosen = people(owned)
                sent = events(chosen)
                if gate != "off":  # each pod knows how far the other has read
                    wait_for(lambda: all(progressed(p) for p in pods), 30, "read progress")
                segment_kafka.produce(kafka_bootstrap, topic, sent, "anonymous_first")
                ids = [e["messageId"] for e in sent]
                wait_for(lambda: not lost(si.received(), ids), 120, "every event")
                expected = {f"user-{n}": [f"id-{n}", f"oc-{n}"] for n in chosen}
                overtaken = len(order_violations(si.received(), expected))
                scrapes = [pod.metrics("movableink_consumer_identity") for pod in pods]
                links = (
                    links_count(kafka_bootstrap, f"{group}.identity-links") if gate != "off" else 0
                )
                return Run(overtaken, scrapes, links, len(sent))
            finally:
                for pod in pods:
                    pod.kill()

    return go


def progressed(pod: ConsumerProcess) -> bool:
    age = pod.metrics(AGE).total(AGE)
    return pod.metrics(AGE).names() == {AGE} and age < 5


def total(seen: Run, name: str, **labels: str) -> float:
    return sum(m.total(name, **labels) for m in seen.scrapes)


def test_without_the_gate_server_events_overtake_identifies_on_the_other_pod(
    run: Callable[[str], Run],
) -> None:
    seen = run("off")
    print(f"off: {seen.overtaken} of {PEOPLE} server events overtook their identify")
    assert seen.overtaken > PEOPLE // 2


def test_observe_counts_what_would_have_waited_and_changes_nothing(
    run: Callable[[str], Run],
) -> None:
    seen = run("observe")
    would = total(seen, f"{GATE}_would_wait_total", cause="link")
    print(f"observe: {seen.overtaken} overtook, {would:.0f} counted as would wait for a link")
    assert seen.overtaken > PEOPLE // 2
    assert total(seen, f"{GATE}_would_wait_total", cause="link") >= seen.overtaken
    assert total(seen, f"{GATE}_unguaranteed_total") == 0


def test_enforce_no_server_event_overtakes_its_identify_and_every_release_is_guaranteed(
    run: Callable[[str], Run],
) -> None:
    seen = run("enforce")
    assert seen.overtaken == 0
    assert total(seen, f"{GATE}_unguaranteed_total") == 0
    assert total(seen, f"{GATE}_checks_total", result="wait") > 0
    held = total(seen, f"{GATE}_hold_seconds_sum") / total(seen, f"{GATE}_hold_seconds_count")
    print(
        f"enforce: links topic {seen.links} records for {seen.inputs} input; mean hold {held:.2f}s"
    )
