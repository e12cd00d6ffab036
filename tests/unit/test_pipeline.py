"""The hand-over from the Kafka thread to the delivery loop (`Pipeline.accept`): a real asyncio
loop in its own thread, the outcomes faked. No broker, no network."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any, cast

import pytest

from consumer.core.envelope import Envelope
from consumer.shell import pipeline
from consumer.shell.pipeline import Pipeline


class FakeOutcomes:
    def __init__(self) -> None:
        self.batches: list[list[Envelope]] = []

    def accept(self, batch: list[Envelope]) -> None:
        self.batches.append(batch)


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


def _pipeline(loop: asyncio.AbstractEventLoop, outcomes: FakeOutcomes) -> Pipeline:
    unused = cast(Any, None)
    return Pipeline(unused, unused, unused, unused, cast(Any, outcomes), unused, loop)


def test_a_batch_is_handed_over_before_the_kafka_thread_decides_more(
    loop: asyncio.AbstractEventLoop,
) -> None:
    """The Kafka thread waits for the loop to take each batch: deciding on while the loop is
    busy took the GIL from it at every one of its socket calls, and the loop crawled (the
    healthy destination of `bench.py --only onedown` went in waves)."""
    outcomes = FakeOutcomes()
    batch = [cast(Envelope, object())]
    loop.call_soon_threadsafe(time.sleep, pipeline.HANDOVER_WAIT_S / 2)  # the loop is busy
    _pipeline(loop, outcomes).accept(batch)
    assert outcomes.batches == [batch]


def test_a_stuck_loop_holds_the_kafka_thread_only_briefly_and_loses_nothing(
    loop: asyncio.AbstractEventLoop,
) -> None:
    outcomes = FakeOutcomes()
    stuck = threading.Event()
    loop.call_soon_threadsafe(stuck.wait, 5)
    started = time.monotonic()
    _pipeline(loop, outcomes).accept([cast(Envelope, object())])
    waited = time.monotonic() - started
    assert pipeline.HANDOVER_WAIT_S * 0.9 <= waited < 2
    assert outcomes.batches == []
    stuck.set()
    deadline = time.monotonic() + 5
    while not outcomes.batches and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(outcomes.batches) == 1
