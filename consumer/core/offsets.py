"""Per-partition low watermark: commit only below the lowest record not yet finished.

Records arrive in offset order per partition and finish in any order. The committable offset
is the first unfinished one (Kafka commits "the next offset to read"), or one past the last
seen when all are finished. It never goes below what is finished; what the broker holds can
(see `PartitionOffsets.mark_committed`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from consumer.core.records import Record


class PartitionOffsets:
    """The offsets of one partition that are in the consumer's hands."""

    __slots__ = ("_committed", "_last", "_open", "detached")

    def __init__(self) -> None:
        # The unfinished offsets and their records' timestamps. Offsets are added in increasing
        # order and a dict keeps insertion order, so its first key is the lowest unfinished:
        # adding and finishing are one dict operation each.
        self._open: dict[int, float | None] = {}
        self._last: int | None = None
        self._committed: int | None = None
        self.detached = False  # set when the partition is revoked or lost

    def __len__(self) -> int:
        """Records taken and not finished."""
        return len(self._open)

    def add(self, offset: int, timestamp: float | None = None) -> None:
        if self._last is not None and offset <= self._last:
            raise ValueError(f"offset {offset} arrived after {self._last}")
        self._last = offset
        self._open[offset] = timestamp

    def finish(self, offset: int) -> None:
        try:
            del self._open[offset]
        except KeyError:
            raise ValueError(f"offset {offset} is not pending") from None

    def oldest_pending(self) -> tuple[int, float | None] | None:
        """Offset and timestamp of the oldest unfinished record."""
        return next(iter(self._open.items()), None)

    def committable(self) -> int | None:
        """The offset to commit now if it moved since the last `mark_committed`, else None."""
        if self._last is None:
            return None
        position = next(iter(self._open), self._last + 1)
        if self._committed is not None and position <= self._committed:
            return None
        return position

    def mark_committed(self, offset: int) -> None:
        """What the broker holds now, even if lower than before: a commit librdkafka retried
        can land after a newer one and undo it, and the newer one must then be sent again."""
        self._committed = offset


class OffsetTracker:
    """Watermarks of every assigned partition, keyed by (topic, partition). Thread-safe.

    The Kafka thread adds and commits; the delivery loop finishes. `add` returns the
    partition's handle, and `finish` goes through it: once a partition is forgotten (revoked),
    a late finish lands on the detached handle and cannot touch a later assignment's state.
    """

    def __init__(self) -> None:
        self._partitions: dict[tuple[str, int], PartitionOffsets] = {}
        self._lock = threading.Lock()
        self._pending = 0
        self.finished = 0  # records finished in tracked partitions, ever
        # Told of every finished record (outside the lock): the identity links' done marks.
        self.on_finish: Callable[[PartitionOffsets, int], None] | None = None

    def add(
        self, topic: str, partition: int, offset: int, timestamp: float | None = None
    ) -> PartitionOffsets:
        with self._lock:
            return self._add(topic, partition, offset, timestamp)

    def add_many(
        self, records: Sequence[Record], timestamps: Sequence[float | None]
    ) -> list[PartitionOffsets]:
        """`add` of records read together (a poll batch's, in order; each its timestamp),
        under one lock: their partitions' handles, in their order."""
        with self._lock:
            add = self._add
            return [
                add(r.topic, r.partition, r.offset, t)
                for r, t in zip(records, timestamps, strict=True)
            ]

    def _add(
        self, topic: str, partition: int, offset: int, timestamp: float | None
    ) -> PartitionOffsets:
        """One record taken (the lock held)."""
        tracked = self._partitions.get((topic, partition))
        if tracked is None:
            tracked = self._partitions[topic, partition] = PartitionOffsets()
        tracked.add(offset, timestamp)
        self._pending += 1
        return tracked

    def finish(self, handle: PartitionOffsets, offset: int) -> None:
        self.finish_many(((handle, offset),))

    def finish_many(self, finished: Sequence[tuple[PartitionOffsets, int]]) -> None:
        """Finish records (each its handle and offset) under one lock: the records a turn of
        the delivery loop finished go together."""
        with self._lock:
            for handle, offset in finished:
                handle.finish(offset)
                if not handle.detached:
                    self._pending -= 1
                    self.finished += 1
        on_finish = self.on_finish
        if on_finish is not None:
            for handle, offset in finished:
                on_finish(handle, offset)

    def pending(self, partitions: set[tuple[str, int]] | None = None) -> int:
        """Records taken and not finished (in all partitions, or in `partitions`)."""
        with self._lock:
            if partitions is None:
                return self._pending
            return sum(len(t) for tp, t in self._partitions.items() if tp in partitions)

    def committable(self, only: set[tuple[str, int]] | None = None) -> dict[tuple[str, int], int]:
        """Offsets to commit now, per partition (all, or just `only`)."""
        with self._lock:
            found = {}
            for tp, tracked in self._partitions.items():
                if only is not None and tp not in only:
                    continue
                position = tracked.committable()
                if position is not None:
                    found[tp] = position
            return found

    def mark_committed(self, offsets: dict[tuple[str, int], int]) -> None:
        with self._lock:
            for tp, offset in offsets.items():
                tracked = self._partitions.get(tp)
                if tracked is not None:
                    tracked.mark_committed(offset)

    def forget(self, partitions: set[tuple[str, int]]) -> None:
        """Stop tracking revoked or lost partitions."""
        with self._lock:
            for tp in partitions:
                tracked = self._partitions.pop(tp, None)
                if tracked is not None:
                    tracked.detached = True
                    self._pending -= len(tracked)

    def oldest_pending(self) -> dict[tuple[str, int], tuple[int, float | None]]:
        """Per partition, offset and timestamp of the oldest unfinished record."""
        with self._lock:
            return {
                tp: oldest
                for tp, tracked in self._partitions.items()
                if (oldest := tracked.oldest_pending()) is not None
            }
