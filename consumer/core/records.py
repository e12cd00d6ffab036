"""A consumed Kafka record, detached from librdkafka's message object, and what is kept of it
until every destination is done with it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from consumer.core.decision import Decision
from consumer.core.offsets import PartitionOffsets

# A tuple in a consumed record, not a list: the garbage collector stops tracking it, so a
# record held for a slow destination is one object fewer to walk.
Headers = Sequence[tuple[str, bytes | None]]


class Record(NamedTuple):
    """Where a record was read, and its bytes exactly as read (a tuple: one is made per record
    read, and a frozen dataclass costs four times as much to build)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers
    timestamp_ms: int | None = None


@dataclass(eq=False, slots=True)
class Work:
    """A consumed record and the handle that finishes its offset: what is kept of it until
    every destination is done. Its decision (the decoded event, every verdict) travels beside
    it only to the hand-over (`Decided`): thousands of records held for a down destination
    would otherwise keep as many decoded events, objects the garbage collector walks again and
    again, on the CPU the healthy destinations need."""

    record: Record
    handle: PartitionOffsets
    remaining: int = 0
    read_at: float = 0.0  # epoch seconds when the Kafka thread read it


Decided = tuple[Work, Decision]  # a record as the Kafka thread hands it to the loop
