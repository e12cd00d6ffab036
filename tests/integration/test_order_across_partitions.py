"""Per-person order with the producers people really use, one consumer process, a real broker.

Records are written by a producer built as Segment's Kafka (Actions) destination builds its own
(`devkit/segment_kafka`: kafkajs 2.2.4, its DefaultPartitioner, `JSON.stringify`d events, its
three headers, no key unless a Message Key is mapped) with three keyings, to 12 partitions; each person's nine events (three anonymous pages, an identify,
four tracks, a server-side Order Completed with only the userId) must reach the stand-in in
the order they happened, whether the consumer runs before they arrive or they are already in
the topic.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from devkit import processes, segment_kafka
from devkit.harness import ConsumerProcess, wait_for
from devkit.standin import Faults, StandIn, lost, order_violations

PARTITIONS = 12
PEOPLE = 101  # not a multiple of PARTITIONS: kafkajs' round robin spreads each person


def stamp(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def waves(people: int) -> list[list[dict[str, Any]]]:
    """The people's events, nine waves of one event each, in the order they happened."""
    clock = int(time.time() * 1000) - 60_000
    out: list[list[dict[str, Any]]] = []
    for step in range(9):
        wave = []
        for n in range(people):
            anon, user = f"anon-{n}", f"user-{n}"
            event: dict[str, Any] = {"messageId": f"p{n}-{step}", "anonymousId": anon}
            if step < 3:
                event |= {"type": "page", "name": f"Page {step}"}
            elif step == 3:
                event |= {"type": "identify", "userId": user, "traits": {"plan": "pro"}}
            elif step < 8:
                event |= {"type": "track", "userId": user, "event": "Item Clicked"}
            else:  # from the server: only the userId
                del event["anonymousId"]
                event |= {
                    "type": "track",
                    "userId": user,
                    "event": "Order Completed",
                    "properties": {"total": 10, "products": [{"sku": "s", "price": 10}]},
                }
            clock += 1
            event["timestamp"] = stamp(clock)
            wave.append(event)
        out.append(wave)
    return out


def expected(people: int) -> dict[str, list[str]]:
    """Per identity key, its events in the order they happened."""
    order: dict[str, list[str]] = {}
    for n in range(people):
        ids = [f"p{n}-{step}" for step in range(9)]
        order[f"anon-{n}"] = ids[:8]
        order[f"user-{n}"] = ids[3:]
    return order


@dataclass(frozen=True)
class Run:
    """What one run showed: order violations, mis-keyed records counted, the warning logged."""

    violations: list[Any]
    miskeyed: int
    warned: bool


MISKEYED = "movableink_consumer_records_miskeyed_total"


@pytest.fixture
def run(
    tmp_path: Path,
    kafka_bootstrap: str,
    configured_topic: Callable[..., tuple[str, Path]],
    standin: StandIn,
) -> Callable[..., Run]:
    """Produce the people's events with a keying, live or already there, and deliver them with
    one consumer; what it showed once every event has arrived."""

    def go(keying: segment_kafka.Keying, live: bool, window: str = "2s") -> Run:
        port = processes.free_port()
        standin.set_faults(Faults(latency_ms=10, jitter_ms=10))
        topic, config = configured_topic(PARTITIONS, metrics_port=port, ordering={"window": window})
        everything = waves(PEOPLE)
        if not live:
            segment_kafka.produce(
                kafka_bootstrap, topic, [e for w in everything for e in w], keying
            )
        consumer = ConsumerProcess(config, tmp_path / f"{keying}-{live}.log", metrics_port=port)
        try:
            wait_for(consumer.ready, 60, "the consumer to join")
            if live:
                for wave in everything:  # one kafkajs send each, as events come
                    segment_kafka.produce(kafka_bootstrap, topic, wave, keying)
            ids = [e["messageId"] for wave in everything for e in wave]
            wait_for(lambda: not lost(standin.received(), ids), 120, "every event")
            return Run(
                order_violations(standin.received(), expected(PEOPLE)),
                int(consumer.metrics(MISKEYED).total(MISKEYED)),
                "records are mis-keyed" in consumer.logs(),
            )
        finally:
            consumer.kill()

    return go


@pytest.mark.parametrize("keying", segment_kafka.KEYINGS)
@pytest.mark.parametrize("live", [True, False], ids=["live", "catch-up"])
def test_each_person_is_delivered_in_the_order_their_events_happened(
    run: Callable[..., Run], keying: segment_kafka.Keying, live: bool
) -> None:
    seen = run(keying, live)
    assert seen.violations == []
    # The keying contract is checked: the unkeyed and userId-first topics are said to be
    # mis-keyed (the userId while an anonymousId is there: 5 of each person's 9 events).
    if keying == "anonymous_first":
        assert (seen.miskeyed, seen.warned) == (0, False)
    else:
        share = 1.0 if keying == "none" else 5 / 9
        assert (seen.miskeyed, seen.warned) == (round(share * 9 * PEOPLE), True)


def test_without_the_window_unkeyed_records_are_delivered_out_of_order(
    run: Callable[..., Run],
) -> None:
    """The test can see the fault it guards against: in arrival order, a catch-up of unkeyed
    records puts people's events out of order."""
    assert run("none", live=False, window="0s").violations != []
