"""Order across partitions inside one process: the records it holds, merged by event time.

Kafka orders records only within a partition. When one person's events sit on several
partitions (a topic without keys, or a userId-only server event on partition(userId)), the only
record of their order is time. So, as Kafka Streams merges the partitions of a task, the
records read are handed on as one sequence: next goes the earliest head of any partition, once
every other partition that is being read has been read past its time or is known to be at its
end. Log order within a partition always wins (only heads are handed on).

Every wait is bounded: a record waits at most `window_s`; a partition that is not being read
(paused for back-pressure, blocked, revoked, finished) is never waited for; the caller releases
everything when the buffer is full or the consumer stops. A record handed on while a partition
it waited for might still hold an earlier event is counted by its reason (`ReleaseReason`).

"At its end" counts only when it was seen in a later step than the one that read the record:
the consumer's view of a partition's end comes from its last fetch, and a record of another
partition read in the same step may have overtaken the fetch of an earlier one.

Pure state: the caller passes the clock, the step number and what each partition is doing.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Generic, Literal, NamedTuple, TypeVar

from consumer.core.released import Released
from consumer.core.tuples import record

Item = TypeVar("Item")
Partition = tuple[str, int]
# Why a record was handed on before every partition it waited for had been read past its time.
ReleaseReason = Literal["window", "paused", "full", "revoked", "shutdown"]
# Events that link identities go before others of the same moment (an identify and a track
# stamped in the same millisecond: the track is attributed only after the identify).
LINKING_TYPES = frozenset({"identify", "alias"})


def rank(message_type: object) -> int:
    """The tie-break of two events of the same time: identify and alias first."""
    return 0 if message_type in LINKING_TYPES else 1


class _Held(NamedTuple, Generic[Item]):
    """One record waiting: its place in the merge (time, rank, then where it was read), which
    is also how the heap of queue heads compares it: a tuple, compared in C. No two records
    share (partition, offset), so the fields after those are never compared."""

    time: float
    rank: int
    partition: Partition
    offset: int
    read_at: float
    step: int
    item: Item


@dataclass(frozen=True)
class Partitions:
    """What the caller knows of each assigned partition at this step."""

    reading: frozenset[Partition]  # assigned and being fetched (not paused, blocked, finished)
    idle: frozenset[Partition] = frozenset()  # not being read, but assigned (paused, blocked)
    at_end: frozenset[Partition] = frozenset()  # reading, and read up to the end known


class EventTimeMerge(Generic[Item]):
    """The records held for order, per partition in log order; see the module docstring."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._queues: dict[Partition, deque[_Held[Item]]] = {}
        self._heads: list[_Held[Item]] = []  # a heap of the queues' heads
        self._read_to: dict[Partition, float] = {}  # the latest event time read, per partition
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def read_to(self, partition: Partition, time: float) -> None:
        """A record of `partition` with this time was read (held or not): the partition has
        been read past `time`."""
        if time > self._read_to.get(partition, -math.inf):
            self._read_to[partition] = time

    def add(
        self,
        partition: Partition,
        offset: int,
        time: float,
        order: int,
        item: Item,
        *,
        now: float,
        step: int,
    ) -> None:
        """Hold a record; records of one partition must come in log order."""
        self.read_to(partition, time)
        held: _Held[Item] = record(_Held, (time, order, partition, offset, now, step, item))
        queue = self._queues.get(partition)
        if queue is None:
            queue = self._queues[partition] = deque()
        queue.append(held)
        if len(queue) == 1:
            heapq.heappush(self._heads, held)
        self._count += 1

    def release(
        self, now: float, step: int, partitions: Partitions
    ) -> list[Released[Item, ReleaseReason]]:
        """Hand on every record whose turn has come, in merge order."""
        out: list[Released[Item, ReleaseReason]] = []
        lows = _Lows(self, partitions)
        while self._heads:
            head = self._heads[0]
            if not lows.reading_waits(head, step):
                reason: ReleaseReason | None = "paused" if lows.idle_waits(head) else None
                lows.emptied(self._pop(head, now, reason, out))
            elif now - head.read_at >= self.window_s:
                lows.emptied(self._pop(head, now, "window", out))
            else:
                expired = self._expired_head(now)
                if expired is None:
                    break
                lows.emptied(self._pop(expired, now, "window", out))
        return out

    def release_all(self, now: float, reason: ReleaseReason) -> list[Released[Item, ReleaseReason]]:
        """Hand on everything held, in merge order (a full buffer, a shutdown)."""
        out: list[Released[Item, ReleaseReason]] = []
        while self._heads:
            self._pop(self._heads[0], now, reason, out)
        return out

    def release_partitions(
        self, partitions: Iterable[Partition], now: float, reason: ReleaseReason
    ) -> list[Released[Item, ReleaseReason]]:
        """Hand on what is held of these partitions (revoked: finish it before letting go),
        each partition's in log order."""
        out: list[Released[Item, ReleaseReason]] = []
        for partition in partitions:
            queue = self._queues.get(partition)
            while queue:  # the partition's queue goes once it is empty
                self._pop(queue[0], now, reason, out)
                queue = self._queues.get(partition)
            self._read_to.pop(partition, None)
        return out

    def forget(self, partitions: Iterable[Partition]) -> int:
        """Drop what is held of these partitions (lost: their records are another's now)."""
        dropped = 0
        for partition in partitions:
            queue = self._queues.pop(partition, None)
            self._read_to.pop(partition, None)
            if queue:
                dropped += len(queue)
        if dropped:
            self._count -= dropped
            self._heads = [h for h in self._heads if h.partition in self._queues]
            heapq.heapify(self._heads)
        return dropped

    # -- internals ---------------------------------------------------------------------------

    def _expired_head(self, now: float) -> _Held[Item] | None:
        """The earliest head whose window has run out: a later record of another partition may
        have waited longer than the merge's first."""
        expired = [h for h in self._heads if now - h.read_at >= self.window_s]
        return min(expired) if expired else None

    def holds(self, partition: Partition) -> bool:
        return bool(self._queues.get(partition))

    def read_time(self, partition: Partition) -> float:
        return self._read_to.get(partition, -math.inf)

    def _pop(
        self,
        head: _Held[Item],
        now: float,
        reason: ReleaseReason | None,
        out: list[Released[Item, ReleaseReason]],
    ) -> Partition | None:
        """Hand on a head; the partition it leaves empty, if it does."""
        queue = self._queues[head.partition]
        queue.popleft()
        if self._heads[0] is head:
            heapq.heappop(self._heads)
        else:  # handed on out of merge order: its window ran out, or its partition was revoked
            self._heads = [h for h in self._heads if h is not head]
            heapq.heapify(self._heads)
        emptied = None
        if queue:
            heapq.heappush(self._heads, queue[0])
        else:
            del self._queues[head.partition]
            emptied = head.partition
        self._count -= 1
        out.append(record(Released, (head.item, max(0.0, now - head.read_at), reason)))
        return emptied


class _Lows:
    """For one `release` call: how far the partitions that hold nothing have been read, as the
    lowest such time, so that whether a head waits is one comparison, not a walk over every
    partition. A partition holding records has been read past them, and they come after the
    head in the merge, so only the empty ones can make a head wait."""

    def __init__(self, merge: EventTimeMerge[Any], partitions: Partitions) -> None:
        self._merge = merge
        self._partitions = partitions
        self.reading = math.inf  # empty reading partitions not known to be at their end
        self.reading_or_end = math.inf  # every empty reading partition
        self.idle = math.inf  # empty partitions not being read
        for partition in partitions.reading | partitions.idle:
            if not merge.holds(partition):
                self.emptied(partition)

    def emptied(self, partition: Partition | None) -> None:
        """`partition` holds nothing (any more): its read time now counts."""
        if partition is None:
            return
        time = self._merge.read_time(partition)
        if partition in self._partitions.reading:
            self.reading_or_end = min(self.reading_or_end, time)
            if partition not in self._partitions.at_end:
                self.reading = min(self.reading, time)
        elif partition in self._partitions.idle:
            self.idle = min(self.idle, time)

    def reading_waits(self, head: _Held[Any], step: int) -> bool:
        """Whether a partition being read could still hold an event earlier than `head`. An
        end counts only when seen in a later step than the one that read the head."""
        low = self.reading if step > head.step else self.reading_or_end
        return low < head.time

    def idle_waits(self, head: _Held[Any]) -> bool:
        return self.idle < head.time
