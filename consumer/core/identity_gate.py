"""Order across a consumer group: a userId-only event waits for the identifies other pods hold.

With the anonymousId-first keying a person's client events share partition(anonymousId), but a
server-side event carrying only `userId` lands on partition(userId), often owned by another pod.
That pod could deliver it before the identify that links the anonymousId to the userId. So the
pods share, through a small topic, the links they have read and not finished and how far they
have read each partition; an event whose identity keys are exactly `(userId,)` (record time
`t`, partition `p`) waits while, with `h = t + skew` (record timestamps are only so exact: two
producers' clocks, or one batch stamped partition by partition, put a later record a little
earlier),

* another pod holds a *pending* link for its userId whose time is at or before
  `t + max(skew, hold_max)`: a link seen is waited for even if stamped well after the event
  (one producer's batch is stamped partition by partition, so under load an identify can carry
  a later time than the server event written after it; the wait is bounded by `hold_max`
  anyway, and ends as soon as the link is done), or
* a partition this pod does not read has not been read up to `h` by its owner (its pending
  links up to `h` may still be on their way: a pod publishes a link before the progress that
  passes it, to one partition of the links topic, so once the progress is seen the link is).
  A partition counts as read up to `h` only once a record stamped at or after `h` has been
  read from it, or its owner has read it to an end offset the broker gave when asked at or
  after `h` (`EndProbes`): being "at the end" of the last fetch is no such claim, since
  records appended since that fetch are not counted in it.

Never longer than `hold_max`: a dead links topic, a crashed pod or a lagging partition cost
the guarantee, never delivery (the release is counted by its reason). Later events sharing an
identity key with a held one wait behind it (they *follow*), so the gate itself reorders no one.

Links are identified by the source record's position: after a takeover the new owner re-reads
the identify and publishes the same link again, which is a no-op once its *done* is known. An
event held when its identify's partition is taken over by its own pod cannot wait for it any
more (the re-read identify follows it): it goes at once, counted as released by `takeover`. Of
the progress of a partition the largest seen wins, so a zombie cannot move it back. A pod's own
links and partitions are not waited for: inside one process the hand-over is in event-time
order (`event_time_order`) and the per-person scheduler orders the rest.

Pure state: the caller passes the clock (epoch seconds) and what it reads from the topic.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar

from consumer.core.released import Released
from consumer.core.tuples import record

Item = TypeVar("Item")
Partition = tuple[str, int]
LinkId = tuple[str, int, int]  # the linking record's topic, partition and offset
GateMode = Literal["off", "observe", "enforce"]
# Why an event was handed on while it might still overtake an identify on another pod.
GateReason = Literal["hold_max", "links_unavailable", "full", "revoked", "shutdown", "takeover"]
# What a waiting event was waiting for when first checked (observe counts these).
WaitCause = Literal["link", "progress"]


def user_only(message: dict[str, object] | None, keys: tuple[str, ...]) -> str | None:
    """The userId of an event whose only identity key is its userId (no anonymousId)."""
    if message is None or len(keys) != 1 or message.get("type") == "alias":
        return None
    user = message.get("userId")
    return keys[0] if user is not None and str(user) == keys[0] else None


def linked_user(message: dict[str, object] | None, keys: tuple[str, ...]) -> str | None:
    """The userId an identify or alias with two ids links to (`segment.identity_keys`)."""
    if message is None or len(keys) != 2 or message.get("type") not in ("identify", "alias"):
        return None
    return keys[1]


@dataclass(slots=True)
class _Link:
    user: str
    partition: Partition
    time: float
    by: str  # the pod that published it last
    seen: float
    taken: float = -math.inf  # when this pod re-read it after another pod had published it


@dataclass(slots=True)
class _Progress:
    read_to: float = -math.inf  # the latest record time read
    caught_up_at: float = -math.inf  # when its owner last saw it at its end (owner's clock)


@dataclass(eq=False, slots=True)
class _Held(Generic[Item]):
    item: Item | None  # None in observe: watched, already handed on
    keys: tuple[str, ...]
    user: str | None  # set when the event itself is checked (userId-only)
    partition: Partition
    time: float
    since: float
    cause: WaitCause | None = None
    done: bool = field(default=False)


@dataclass(frozen=True, slots=True)
class Watched:
    """An observed event whose watch ended: what it would have waited for (None: nothing)."""

    cause: WaitCause | None
    would_wait_s: float


class IdentityGate(Generic[Item]):
    """Pending links, read progress and the events waiting on them (module docstring)."""

    def __init__(self, me: str, hold_max: float, skew: float, horizon: float = 3600.0) -> None:
        self.me = me
        self.hold_max = hold_max
        self.skew = skew
        self.horizon = horizon  # links older than this are forgotten (the topic's retention)
        self._links: dict[LinkId, _Link] = {}
        self._by_user: dict[str, set[LinkId]] = {}
        self._done: dict[LinkId, float] = {}  # done links, when seen (idempotent re-reads)
        self._progress: dict[Partition, _Progress] = {}
        self._partitions: frozenset[Partition] = frozenset()  # every input partition
        self._mine: frozenset[Partition] = frozenset()  # the partitions this pod reads
        self._others: frozenset[Partition] = frozenset()  # the rest
        self._mine_since: dict[Partition, float] = {}  # when each became this pod's
        self.available = False  # the links topic is read (our own progress comes back)
        self._queues: dict[str, deque[_Held[Item]]] = {}  # per identity key, arrival order
        self._held: list[_Held[Item]] = []  # arrival order
        self._watched: list[_Held[Item]] = []  # observe: events handed on, still watched

    # -- what the links topic says ----------------------------------------------------------

    def pending(self, link: LinkId, user: str, time: float, by: str, now: float) -> None:
        if link in self._done:
            return
        known = self._links.get(link)
        if known is not None:
            if by == self.me and known.by != self.me:
                known.taken = now
            known.by = by  # a re-read after a takeover: the new owner holds it now
            return
        self._links[link] = _Link(user, (link[0], link[1]), time, by, now)
        self._by_user.setdefault(user, set()).add(link)

    def done(self, link: LinkId, now: float) -> None:
        self._done[link] = now
        known = self._links.pop(link, None)
        if known is not None:
            users = self._by_user[known.user]
            users.discard(link)
            if not users:
                del self._by_user[known.user]

    def progress(self, partition: Partition, read_to: float, caught_up_at: float | None) -> None:
        """A partition's owner has read it up to `read_to` (record time), and was at its end
        at `caught_up_at`; the largest of each wins."""
        known = self._progress.get(partition)
        if known is None:
            known = self._progress[partition] = _Progress()
        known.read_to = max(known.read_to, read_to)
        if caught_up_at is not None:
            known.caught_up_at = max(known.caught_up_at, caught_up_at)

    @property
    def mine(self) -> frozenset[Partition]:
        return self._mine

    @mine.setter
    def mine(self, partitions: frozenset[Partition]) -> None:
        self._mine = partitions
        self._others = self._partitions - partitions

    def set_mine(self, partitions: Iterable[Partition], now: float) -> None:
        """The partitions this pod reads now (those newly assigned: since `now`)."""
        mine = frozenset(partitions)
        if mine == self._mine:
            return
        for partition in mine - self.mine:
            self._mine_since[partition] = now
        for partition in self.mine - mine:
            self._mine_since.pop(partition, None)
        self.mine = mine

    def set_partitions(self, partitions: Iterable[Partition]) -> None:
        self._partitions = frozenset(partitions)
        self._others = self._partitions - self._mine

    def expire(self, now: float) -> None:
        """Forget links and done marks older than the horizon (the topic no longer has them)."""
        old = now - self.horizon
        for link in [k for k, v in self._links.items() if v.seen < old]:
            self.done(link, now)
            del self._done[link]
        for link in [k for k, at in self._done.items() if at < old]:
            del self._done[link]

    def links_pending(self) -> int:
        return len(self._links)

    def progress_age(self, now: float) -> float:
        """How far behind `now` the least-read partition another pod owns is (0 if none)."""
        if not self._partitions:
            return math.inf  # not even the input partitions are known yet
        others = self._others
        if not others:
            return 0.0
        slowest = min(self._read_to(p) for p in others)
        return max(0.0, now - slowest) if slowest > -math.inf else math.inf

    # -- the events -------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._held) + len(self._watched)

    def follows(self, keys: tuple[str, ...]) -> bool:
        """Whether an event with these keys must wait behind a held one."""
        queues = self._queues
        return bool(queues) and any(key in queues for key in keys)

    def waits(self, user: str, partition: Partition, time: float) -> WaitCause | None:
        """What a userId-only event would wait for now (None: nothing). While the links
        topic is not being read nothing is known: it waits (for `hold_max` at most)."""
        if not self.available:
            return "progress"
        horizon = time + self.skew
        linked = time + max(self.skew, self.hold_max)
        for link_id in self._by_user.get(user, ()):
            link = self._links[link_id]
            if link.by != self.me and link.time <= linked and link.partition != partition:
                return "link"
        for other in self._others:
            if other != partition and self._read_to(other) < horizon:
                return "progress"
        return None

    def hold(
        self,
        item: Item,
        keys: tuple[str, ...],
        user: str | None,
        partition: Partition,
        time: float,
        now: float,
    ) -> WaitCause | Literal["follow"] | None:
        """Check an event to deliver (enforce): it waits (held here, what for returned) if it
        is userId-only and would wait, or if it follows a held event; else None: hand it on."""
        following = self.follows(keys)
        cause = None if user is None else self.waits(user, partition, time)
        if cause is None and not following:
            return None
        held = _Held(item, keys, user, partition, time, now, cause)
        self._held.append(held)
        for key in keys:
            self._queues.setdefault(key, deque()).append(held)
        return "follow" if cause is None else cause

    def watch(self, user: str, partition: Partition, time: float, now: float) -> WaitCause | None:
        """Check an event handed on at once (observe): while it would wait only for progress,
        it is watched, to learn whether a link it would have waited for turns up."""
        cause = self.waits(user, partition, time)
        if cause == "progress":
            self._watched.append(_Held(None, (), user, partition, time, now, cause))
        return cause

    def due(self, now: float) -> list[Released[Item, GateReason]]:
        """The held events whose turn has come, in arrival order."""
        out: list[Released[Item, GateReason]] = []
        for held in self._held:
            if not all(self._queues[key][0] is held for key in held.keys):
                continue
            if held.user is not None and self._taken_over(held):
                self._pop(held, now, "takeover", out)
            elif held.user is not None and self.waits(held.user, held.partition, held.time):
                if now - held.since < self.hold_max:
                    continue
                self._pop(held, now, "hold_max" if self.available else "links_unavailable", out)
            else:
                self._pop(held, now, None, out)
        if out:
            self._held = [h for h in self._held if not h.done]
        return out

    def watch_over(self, now: float) -> list[Watched]:
        """Watched events whose wait would be over, or that would now wait for a link (then
        their watch ends at once): what each would have waited for."""
        out: list[Watched] = []
        keep: list[_Held[Item]] = []
        for held in self._watched:
            assert held.user is not None
            cause = self.waits(held.user, held.partition, held.time)
            if cause == "progress" and now - held.since < self.hold_max:
                keep.append(held)
                continue
            out.append(Watched(cause or held.cause, now - held.since))
        self._watched = keep
        return out

    def release_all(self, now: float, reason: GateReason) -> list[Released[Item, GateReason]]:
        """Everything held, in arrival order (a full buffer, a shutdown)."""
        out: list[Released[Item, GateReason]] = []
        for held in self._held:
            self._pop(held, now, reason if held.user is not None else None, out)
        self._held = []
        return out

    def release_partitions(
        self, partitions: Iterable[Partition], now: float, reason: GateReason
    ) -> list[Released[Item, GateReason]]:
        """What is held of these partitions (revoked: finished before they go); what followed
        it goes at the next `due`."""
        gone = set(partitions)
        out: list[Released[Item, GateReason]] = []
        for held in self._held:
            if held.partition in gone:
                self._pop(held, now, reason if held.user is not None else None, out)
        self._held = [h for h in self._held if not h.done]
        return out

    def forget(self, partitions: Iterable[Partition]) -> None:
        """Drop what is held of these partitions (lost: another pod delivers them)."""
        gone = set(partitions)
        for held in self._held:
            if held.partition in gone:
                self._unqueue(held)
        self._held = [h for h in self._held if not h.done]

    # -- internals ----------------------------------------------------------------------------

    def _taken_over(self, held: _Held[Item]) -> bool:
        """Whether an identify it waited for is now this pod's, read again after it was held
        (a takeover): that identify follows it here, so it goes first, without the guarantee."""
        linked = held.time + max(self.skew, self.hold_max)
        for link_id in self._by_user.get(held.user or "", ()):
            link = self._links[link_id]
            if link.by != self.me or link.partition == held.partition or link.time > linked:
                continue
            if max(link.taken, self._mine_since.get(link.partition, -math.inf)) >= held.since:
                return True
        return False

    def _read_to(self, partition: Partition) -> float:
        """How far a partition is known to have been read, in record time; a caught-up
        partition up to when its owner saw its end."""
        known = self._progress.get(partition)
        if known is None:
            return -math.inf
        return max(known.read_to, known.caught_up_at)

    def _pop(
        self,
        held: _Held[Item],
        now: float,
        reason: GateReason | None,
        out: list[Released[Item, GateReason]],
    ) -> None:
        self._unqueue(held)
        assert held.item is not None
        out.append(record(Released, (held.item, max(0.0, now - held.since), reason)))

    def _unqueue(self, held: _Held[Item]) -> None:
        held.done = True
        for key in held.keys:
            queue = self._queues[key]
            queue.remove(held)
            if not queue:
                del self._queues[key]


class EndProbes:
    """When a pod may say "I have read partition p to its end": only up to an end offset the
    broker gave, and only as of the moment it was asked (records appended later may carry an
    earlier time, but no earlier than that moment minus the skew).

    The links thread asks the broker the end offsets of the partitions this pod reads
    (`asked`); the Kafka thread, publishing progress, passes each partition's position (the
    next offset it will hand on) and learns the latest moment whose end it has read
    (`caught_up_at`). A position that is unknown (nothing read since the assignment) is
    passed as the committed offset, if known."""

    def __init__(self, most: int = 64) -> None:
        self._most = most  # asks kept per partition (older ones are dropped)
        self._asked: dict[Partition, deque[tuple[float, int]]] = {}
        self._reached: dict[Partition, float] = {}

    def asked(self, partition: Partition, at: float, end: int) -> None:
        """The broker said the end offset of `partition` was `end` when asked at `at`."""
        queue = self._asked.setdefault(partition, deque(maxlen=self._most))
        queue.append((at, end))

    def caught_up_at(self, partition: Partition, position: int | None) -> float | None:
        """The latest moment at which the broker's end of `partition` was at or below
        `position` (None: never known to be read to its end)."""
        queue = self._asked.get(partition)
        if position is not None and queue:
            while queue and queue[0][1] <= position:
                at, _ = queue.popleft()
                self._reached[partition] = max(self._reached.get(partition, at), at)
        return self._reached.get(partition)

    def forget(self, partitions: Iterable[Partition]) -> None:
        for partition in partitions:
            self._asked.pop(partition, None)
            self._reached.pop(partition, None)
