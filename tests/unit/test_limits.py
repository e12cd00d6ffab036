from __future__ import annotations

import asyncio

import pytest

from consumer.shell.delivery.limits import AdaptiveLimit, RateLimit


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_429_halves_once_per_cooldown_and_success_regrows_slowly() -> None:
    clock = Clock()
    limit = AdaptiveLimit(64, cooldown_s=1.0, clock=clock)
    limit.throttled()
    limit.throttled()  # the same burst of 429s
    assert limit.limit == 32
    clock.now = 1.5
    limit.throttled()
    assert limit.limit == 16
    for _ in range(16):
        limit.succeeded()
    assert 16.9 < limit.limit < 17.1  # about one per round of requests
    for _ in range(10_000):
        limit.succeeded()
    assert limit.limit == 64  # never above the ceiling
    for _ in range(20):
        clock.now += 2
        limit.throttled()
    assert limit.limit == 1  # never below one


def test_a_fixed_limit_ignores_429() -> None:
    limit = AdaptiveLimit(8, adaptive=False)
    limit.throttled()
    assert limit.limit == 8


def test_acquire_waits_for_a_free_slot_in_order() -> None:
    async def scenario() -> list[str]:
        limit = AdaptiveLimit(2)
        order: list[str] = []

        async def user(name: str, hold: asyncio.Event) -> None:
            await limit.acquire()
            order.append(name)
            await hold.wait()
            limit.release()

        holds = [asyncio.Event() for _ in range(4)]
        tasks = [asyncio.create_task(user(f"u{i}", holds[i])) for i in range(4)]
        await asyncio.sleep(0)
        assert order == ["u0", "u1"] and limit.in_use == 2
        holds[0].set()
        await asyncio.sleep(0.01)
        assert order == ["u0", "u1", "u2"]
        for hold in holds:
            hold.set()
        await asyncio.gather(*tasks)
        assert limit.in_use == 0
        return order

    assert asyncio.run(scenario()) == ["u0", "u1", "u2", "u3"]


def test_a_cancelled_waiter_gives_its_slot_back() -> None:
    async def scenario() -> int:
        limit = AdaptiveLimit(1)
        await limit.acquire()
        waiter = asyncio.create_task(limit.acquire())
        await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        limit.release()
        return limit.in_use

    assert asyncio.run(scenario()) == 0


def test_rate_limit_holds_the_average() -> None:
    clock = Clock()
    rate = RateLimit(100, clock=clock)
    delays = [rate.delay() for _ in range(110)]
    assert delays[:10] == [0.0] * 10  # a burst of a tenth of a second goes at once
    assert delays[-1] == pytest.approx(1.0, abs=0.02)  # then 100 per second
    assert RateLimit(0).delay() == 0.0
