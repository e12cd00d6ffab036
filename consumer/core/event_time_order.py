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
from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar

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


@dataclass(order=True, slots=True)
class _Held(Generic[Item]):
    """One record waiting: its place in the merge (time, rank, then where it was read)."""

    time: float
    rank: int
    partition: Partition
    offset: int
    read_at: float = field(compare=False)
    step: int = field(compare=False)
    item: Item = field(compare=False)


@dataclass(frozen=True, slots=True)
class Released(Generic[Item]):
    """A record handed on: how long it was held, and why early if it was (None: in order)."""

    item: Item
    held_s: float
    reason: ReleaseReason | None


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
        held = _Held(time, order, partition, offset, now, step, item)
        queue = self._queues.get(partition)
        if queue is None:
            queue = self._queues[partition] = deque()
        queue.append(held)
        if len(queue) == 1:
            heapq.heappush(self._heads, held)
        self._count += 1

    def release(self, now: float, step: int, partitions: Partitions) -> list[Released[Item]]:
        """Hand on every record whose turn has come, in merge order."""
        out: list[Released[Item]] = []
        while self._heads:
            head = self._heads[0]
            waits_for_reading = self._waits(head, step, partitions.reading, partitions.at_end)
            if not waits_for_reading:
                idle_wait = self._waits(head, step, partitions.idle, frozenset())
                self._pop(head, now, "paused" if idle_wait else None, out)
            elif now - head.read_at >= self.window_s:
                self._pop(head, now, "window", out)
            elif not self._release_expired(now, out):
                break
        return out

    def release_all(self, now: float, reason: ReleaseReason) -> list[Released[Item]]:
        """Hand on everything held, in merge order (a full buffer, a shutdown)."""
        out: list[Released[Item]] = []
        while self._heads:
            self._pop(self._heads[0], now, reason, out)
        return out

    def release_partitions(
        self, partitions: Iterable[Partition], now: float, reason: ReleaseReason
    ) -> list[Released[Item]]:
        """Hand on what is held of these partitions (revoked: finish it before letting go),
        each partition's in log order."""
        out: list[Released[Item]] = []
        for partition in partitions:
            queue = self._queues.get(partition)
            while queue:
                self._pop(queue[0], now, reason, out)
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

    def _waits(
        self,
        head: _Held[Item],
        step: int,
        partitions: frozenset[Partition],
        at_end: frozenset[Partition],
    ) -> bool:
        """Whether one of `partitions` could still hold an event earlier than `head`: it
        holds nothing, has not been read past the head's time, and is not known (since the
        head was read) to be at its end. A partition holding records has been read past them,
        and they come after the head in the merge."""
        for partition in partitions:
            if partition == head.partition or self._queues.get(partition):
                continue
            if partition in at_end and step > head.step:
                continue
            if self._read_to.get(partition, -math.inf) < head.time:
                return True
        return False

    def _release_expired(self, now: float, out: list[Released[Item]]) -> bool:
        """The earliest head whose window has run out, if any, handed on: a later record of
        another partition may have waited longer than the merge's first."""
        expired = [h for h in self._heads if now - h.read_at >= self.window_s]
        if not expired:
            return False
        self._pop(min(expired), now, "window", out)
        return True

    def _pop(
        self,
        head: _Held[Item],
        now: float,
        reason: ReleaseReason | None,
        out: list[Released[Item]],
    ) -> None:
        queue = self._queues[head.partition]
        queue.popleft()
        if self._heads[0] is head:
            heapq.heappop(self._heads)
        else:  # handed on out of merge order: its window ran out, or its partition was revoked
            self._heads = [h for h in self._heads if h is not head]
            heapq.heapify(self._heads)
        if queue:
            heapq.heappush(self._heads, queue[0])
        else:
            del self._queues[head.partition]
        self._count -= 1
        out.append(Released(head.item, max(0.0, now - head.read_at), reason))
