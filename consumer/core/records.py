"""A consumed Kafka record, detached from librdkafka's message object (what is kept of it
until every destination is done with it is its `envelope.Envelope`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

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
