"""A consumed Kafka record, detached from librdkafka's message object (pure data)."""

from __future__ import annotations

from typing import NamedTuple

Headers = list[tuple[str, bytes | None]]


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
