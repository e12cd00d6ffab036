"""One record from its read to its committed offset: the `Envelope` every later stage reads.

What the stages after the decision need of a record is computed once, here or in the decision:
its position and bytes (`record`), its message id, identity keys and event time (in epoch
seconds), its Kafka timestamp in seconds, when it was read, and the handle that finishes its
offset. The time order, the identity gate, the outcomes, the destination workers and the dead
letters read these fields; none copies them. A record's job at one destination keeps its stage
timestamps in a `Timing`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from consumer.core.decision import Decision
from consumer.core.offsets import PartitionOffsets
from consumer.core.records import Record

# What an envelope's `decision` becomes once the record is routed (`routed`).
ROUTED = Decision("", None, ())


def kafka_seconds(timestamp_ms: int | None) -> float | None:
    """A Kafka timestamp (milliseconds) in epoch seconds; None when the record has none."""
    return None if timestamp_ms is None else timestamp_ms / 1000


@dataclass(eq=False, slots=True)
class Envelope:
    """A consumed record, its decision and what finishing it needs; identity is the object."""

    record: Record
    handle: PartitionOffsets
    decision: Decision
    message_id: str
    identity_keys: tuple[str, ...]
    event_time: float | None  # epoch seconds of the event, if it says
    appended_at: float | None  # the record's Kafka timestamp, epoch seconds
    read_at: float = 0.0  # when the Kafka thread read it, epoch seconds (0: not known)
    remaining: int = 0  # its parts (jobs, dead letters) not finished yet

    def routed(self) -> None:
        """The record has its jobs and dead letters: its decision (the decoded event, every
        verdict) is let go. Thousands of records held for a down destination would otherwise
        keep as many decoded events, objects the garbage collector walks again and again, on
        the CPU the healthy destinations need."""
        self.decision = ROUTED


def envelope(
    record: Record,
    decision: Decision,
    handle: PartitionOffsets,
    appended_at: float | None,
    read_at: float = 0.0,
) -> Envelope:
    """The envelope of a decided record (`appended_at`: `kafka_seconds` of its timestamp)."""
    return Envelope(
        record,
        handle,
        decision,
        decision.message_id,
        decision.identity_keys,
        decision.event_time,
        appended_at,
        read_at,
    )


@dataclass(slots=True)
class Timing:
    """When a record's job at one destination passed the stages after the read (epoch
    seconds), for `stage_seconds`; the read and the Kafka timestamp are the envelope's."""

    queued_at: float = field(default_factory=time.time)  # accepted by the delivery loop
    started_at: float = 0.0  # its person's earlier events were done (or a request ended)
