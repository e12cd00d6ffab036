"""The stand-in's asyncio server: two listeners, the connection loop, routing, down and up.

The main listener serves the Movable Ink endpoint (and the control API, for convenience). The
control listener serves only the control API and stays up while the main one is down, so an
out-of-process stand-in can be brought back over HTTP.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import KW_ONLY, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from . import control
from .contract import Contract, Refusal
from .faults import FaultPlan
from .http11 import (
    MAX_HEAD_BYTES,
    ProtocolError,
    Request,
    Response,
    json_response,
    read_request,
    render,
)
from .recording import Recorder, message_ids

log = logging.getLogger("standin")
_Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
_OK_ONE = json_response(200, {"status": "ok", "accepted": 1})


@dataclass(eq=False)
class Server:
    """Serves one contract; recording and faults are shared objects the caller also holds.

    `port` and `control_port` 0 pick free ports; `start` writes the ones bound back."""

    contract: Contract
    recorder: Recorder
    plan: FaultPlan
    _: KW_ONLY
    host: str = "127.0.0.1"
    port: int = 0
    control_port: int = 0
    _main: asyncio.Server | None = field(default=None, init=False)
    _control: asyncio.Server | None = field(default=None, init=False)
    # Every open connection, its handler task, and whether it came through the main listener.
    _connections: dict[asyncio.StreamWriter, tuple[asyncio.Task[Any], bool]] = field(
        default_factory=dict, init=False
    )
    _open_main: int = field(default=0, init=False)  # a plain count, other threads read it
    _revive: asyncio.Task[None] | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return self.url_for(self.contract.url_key)

    def url_for(self, key: str) -> str:
        return f"http://{_host(self.host)}:{self.port}{self.contract.prefix}{key}"

    @property
    def control_url(self) -> str:
        return f"http://{_host(self.host)}:{self.control_port}{control.PREFIX.rstrip('/')}"

    @property
    def is_down(self) -> bool:
        return self._main is None

    def stats(self) -> dict[str, Any]:
        return {**self.recorder.counts(), "down": self.is_down, "connections": self._open_main}

    async def start(self) -> None:
        self._main = await self._listen(self._on_main, self.port)
        self.port = self._main.sockets[0].getsockname()[1]
        self._control = await self._listen(self._on_control, self.control_port)
        self.control_port = self._control.sockets[0].getsockname()[1]

    async def down(
        self, for_s: float | None = None, spare: asyncio.StreamWriter | None = None
    ) -> None:
        """Close the listening socket and every endpoint connection but `spare`, so clients see
        refused connections; come back up by itself after `for_s` seconds if given."""
        self._cancel_revive()
        if self._main is not None:
            self._main.close()  # closes the listening socket now; no wait_closed, `spare` is open
            self._main = None
            self._drop(lambda writer, main: main and writer is not spare)
            log.info("Stand-in down: port %d refuses connections.", self.port)
        if for_s is not None:
            self._revive = asyncio.create_task(self._up_after(for_s))

    async def up(self) -> None:
        """Listen again on the same port."""
        self._cancel_revive()
        if self._main is None:
            self._main = await self._listen(self._on_main, self.port)
            log.info("Stand-in up again on port %d.", self.port)

    async def close(self) -> None:
        self._cancel_revive()
        listeners = [s for s in (self._main, self._control) if s is not None]
        for listener in listeners:
            listener.close()
        tasks = [task for task, _ in self._connections.values()]
        self._drop(lambda writer, main: True)
        await asyncio.gather(*tasks, return_exceptions=True)
        for listener in listeners:
            await listener.wait_closed()
        self._main = self._control = None

    async def _listen(self, handler: _Handler, port: int) -> asyncio.Server:
        return await asyncio.start_server(handler, self.host, port, limit=MAX_HEAD_BYTES)

    def _drop(self, which: Callable[[asyncio.StreamWriter, bool], bool]) -> None:
        for writer, (task, main) in list(self._connections.items()):
            if which(writer, main):
                writer.transport.abort()
                task.cancel()

    async def _up_after(self, delay: float) -> None:
        await asyncio.sleep(delay)
        self._revive = None  # up() must not cancel the task it runs in
        await self.up()

    def _cancel_revive(self) -> None:
        if self._revive is not None:
            self._revive.cancel()
            self._revive = None

    async def _on_main(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._connection(reader, writer, main=True)

    async def _on_control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._connection(reader, writer, main=False)

    async def _connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, main: bool
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections[writer] = (task, main)
        self._open_main += main
        try:
            await self._serve(reader, writer, main)
        except (ConnectionError, asyncio.CancelledError):
            # The client went away, or down()/close() cut the connection. Ending normally on
            # cancel also spares Python 3.11's stream callback, which logs cancelled handlers.
            pass
        finally:
            del self._connections[writer]
            self._open_main -= main
            writer.close()

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, main: bool
    ) -> None:
        while True:
            try:
                request = await read_request(reader, writer, self.contract.max_body_bytes)
            except ProtocolError as exc:
                if main:
                    self.recorder.reject(None, exc.status, "bad_http")
                payload = {"error": "bad_http", "message": str(exc)}
                writer.write(render(json_response(exc.status, payload), close=True))
                await writer.drain()
                return
            if request is None:
                return
            try:
                response = await self._route(request, writer, main)
            except Exception:
                log.exception("The stand-in failed on %s %s.", request.method, request.target)
                response = json_response(500, {"error": "standin_bug"}, close=True)
            if response is None:  # the timeout fault: hold until the client gives up
                while await reader.read(65536):
                    pass
                return
            close = response.close or not request.keep_alive
            writer.write(render(response, close=close))
            await writer.drain()
            if close:
                return

    async def _route(
        self, request: Request, writer: asyncio.StreamWriter, main: bool
    ) -> Response | None:
        path = urlsplit(request.target).path
        if path.startswith(control.PREFIX):
            return await control.handle(self, request, path, writer)
        key = self.contract.api_key(path) if main else None
        if key is None:
            if main:
                self.recorder.reject(None, 404, "not_found")
            return json_response(404, {"error": "not_found", "message": f"Nothing at {path}."})
        return await self._behavioral(request, key)

    async def _behavioral(self, request: Request, key: str) -> Response | None:
        delay = self.plan.delay_s()
        if delay:
            await asyncio.sleep(delay)
        try:
            events = self.contract.events(request, key)
        except Refusal as refusal:
            self.recorder.reject(key, refusal.status, refusal.reason)
            payload = {"error": refusal.reason, "message": str(refusal)}
            return json_response(refusal.status, payload, refusal.headers)
        decision = self.plan.decide(events)
        if decision is None:
            self.recorder.accept(key, events)
            if len(events) == 1:
                return _OK_ONE
            return json_response(200, {"status": "ok", "accepted": len(events)})
        self.recorder.reject(key, decision.status, decision.reason, message_ids(events))
        if decision.status is None:
            return None
        headers = () if decision.retry_after is None else (("Retry-After", decision.retry_after),)
        payload = {"error": decision.reason, "message": "Injected fault."}
        return json_response(decision.status, payload, headers)


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
