"""What a `KafkaSource` reads: a group subscription (the live consumer), or fixed offset
ranges (a replay). A reader decides which records are in scope, when reading is over, and where
finished offsets are saved; the source does the rest alike for both.

Runs on the Kafka thread, like the source that calls it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from consumer.core.records import Record
from consumer.shell.kafka.client import Consumer, TopicPartition

Ranges = dict[TopicPartition, tuple[int, int]]  # start, end (exclusive)
OnPartitions = Callable[[list[TopicPartition]], None]


class Rebalance(Protocol):
    """The source's side of an assignment change (called inside `consume`)."""

    def on_assign(self, partitions: list[TopicPartition]) -> None: ...

    def on_revoke(self, partitions: list[TopicPartition]) -> None: ...

    def on_lost(self, partitions: list[TopicPartition]) -> None: ...


class Reader(Protocol):
    def start(self, consumer: Consumer, source: Rebalance) -> None:
        """Begin reading; assignments reach `source`."""

    def wanted(self, record: Record) -> bool:
        """Whether a consumed record is in scope."""

    def done(self, consumer: Consumer) -> bool:
        """Whether everything in scope has been read (asked once nothing is pending)."""

    def exhausted(self, consumer: Consumer, tp: TopicPartition) -> bool:
        """Whether every record in scope of this partition has been read (order across
        partitions waits for none of its records any more)."""

    def save(self, consumer: Consumer, offsets: dict[TopicPartition, int]) -> None:
        """Keep the offsets below which every record is finished, or start to (a group's
        commit is answered later); raises `BrokerError`."""

    def saved(self, consumer: Consumer) -> dict[TopicPartition, int]:
        """The offsets whose saving was confirmed since the last call."""


class GroupReader:
    """The topics of a consumer group: partitions come and go with rebalances, reading never
    ends, and finished offsets are committed to the group."""

    def __init__(self, topics: tuple[str, ...]) -> None:
        self.topics = topics

    def start(self, consumer: Consumer, source: Rebalance) -> None:
        consumer.subscribe(self.topics, source.on_assign, source.on_revoke, source.on_lost)

    def wanted(self, record: Record) -> bool:
        return True

    def done(self, consumer: Consumer) -> bool:
        return False

    def exhausted(self, consumer: Consumer, tp: TopicPartition) -> bool:
        return False

    def save(self, consumer: Consumer, offsets: dict[TopicPartition, int]) -> None:
        consumer.commit(offsets)

    def saved(self, consumer: Consumer) -> dict[TopicPartition, int]:
        return consumer.confirmed()


class RangeReader:
    """Fixed offset ranges, assigned without a group: nothing is committed (the offsets reached
    are kept, to resume an interrupted replay), and reading ends at the ends of the ranges.

    Records the topic's retention (or a deletion) removed before they were read can never be
    read: a partition whose log start has passed its position counts as read up to the log
    start, and those records are counted in `deleted` (else the replay would wait for them for
    ever, its rate falling). `deleted` starts with what `plan` found gone already."""

    def __init__(self, ranges: Ranges, deleted: dict[TopicPartition, int] | None = None) -> None:
        self.ranges = {tp: r for tp, r in ranges.items() if r[0] < r[1]}
        self.next_offsets = {tp: start for tp, (start, _) in ranges.items()}
        self._saved: dict[TopicPartition, int] = {}
        # (partition, first offset not read) -> records deleted from there before being read
        self._gaps: dict[tuple[TopicPartition, int], int] = {
            (tp, -1): n for tp, n in (deleted or {}).items() if n > 0
        }

    def start(self, consumer: Consumer, source: Rebalance) -> None:
        consumer.assign({tp: start for tp, (start, _) in self.ranges.items()})
        source.on_assign(list(self.ranges))

    def wanted(self, record: Record) -> bool:
        return record.offset < self.ranges[(record.topic, record.partition)][1]

    def done(self, consumer: Consumer) -> bool:
        return all(self._reached(consumer, tp) >= end for tp, (_, end) in self.ranges.items())

    def exhausted(self, consumer: Consumer, tp: TopicPartition) -> bool:
        return tp not in self.ranges or self._reached(consumer, tp) >= self.ranges[tp][1]

    def _reached(self, consumer: Consumer, tp: TopicPartition) -> int:
        """How far a partition has been read: its position, or the log start (from the last
        fetch) when the records between them were deleted unread, which are counted."""
        start, end = self.ranges[tp]
        position = consumer.position(*tp) or start
        low, _ = consumer.watermarks(*tp)
        if low <= position:
            return position
        gap = (tp, position)
        self._gaps[gap] = max(self._gaps.get(gap, 0), min(low, end) - position)
        return low

    def deleted(self) -> dict[TopicPartition, int]:
        """Per partition, the records of the range deleted before they could be read."""
        found: dict[TopicPartition, int] = {}
        for (tp, _), count in self._gaps.items():
            found[tp] = found.get(tp, 0) + count
        return found

    def save(self, consumer: Consumer, offsets: dict[TopicPartition, int]) -> None:
        self.next_offsets.update(offsets)
        self._saved.update(offsets)

    def saved(self, consumer: Consumer) -> dict[TopicPartition, int]:
        found, self._saved = self._saved, {}
        return found

    def resume_offsets(self) -> dict[int, int]:
        """Per partition, the first offset not finished (for the resume command)."""
        return {p: o for (_, p), o in sorted(self.next_offsets.items())}
