"""The stand-in on a background thread of a test process, with the Python API tests use.

    with StandIn("user", "secret") as standin:
        httpx.post(standin.url, json=event, auth=("user", "secret"))
        assert standin.wait_received(1)[0].event == event

The server runs on its own event loop in a daemon thread, so it serves synchronous tests and
async clients alike; recording and faults are thread-safe objects shared with that loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterable
from types import TracebackType
from typing import Any, Self

from .contract import DEFAULT_PREFIX, MAX_BATCH_EVENTS, MAX_BODY_BYTES, Contract
from .faults import FaultPlan, Faults
from .recording import Received, Recorder, Rejected
from .server import Server

_THREAD_TIMEOUT_S = 10.0


class StandIn:
    """A Movable Ink stand-in on loopback; `keys=None` accepts any API key, else the first
    key is the one in `url`."""

    def __init__(
        self,
        username: str,
        password: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        control_port: int = 0,
        prefix: str = DEFAULT_PREFIX,
        keys: Iterable[str] | None = None,
        faults: Faults = Faults(),  # noqa: B008 - frozen, so sharing the default is safe
        max_body_bytes: int = MAX_BODY_BYTES,
        max_batch_events: int = MAX_BATCH_EVENTS,
    ) -> None:
        if isinstance(keys, str):
            keys = (keys,)
        contract = Contract(
            username,
            password,
            prefix,
            None if keys is None else tuple(keys),
            max_body_bytes,
            max_batch_events,
        )
        self.recorder = Recorder()
        self.plan = FaultPlan(faults)
        self._server = Server(
            contract, self.recorder, self.plan, host=host, port=port, control_port=control_port
        )
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None

    # Lifecycle

    def start(self) -> str:
        """Start serving; returns the endpoint URL (`.../behavioral/<key>`)."""
        if self._thread is not None:
            raise RuntimeError("The stand-in is already running.")
        ready = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._run(ready, failure)), name="standin", daemon=True
        )
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            self._thread = None
            raise failure[0]
        return self.url

    def stop(self) -> None:
        """Close every connection and listener and end the thread; safe to call twice."""
        if self._thread is None:
            return
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(_THREAD_TIMEOUT_S)
        self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def _run(self, ready: threading.Event, failure: list[BaseException]) -> None:
        try:
            self._loop = asyncio.get_running_loop()
            self._stopping = asyncio.Event()
            await self._server.start()
        except Exception as exc:
            failure.append(exc)
            return
        finally:
            ready.set()
        try:
            await self._stopping.wait()
        finally:
            await self._server.close()

    # Addresses

    @property
    def url(self) -> str:
        return self._server.url

    def url_for(self, key: str) -> str:
        return self._server.url_for(key)

    @property
    def control_url(self) -> str:
        """Base of the control API (`.../_standin`) on its own port, up even while `down()`."""
        return self._server.control_url

    @property
    def port(self) -> int:
        return self._server.port

    # Recording

    def received(self, person: str | None = None, since: int = 0) -> list[Received]:
        """Accepted events in arrival order, all or those carrying identity key `person`."""
        return self.recorder.received(person, since)

    def rejected(self, since: int = 0) -> list[Rejected]:
        return self.recorder.rejected(since)

    def stats(self) -> dict[str, Any]:
        """Counts by outcome, whether the endpoint is down, and its open connections."""
        return self._server.stats()

    def wait_received(self, count: int, timeout: float = 5.0) -> list[Received]:
        """All accepted events once there are at least `count`; TimeoutError otherwise."""
        self.recorder.wait_until(lambda: self.recorder.received_count() >= count, timeout)
        return self.received()

    def wait_rejected(self, count: int, timeout: float = 5.0) -> list[Rejected]:
        self.recorder.wait_until(lambda: self.recorder.rejected_count() >= count, timeout)
        return self.rejected()

    # Faults

    @property
    def faults(self) -> Faults:
        return self.plan.faults

    def set_faults(self, faults: Faults) -> None:
        """Replace every fault; rule counters, the random stream and rate-limit clock restart."""
        self.plan.replace(faults)

    def reset(self, *, faults: bool = True, received: bool = True) -> None:
        if faults:
            self.plan.replace(Faults())
        if received:
            self.recorder.clear()

    def down(self, for_s: float | None = None) -> None:
        """Refuse connections (listener closed, open connections cut) until `up()` or `for_s`."""
        self._call(self._server.down(for_s))

    def up(self) -> None:
        self._call(self._server.up())

    def _call(self, work: Coroutine[Any, Any, None]) -> None:
        if self._loop is None or self._thread is None:
            work.close()
            raise RuntimeError("The stand-in is not running.")
        asyncio.run_coroutine_threadsafe(work, self._loop).result(_THREAD_TIMEOUT_S)
