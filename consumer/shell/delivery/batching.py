"""Batch mode: ready events gathered into `{"events": [...]}` requests.

A batch closes at `max_events`, at `max_bytes` of body, or `linger` after its first event,
whichever comes first. Only events whose requests would carry the same headers share a batch.
Only *ready* events are batched (the scheduler releases one event per person at a time), so a
person's consecutive events travel in consecutive batches, each sent after the previous one
finished: per-person order holds within and across batches.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from consumer.core.decision import Delivery
from consumer.settings import BatchSettings

ENVELOPE = (b'{"events":[', b"]}")
# One event in a batch: the job it belongs to, and one of its deliveries (the request's
# headers, its body as the decision encoded it, the mapping named in its dead letter).
Item = tuple[Any, Delivery]


def event(delivery: Delivery) -> bytes:
    """A delivery's body as an event of a batch: a mapping whose data resolves to nothing is
    an empty event there."""
    return delivery.content or b"{}"


def content(items: list[Item]) -> bytes:
    """The exact batch body: `{"events":[...]}` from the already-encoded events."""
    return ENVELOPE[0] + b",".join([event(delivery) for _, delivery in items]) + ENVELOPE[1]


@dataclass
class _Open:
    """A batch being filled; `size` is its body's length so far, kept as items are added
    (summing it at every add was quadratic in the batch's size)."""

    items: list[Item] = field(default_factory=list)
    size: int = len(ENVELOPE[0]) + len(ENVELOPE[1])
    timer: asyncio.TimerHandle | None = None


class Batcher:
    """Collects items per header signature and hands each closed batch to `flush`."""

    def __init__(
        self, settings: BatchSettings, flush: Callable[[dict[str, str], list[Item]], None]
    ) -> None:
        self._settings = settings
        self._flush = flush
        self._open: dict[tuple[tuple[str, str], ...], _Open] = {}

    def add(self, owner: Any, delivery: Delivery) -> None:
        """One event of `owner` (its job) to batch with the others of the same headers."""
        signature = tuple(sorted(delivery.request.headers.items()))
        length = len(event(delivery))
        batch = self._open.get(signature)
        if batch is not None:
            size = batch.size + 1 + length  # 1: the comma
            if size > self._settings.max_bytes:
                self._close(signature)
                batch = None
        if batch is None:
            batch = self._open[signature] = _Open()
            size = batch.size + length
            loop = asyncio.get_running_loop()
            batch.timer = loop.call_later(self._settings.linger, self._close, signature)
        batch.size = size
        batch.items.append((owner, delivery))
        if len(batch.items) >= self._settings.max_events:
            self._close(signature)

    def _close(self, signature: tuple[tuple[str, str], ...]) -> None:
        batch = self._open.pop(signature, None)
        if batch is None:
            return
        if batch.timer is not None:
            batch.timer.cancel()
        self._flush(dict(signature), batch.items)
