"""Per-person happens-before: an event starts only after the previous event of each of its keys.

Each identity key has a FIFO of the events that carry it. An event is *ready* when it heads
the FIFO of every one of its keys; when it finishes it leaves them, and the events now at the
heads become ready if they head all their other FIFOs too. So an identify `{A, U}` waits for
earlier `A` and earlier `U` events, and later `A`-only or `U`-only events wait for it, while
events of other people never wait at all. Pure in-memory state: no I/O, no clocks.

A hot key (one person with thousands of pending events) costs one FIFO entry per event and
delivers them strictly one after another; the buffer bound (the consumer pauses partitions when
it is reached) is what keeps such a backlog finite.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterable, Iterator
from typing import Generic, TypeVar

Entry = TypeVar("Entry", bound=Hashable)


class Scheduler(Generic[Entry]):
    """Tracks waiting and running items by identity key; tells which may start. Items are
    told apart by identity (`is`), as jobs are."""

    def __init__(self) -> None:
        self._queues: dict[str, deque[Entry]] = {}
        self._keys: dict[Entry, tuple[str, ...]] = {}

    def __len__(self) -> int:
        """Items added and not yet finished (waiting or running)."""
        return len(self._keys)

    def __contains__(self, item: object) -> bool:
        return item in self._keys

    def __iter__(self) -> Iterator[Entry]:
        """Unfinished items, in arrival order."""
        return iter(list(self._keys))

    def add(self, item: Entry, keys: Iterable[str]) -> bool:
        """Register an item in arrival order; True if it may start at once (every one of its
        keys had nothing unfinished)."""
        if item in self._keys:
            raise ValueError(f"{item!r} is already scheduled")
        own = tuple(dict.fromkeys(keys))
        self._keys[item] = own
        ready = True
        queues = self._queues
        for key in own:
            queue = queues.get(key)
            if queue is None:
                queues[key] = deque((item,))
            else:
                queue.append(item)
                ready = False
        return ready

    def finish(self, item: Entry) -> list[Entry]:
        """Mark a running item finished (delivered or given up); return items now ready."""
        keys = self._keys.pop(item)
        candidates: list[Entry] = []
        for key in keys:
            queue = self._queues[key]
            if not queue or queue[0] is not item:
                self._keys[item] = keys
                raise ValueError(f"{item!r} was not ready, so it cannot finish")
            queue.popleft()
            if queue:
                candidates.append(queue[0])
            else:
                del self._queues[key]
        if not candidates:  # the common case: nobody of these keys was waiting
            return candidates
        return [c for c in dict.fromkeys(candidates) if self._ready(c)]

    def remove(self, item: Entry) -> list[Entry]:
        """Drop an item that has not started (its partition was revoked); return items now ready."""
        keys = self._keys.pop(item)
        candidates: list[Entry] = []
        for key in keys:
            queue = self._queues[key]
            was_head = queue[0] is item
            queue.remove(item)
            if not queue:
                del self._queues[key]
            elif was_head:
                candidates.append(queue[0])
        return [c for c in dict.fromkeys(candidates) if self._ready(c)]

    def _ready(self, item: Entry) -> bool:
        queues = self._queues
        for key in self._keys[item]:  # noqa: SIM110 (a loop, not all(): no generator per call)
            if queues[key][0] is not item:
                return False
        return True

    def waiting_behind(self, key: str) -> int:
        """How many items of `key` wait behind its head (a gauge of a held-back person)."""
        queue = self._queues.get(key)
        return len(queue) - 1 if queue else 0

    def keys(self) -> int:
        """Identity keys with at least one unfinished item."""
        return len(self._queues)
