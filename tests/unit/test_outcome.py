"""What `Outcomes` keeps of a record while a destination works on it. In-process: a real
sender over a transport that never answers; no broker, no network."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from prometheus_client import CollectorRegistry

from consumer.core.decision import decide_message
from consumer.core.mapping import compile_mapping
from consumer.core.movableink import (
    PRESET_DATA,
    PRESET_SUBSCRIBE,
    Destination,
    Secret,
    Subscription,
)
from consumer.core.offsets import OffsetTracker
from consumer.core.records import Record, Work
from consumer.core.triggers import parse
from consumer.settings import DeliverySettings
from consumer.shell.delivery.sender import Sender
from consumer.shell.delivery.worker import Job
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
    decision = decide_message(message, (destination,), topic="in", offset=0)
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
        outcomes.accept([(Work(record, tracker.add("in", 0, 0, None)), decision)])
        await asyncio.wait_for(silent.posted.wait(), 5)  # the request is under way, and stays so
        kept.append((sys.getrefcount(decision), list(outcomes._jobs)))
        await outcomes.aclose()

    asyncio.run(scenario())
    ((after, jobs),) = kept
    assert after == referenced
    (job,) = jobs
    assert job.deliveries[0].content == decision.verdicts[0].deliveries[0].content
