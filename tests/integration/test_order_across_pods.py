"""Order across a consumer group: two `run` processes in one group on the real broker.

Records are written as Segment's Kafka destination writes them keyed anonymousId-first
(`devkit/segment_kafka`): a person's identify {anonymousId A, userId U} on partition(A), their
server-side Order Completed {userId U} on partition(U). The people are chosen so that the two
partitions are owned by different processes, and the stand-in refuses each identify once, so
that the window in which the server event can overtake opens every time. Gate off: it does
(the test sees the fault); observe: the same, and counted; enforce: it never does, nothing is
lost and nothing is released without the guarantee. A crash: the pod holding the unfinished
identifies is killed; nothing is lost and every release without the guarantee is counted.
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
    """Partition -> client id (`pod-<n>`), once two members share every partition."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    found = admin.describe_consumer_groups([group])[group].result(timeout=10)
    owned = {
        tp.partition: member.client_id
        for member in found.members
        for tp in member.assignment.topic_partitions
        if tp.topic == topic
    }
    if len(found.members) != 2 or len(owned) != PARTITIONS or len(set(owned.values())) != 2:
        return None
    return owned


def people(owned: dict[int, str], count: int = PEOPLE, a_on: str | None = None) -> list[int]:
    """Person numbers whose partition(A) and partition(U) have different owners (partition(A)
    that of `a_on`, when given)."""
    chosen: list[int] = []
    n = 0
    while len(chosen) < count:
        a = murmur2_partition(f"anon-{n}".encode(), PARTITIONS)
        u = murmur2_partition(f"user-{n}".encode(), PARTITIONS)
        if owned[a] != owned[u] and a_on in (None, owned[a]):
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


def shared(bootstrap: str, group: str, topic: str, pods: list[ConsumerProcess]) -> dict[int, str]:
    """Once both have joined and share the partitions: partition -> `pod-<n>`."""
    for pod in pods:
        wait_for(pod.ready, 60, "the consumers to join")
    owned: dict[int, str] = {}

    def split() -> bool:
        nonlocal owned
        owned = owners(bootstrap, group, topic) or {}
        return bool(owned)

    wait_for(split, 60, "the two consumers to share the partitions")
    return owned


Started = tuple[str, str, list[ConsumerProcess]]  # topic, group, the two pods


@pytest.fixture
def two_pods(
    tmp_path: Path,
    kafka_bootstrap: str,
    new_topic: Callable[..., str],
    unique_name: Callable[[str], str],
) -> Callable[..., Started]:
    """Two `run` processes in a group of their own on a fresh topic, client ids `pod-0` and
    `pod-1`, their configs and logs `name-<n>` in tmp_path; `settings` go to the config."""

    def start(name: str, url: str, **settings: Any) -> Started:
        topic, group = new_topic(PARTITIONS), unique_name("group")
        pods = []
        properties = settings.pop("properties", {})
        for i in range(2):
            port = processes.free_port()
            config = write_config(
                tmp_path / f"{name}-{i}.toml",
                bootstrap=kafka_bootstrap,
                topic=topic,
                group=group,
                url=url,
                metrics_port=port,
                delivery={"backoff_base": "300ms", "circuit_threshold": 100_000},
                properties={**properties, "client.id": f"pod-{i}"},
                **settings,
            )
            pods.append(ConsumerProcess(config, tmp_path / f"{name}-{i}.log", metrics_port=port))
        return topic, group, pods

    return start


@pytest.fixture
def run(kafka_bootstrap: str, two_pods: Callable[..., Started]) -> Callable[[str], Run]:
    def go(gate: str) -> Run:
        # Each identify is refused once: it is retried after a backoff, and meanwhile the server
        # event, on the other process, is free to go first unless the gate holds it.
        rules = tuple(Rule({"messageId": f"id-{n}"}, times=1) for n in range(4 * PEOPLE))
        faults = Faults(latency_ms=5, jitter_ms=10, rules=rules)
        with StandIn(USERNAME, PASSWORD, faults=faults) as si:
            topic, group, pods = two_pods(gate, si.url, ordering={"gate": gate, "hold_max": "30s"})
            try:
                owned = shared(kafka_bootstrap, group, topic, pods)
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
    print(
        f"observe: {seen.overtaken} of {PEOPLE} overtook, {would:.0f} counted as would wait for "
        f"a link, {total(seen, f'{GATE}_unguaranteed_total'):.0f} released without the guarantee"
    )
    assert seen.overtaken > PEOPLE // 2
    assert total(seen, f"{GATE}_would_wait_total", cause="link") >= seen.overtaken
    assert total(seen, f"{GATE}_unguaranteed_total") == 0


def test_enforce_no_server_event_overtakes_its_identify_and_every_release_is_guaranteed(
    run: Callable[[str], Run],
) -> None:
    seen = run("enforce")
    unguaranteed = total(seen, f"{GATE}_unguaranteed_total")
    print(f"enforce: {seen.overtaken} overtook, {unguaranteed:.0f} released without the guarantee")
    assert seen.overtaken == 0
    assert total(seen, f"{GATE}_unguaranteed_total") == 0
    assert total(seen, f"{GATE}_checks_total", result="wait") > 0
    held = total(seen, f"{GATE}_hold_seconds_sum") / total(seen, f"{GATE}_hold_seconds_count")
    print(
        f"enforce: links topic {seen.links} records for {seen.inputs} input; mean hold {held:.2f}s"
    )


GATED = "movableink_consumer_identity_gated_events"
PENDING = "movableink_consumer_identity_links_pending"
CRASH_PEOPLE = 100


def test_a_pod_killed_holding_unfinished_identifies_loses_nothing_and_counts_what_it_costs(
    kafka_bootstrap: str, two_pods: Callable[..., Started]
) -> None:
    """pod-0 reads every chosen person's identify and cannot deliver it (refused until it is
    killed); pod-1 holds their server events at the gate. pod-0 is SIGKILLed; pod-1 takes its
    partitions over (a session timeout shorter than hold_max) and delivers the identifies.
    Every event arrives, and each server event handed on before its identify is counted as
    released without the guarantee."""
    refused = Faults(latency_ms=5, jitter_ms=10, rules=(Rule({"type": "identify"}),))
    with StandIn(USERNAME, PASSWORD, faults=refused) as si:
        topic, group, pods = two_pods(
            "crash",
            si.url,
            ordering={"gate": "enforce", "hold_max": "20s"},
            properties={"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000},
        )
        victim, survivor = pods
        try:
            owned = shared(kafka_bootstrap, group, topic, pods)
            chosen = people(owned, CRASH_PEOPLE, a_on="pod-0")
            sent = events(chosen)
            wait_for(lambda: all(progressed(p) for p in pods), 30, "read progress")
            segment_kafka.produce(kafka_bootstrap, topic, sent, "anonymous_first")

            def holding() -> bool:
                held = survivor.metrics(GATED).total(GATED)
                return held >= CRASH_PEOPLE and victim.metrics(PENDING).total(PENDING) > 0

            wait_for(holding, 60, "pod-1 to hold the server events, pod-0 the identifies")
            victim.kill()
            si.set_faults(Faults(latency_ms=5, jitter_ms=10))
            ids = [e["messageId"] for e in sent]
            wait_for(lambda: not lost(si.received(), ids), 120, "every event")
            wait_for(lambda: survivor.metrics(GATED).total(GATED) == 0, 30, "nothing held")
            expected = {f"user-{n}": [f"id-{n}", f"oc-{n}"] for n in chosen}
            overtaken = len(order_violations(si.received(), expected))
            seen = survivor.metrics("movableink_consumer_identity")
            unguaranteed = seen.total(f"{GATE}_unguaranteed_total")
            reasons = {
                s.labels["reason"]: s.value
                for s in seen.samples
                if s.name == f"{GATE}_unguaranteed_total" and s.value
            }
            print(
                f"crash: {overtaken} of {CRASH_PEOPLE} server events overtook their identify; "
                f"released without the guarantee {unguaranteed:.0f} {reasons}"
            )
            assert not lost(si.received(), ids)
            assert overtaken <= unguaranteed
        finally:
            for pod in pods:
                pod.kill()
