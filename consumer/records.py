"""A consumed Kafka record, detached from librdkafka's message object (pure data)."""

from __future__ import annotations

from dataclasses import dataclass

Headers = list[tuple[str, bytes | None]]


@dataclass(frozen=True)
class Record:
    """Where a record was read, and its bytes exactly as read."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers
    timestamp_ms: int | None = None
