"""What every long-running command shares: signals that stop it, a heartbeat for /healthz, and
start-up steps retried while Kafka is unreachable."""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from collections.abc import Callable

from consumer.core.errors import BrokerError
from consumer.shell.status import Health

log = logging.getLogger(__name__)
STARTUP_BACKOFF_S = (1.0, 30.0)


async def heartbeat(health: Health) -> None:
    """Proves to /healthz that the delivery loop keeps turning."""
    while True:
        health.loop_beat = time.monotonic()
        await asyncio.sleep(1.0)


async def until_done(
    step: Callable[[], None], what: str, health: Health, stop: threading.Event
) -> bool:
    """Run `step` in a thread until it succeeds (True) or `stop` is set (False).

    An unreachable broker is not a configuration error: keep trying with backoff, one log
    line per attempt, and say why in /readyz meanwhile.
    """
    delay = STARTUP_BACKOFF_S[0]
    attempt = 1
    while not stop.is_set():
        try:
            await asyncio.to_thread(step)
            return True
        except BrokerError as exc:
            health.starting = f"waiting for Kafka to {what}: {exc}"
            log.warning(
                "could not %s; trying again",
                what,
                extra={"attempt": attempt, "retry_s": delay, "error": str(exc)},
            )
        await asyncio.to_thread(stop.wait, delay)
        delay = min(delay * 2, STARTUP_BACKOFF_S[1])
        attempt += 1
    return False


def stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM and SIGINT set `stop` (only the main thread can install handlers)."""
    if threading.current_thread() is threading.main_thread():
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
