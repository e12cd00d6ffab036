"""What `Outcomes` keeps of a record while a destination works on it. In-process: a real
sender over a transport that never answers; no broker, no network."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from prometheus_client import CollectorRegistry

from consumer.core.deadletter import MAPPING, REASON
from consumer.core.decision import decide_message
from consumer.core.envelope import envelope
from consumer.core.mapping import compile_mapping
from consumer.core.movableink import (
    PRESET_DATA,
    PRESET_SUBSCRIBE,
    Destination,
    Secret,
    Subscription,
)
from consumer.core.offsets import OffsetTracker
from consumer.core.records import Record
from consumer.core.segment import Place
from consumer.core.triggers import parse
from consumer.settings import DeliverySettings
from consumer.shell.delivery.sender import Sender
from consumer.shell.delivery.worker import Job
from consumer.shell.http.transport import Answer
from consumer.shell.metrics import Metrics
from consumer.shell.outcome import DeadLetterWriter, Outcomes


class Silent:
    """A destination that takes requests and never answers."""

    def __init__(self) -> None:
        self.posted = asyncio.Event()

    async def post(self, request: Any, content: bytes) -> Any:
        self.posted.set()
        await asyncio.Event().wait()

    async def aclose(self) -> None:
        pass


def test_a_record_under_way_keeps_its_bodies_but_not_its_decision() -> None:
    """Records held for a slow or down destination (up to `max_buffered`) keep what finishing
    them needs; their decisions (every verdict, each a few objects) are the collector's to
    walk again and again otherwise, on the CPU the healthy destinations need."""
    subscription = Subscription("m", parse(PRESET_SUBSCRIBE), compile_mapping(PRESET_DATA))
    destination = Destination("mi", "http://127.0.0.1:1/b/k", "u", Secret("p"), (subscription,))
    message = {"type": "track", "event": "Viewed", "userId": "u1", "messageId": "m1"}
    decision = decide_message(message, (destination,), Place("in", offset=0))
    referenced = sys.getrefcount(decision)
    kept: list[tuple[int, list[Job]]] = []

    async def scenario() -> None:
        metrics = Metrics(CollectorRegistry())
        tracker = OffsetTracker()
        writer = DeadLetterWriter(None, "{topic}.dlq", metrics)  # type: ignore[arg-type]
        silent = Silent()
        sender = Sender(destination, silent, DeliverySettings(), metrics)
        outcomes = Outcomes(tracker, writer, metrics, [sender])
        record = Record("in", 0, 0, None, b"{}", ())
        outcomes.accept([envelope(record, decision, tracker.add("in", 0, 0, None), None)])
        await asyncio.wait_for(silent.posted.wait(), 5)  # the request is under way, and stays so
        kept.append((sys.getrefcount(decision), list(outcomes._workers["mi"]._scheduler)))
        await outcomes.aclose()

    asyncio.run(scenario())
    ((after, jobs),) = kept
    assert after == referenced
    (job,) = jobs
    assert job.deliveries[0].content == decision.verdicts[0].deliveries[0].content


class Answering:
    """A destination that answers every request at once with `status`."""

    def __init__(self, status: int) -> None:
        self.status = status
        self.posted: list[bytes] = []

    async def post(self, request: Any, content: bytes) -> Any:
        self.posted.append(content)
        return Answer(self.status)

    async def aclose(self) -> None:
        pass


class Acking:
    """A producer whose every dead letter Kafka acknowledges at once."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []

    def send(self, topic: str, key: Any, value: Any, headers: Any, callback: Any) -> bool:
        self.sent.append((topic, dict(headers)))
        callback(None)
        return True


def _samples(metrics: Metrics, name: str) -> dict[tuple[str, ...], float]:
    return {
        tuple(s.labels.values()): s.value
        for family in metrics.registry.collect()
        for s in family.samples
        if s.name == name and s.value
    }


def test_each_mapping_ends_on_its_own_and_the_record_once_per_destination() -> None:
    """Two matching mappings, one whose data is text for this event: the other is delivered,
    the failing one is dead-lettered with its name; the record counts once at the destination
    (dead_lettered), each mapping once in mapping_events_total; the offset is finished."""
    good = Subscription("good", parse(PRESET_SUBSCRIBE), compile_mapping(PRESET_DATA))
    bad = Subscription("bad", parse(PRESET_SUBSCRIBE), compile_mapping({"@path": "$.event"}))
    destination = Destination("mi", "http://127.0.0.1:1/b/k", "u", Secret("p"), (good, bad))
    message = {"type": "track", "event": "Viewed", "userId": "u1", "messageId": "m1"}
    decision = decide_message(message, (destination,), Place("in", offset=0))
    metrics = Metrics(CollectorRegistry())
    producer = Acking()
    answering = Answering(200)

    async def scenario() -> dict[tuple[str, int], int]:
        tracker = OffsetTracker()
        writer = DeadLetterWriter(producer, "{topic}.dlq", metrics)  # type: ignore[arg-type]
        sender = Sender(destination, answering, DeliverySettings(), metrics)
        outcomes = Outcomes(tracker, writer, metrics, [sender])
        record = Record("in", 0, 0, None, b"{}", ())
        outcomes.accept([envelope(record, decision, tracker.add("in", 0, 0, None), None)])
        deadline = asyncio.get_running_loop().time() + 5
        while (
            tracker.committable() != {("in", 0): 1} and asyncio.get_running_loop().time() < deadline
        ):
            await asyncio.sleep(0.01)
        await outcomes.aclose()
        return tracker.committable()

    assert asyncio.run(scenario()) == {("in", 0): 1}
    assert len(answering.posted) == 1
    ((topic, headers),) = producer.sent
    assert (topic, headers[MAPPING], headers[REASON]) == (
        "in.dlq",
        b"bad",
        b"mapping.data_not_object",
    )
    assert _samples(metrics, "movableink_consumer_events_total") == {
        ("mi", "dead_lettered", "mapping.data_not_object"): 1
    }
    assert _samples(metrics, "movableink_consumer_mapping_events_total") == {
        ("mi", "good", "delivered", ""): 1,
        ("mi", "bad", "dead_lettered", "mapping.data_not_object"): 1,
    }


def test_a_record_whose_every_mapping_delivers_counts_delivered_once() -> None:
    first = Subscription("a", parse(PRESET_SUBSCRIBE), compile_mapping(PRESET_DATA))
    second = Subscription(
        "b", parse(PRESET_SUBSCRIBE), compile_mapping({"e": {"@path": "$.event"}})
    )
    destination = Destination("mi", "http://127.0.0.1:1/b/k", "u", Secret("p"), (first, second))
    message = {"type": "track", "event": "Viewed", "userId": "u1", "messageId": "m1"}
    decision = decide_message(message, (destination,), Place("in", offset=0))
    metrics = Metrics(CollectorRegistry())

    async def scenario() -> None:
        tracker = OffsetTracker()
        writer = DeadLetterWriter(Acking(), "{topic}.dlq", metrics)  # type: ignore[arg-type]
        sender = Sender(destination, Answering(200), DeliverySettings(), metrics)
        outcomes = Outcomes(tracker, writer, metrics, [sender])
        outcomes.accept(
            [
                envelope(
                    Record("in", 0, 0, None, b"{}", ()),
                    decision,
                    tracker.add("in", 0, 0, None),
                    None,
                )
            ]
        )
        deadline = asyncio.get_running_loop().time() + 5
        while (
            tracker.committable() != {("in", 0): 1} and asyncio.get_running_loop().time() < deadline
        ):
            await asyncio.sleep(0.01)
        await outcomes.aclose()

    asyncio.run(scenario())
    assert _samples(metrics, "movableink_consumer_events_total") == {("mi", "delivered", ""): 1}
    assert _samples(metrics, "movableink_consumer_mapping_events_total") == {
        ("mi", "a", "delivered", ""): 1,
        ("mi", "b", "delivered", ""): 1,
    }
