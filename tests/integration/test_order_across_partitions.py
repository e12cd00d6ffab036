"""Per-person order with the producers people really use, one consumer process, a real broker.

Records are written as Segment's Kafka (Actions) destination writes them (`JSON.stringify`d
events, its three headers, no key unless a Message Key is mapped, kafkajs' partitioner) with
three keyings, to 12 partitions; each person's nine events (three anonymous pages, an identify,
four tracks, a server-side Order Completed with only the userId) must reach the stand-in in
the order they happened, whether the consumer runs before they arrive or they are already in
the topic.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from devkit import processes
from devkit.harness import PASSWORD, USERNAME, ConsumerProcess, wait_for
from devkit.standin import Faults, StandIn, lost, order_violations
from tests.pipeline import write_config

PARTITIONS = 12
PEOPLE = 101  # not a multiple of PARTITIONS: round robin spreads each person
Keying = Callable[[dict[str, Any]], str | None]
KEYINGS: dict[str, Keying] = {
    "none": lambda e: None,  # Segment's Kafka destination without a Message Key
    "anonymous-first": lambda e: e.get("anonymousId") or e.get("userId"),  # our README's key
    "user-first": lambda e: e.get("userId") or e.get("anonymousId"),  # RudderStack's
}


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


class SegmentKafkaProducer:
    """A producer that writes records the way Segment's Kafka destination does: the event as
    JSON, headers `segment-message-type`, `segment-message-id`, `source`, murmur2 for a key,
    and partitions in turn without one; not idempotent."""

    def __init__(self, bootstrap: str, topic: str, keying: Keying) -> None:
        self._producer = Producer(
            {"bootstrap.servers": bootstrap, "partitioner": "murmur2_random", "linger.ms": 5}
        )
        self._topic, self._keying, self._turn = topic, keying, 0

    def send(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            key = self._keying(event)
            headers = [
                ("segment-message-type", event["type"].encode()),
                ("segment-message-id", event["messageId"].encode()),
                ("source", b"segment"),
            ]
            value = json.dumps(event, separators=(",", ":")).encode()
            if key is None:
                self._turn = (self._turn + 1) % PARTITIONS
                self._producer.produce(self._topic, value, None, self._turn, headers=headers)
            else:
                self._producer.produce(self._topic, value, key.encode(), headers=headers)
        assert self._producer.flush(30) == 0


@pytest.fixture
def run(
    tmp_path: Path,
    kafka_bootstrap: str,
    new_topic: Callable[..., str],
    unique_name: Callable[[str], str],
) -> Callable[..., list[Any]]:
    """Produce the people's events with a keying, live or already there, and deliver them with
    one consumer; returns its order violations after every event has arrived."""

    def go(keying: str, live: bool, window: str = "2s") -> list[Any]:
        topic = new_topic(PARTITIONS)
        port = processes.free_port()
        with StandIn(USERNAME, PASSWORD, faults=Faults(latency_ms=10, jitter_ms=10)) as si:
            config = write_config(
                tmp_path / f"{keying}-{live}.toml",
                bootstrap=kafka_bootstrap,
                topic=topic,
                group=unique_name("group"),
                url=si.url,
                metrics_port=port,
                ordering={"window": window},
            )
            producer = SegmentKafkaProducer(kafka_bootstrap, topic, KEYINGS[keying])
            everything = waves(PEOPLE)
            if not live:
                for wave in everything:
                    producer.send(wave)
            consumer = ConsumerProcess(config, tmp_path / f"{keying}-{live}.log", metrics_port=port)
            try:
                wait_for(consumer.ready, 60, "the consumer to join")
                if live:
                    for wave in everything:
                        producer.send(wave)
                        time.sleep(0.05)
                ids = [e["messageId"] for wave in everything for e in wave]
                wait_for(lambda: not lost(si.received(), ids), 120, "every event")
                return order_violations(si.received(), expected(PEOPLE))
            finally:
                consumer.kill()

    return go


@pytest.mark.parametrize("keying", list(KEYINGS))
@pytest.mark.parametrize("live", [True, False], ids=["live", "catch-up"])
def test_each_person_is_delivered_in_the_order_their_events_happened(
    run: Callable[..., list[Any]], keying: str, live: bool
) -> None:
    assert run(keying, live) == []


def test_without_the_window_unkeyed_records_are_delivered_out_of_order(
    run: Callable[..., list[Any]],
) -> None:
    """The test can see the fault it guards against: in arrival order, a catch-up of unkeyed
    records puts people's events out of order."""
    assert run("none", live=False, window="0s") != []
