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
    are kept, to resume an interrupted replay), and reading ends at the ends of the ranges."""

    def __init__(self, ranges: Ranges) -> None:
        self.ranges = {tp: r for tp, r in ranges.items() if r[0] < r[1]}
        self.next_offsets = {tp: start for tp, (start, _) in ranges.items()}
        self._saved: dict[TopicPartition, int] = {}

    def start(self, consumer: Consumer, source: Rebalance) -> None:
        consumer.assign({tp: start for tp, (start, _) in self.ranges.items()})
        source.on_assign(list(self.ranges))

    def wanted(self, record: Record) -> bool:
        return record.offset < self.ranges[(record.topic, record.partition)][1]

    def done(self, consumer: Consumer) -> bool:
        return all(
            (consumer.position(*tp) or start) >= end for tp, (start, end) in self.ranges.items()
        )

    def exhausted(self, consumer: Consumer, tp: TopicPartition) -> bool:
        start, end = self.ranges.get(tp, (0, 0))
        return (consumer.position(*tp) or start) >= end

    def save(self, consumer: Consumer, offsets: dict[TopicPartition, int]) -> None:
        self.next_offsets.update(offsets)
        self._saved.update(offsets)

    def saved(self, consumer: Consumer) -> dict[TopicPartition, int]:
        found, self._saved = self._saved, {}
        return found

    def resume_offsets(self) -> dict[int, int]:
        """Per partition, the first offset not finished (for the resume command)."""
        return {p: o for (_, p), o in sorted(self.next_offsets.items())}
