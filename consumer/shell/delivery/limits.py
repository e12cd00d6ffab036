"""How fast one destination may be called: adaptive concurrency and a request-rate ceiling.

`AdaptiveLimit` is AIMD: a 429 halves the number of concurrent requests (at most once per
`cooldown_s`, so one burst of 429s is one signal), each success adds `1/limit`, so the limit
grows by about one per round of requests, back up to the configured ceiling. `RateLimit` is a
token bucket that lets short bursts through and holds the average at `per_second`.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable


class AdaptiveLimit:
    """A semaphore whose size follows Movable Ink's answers."""

    def __init__(
        self,
        ceiling: int,
        *,
        adaptive: bool = True,
        cooldown_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ceiling = ceiling
        self.limit = float(ceiling)
        self.in_use = 0
        self._adaptive = adaptive
        self._cooldown_s = cooldown_s
        self._clock = clock
        self._last_decrease = -cooldown_s
        self._waiters: deque[asyncio.Future[None]] = deque()

    def try_acquire(self) -> bool:
        """Take a slot if one is free and nobody waits for one; never waits."""
        if self.in_use < int(self.limit) and not self._waiters:
            self.in_use += 1
            return True
        return False

    async def acquire(self) -> None:
        if self.try_acquire():
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the slot was handed over as we were cancelled: give it back
            else:
                self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        self.in_use -= 1
        if self._waiters:
            self._wake()

    def _wake(self) -> None:
        while self._waiters and self.in_use < int(self.limit):
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.in_use += 1
                waiter.set_result(None)

    def throttled(self) -> None:
        """Movable Ink said 429: halve, unless it was halved within the cooldown."""
        now = self._clock()
        if self._adaptive and now - self._last_decrease >= self._cooldown_s:
            self.limit = max(1.0, self.limit / 2)
            self._last_decrease = now

    def succeeded(self) -> None:
        if self._adaptive and self.limit < self.ceiling:
            self.limit = min(float(self.ceiling), self.limit + 1 / self.limit)
            self._wake()


class RateLimit:
    """At most `per_second` requests per second on average (0: unlimited)."""

    def __init__(self, per_second: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_second = per_second
        self._burst = max(1.0, per_second / 10)
        self._tokens = self._burst
        self._clock = clock
        self._updated = clock()

    @property
    def limited(self) -> bool:
        """False for 0 (unlimited): then nobody need take a token, or wait for one."""
        return self.per_second > 0

    def delay(self) -> float:
        """Take a token; return how long to wait before using it (0 if none)."""
        if not self.limited:
            return 0.0
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._updated) * self.per_second)
        self._updated = now
        self._tokens -= 1
        return 0.0 if self._tokens >= 0 else -self._tokens / self.per_second

    async def wait(self) -> float:
        """Wait for a token; return how long that took."""
        pause = self.delay()
        if pause > 0:
            await asyncio.sleep(pause)
        return pause
