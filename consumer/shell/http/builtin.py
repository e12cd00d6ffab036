"""The built-in HTTP/1.1 client: keep-alive connections, one request at a time on each.

The consumer is CPU-bound on its HTTP client, and a general-purpose client does much we never
need (cookies, redirects, streaming bodies, tracing, a timer per request). This one writes a
POST whose body is already encoded, parses the answer with httptools (the llhttp parser that
uvicorn uses) and keeps only its status and `Retry-After`: a fraction of a general client's CPU
per request (bench/README.md has the figures).

- Connections per origin, at most `max_connections`, reused while the server keeps them alive;
  an idle one is closed after `IDLE_S` (before servers usually drop theirs).
- A request that finds a reused connection closed before any byte of an answer (the server
  dropped it while idle) goes once more on a new connection, as browsers do.
- The timeout covers connecting, sending and the whole answer; one sweep per origin checks it
  (every quarter of the timeout, at most every second), not a timer per request.
- TLS with the system's certificates. With a proxy in the environment (`HTTPS_PROXY`,
  `NO_PROXY`) for a URL, that URL's requests go through httpx, which speaks to proxies.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import urllib.request
from collections import deque
from typing import Any, cast
from urllib.parse import urlsplit

import httptools

from consumer.core.errors import AnswerError
from consumer.core.movableink import Request
from consumer.shell.http.httpx_client import HttpxTransport
from consumer.shell.http.transport import Answer

IDLE_S = 15.0
USER_AGENT = "movableink-kafka-consumer"


class _Failed(Exception):
    """A request ended without an answer; `kind` is the Answer's error word."""

    def __init__(self, kind: AnswerError, before_answer: bool = False) -> None:
        super().__init__(kind)
        self.kind = kind
        self.before_answer = before_answer  # nothing of an answer had arrived


class _Connection(asyncio.Protocol):
    """One keep-alive connection; at most one request on it at a time."""

    def __init__(self, origin: _Origin) -> None:
        self.origin = origin
        self.transport: asyncio.Transport | None = None
        self.reused = False
        self.closed = False
        self.idle_since = time.monotonic()
        self.deadline = 0.0
        self._waiter: asyncio.Future[tuple[int, str | None]] | None = None
        self._parser: Any = httptools.HttpResponseParser(self)  # llhttp resets per answer
        self._answering = False
        self._headers_done = False
        self._framed = False  # the answer says its length (Content-Length or chunked)
        self._retry_after: str | None = None

    # -- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:  # bytes nobody asked for: the connection is unusable
            self.abort()
            return
        self._answering = True
        try:
            self._parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade):
            self._fail(_Failed("protocol"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.origin.forget(self)
        if self._waiter is not None:
            status = self._parser.get_status_code() if self._answering else 0
            if status >= 200 and self._headers_done and not self._framed:  # read to the end
                self._settle((status, self._retry_after))
            else:
                self._fail(_Failed("protocol", before_answer=not self._answering))

    # -- httptools callbacks ----------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"retry-after":
            self._retry_after = value.decode("latin-1")
        elif name in (b"content-length", b"transfer-encoding"):
            self._framed = True

    def on_headers_complete(self) -> None:
        self._headers_done = True

    def on_message_complete(self) -> None:
        status: int = self._parser.get_status_code()
        if status < 200:  # an informational answer (103): the real one follows
            self._retry_after = None
            self._headers_done = self._framed = False
            return
        keep = self._parser.should_keep_alive()
        self._settle((status, self._retry_after))
        if keep and not self.closed:
            self.origin.release(self)
        else:
            self.abort()

    # -- requests ---------------------------------------------------------------------------

    def send(self, head: bytes, content: bytes) -> asyncio.Future[tuple[int, str | None]]:
        assert self.transport is not None
        waiter = self.origin.loop.create_future()
        self._waiter = waiter
        self._answering = False
        self._headers_done = self._framed = False
        self._retry_after = None
        self.deadline = time.monotonic() + self.origin.timeout_s
        self.transport.write(head + content)
        return waiter

    def time_out(self) -> None:
        self._fail(_Failed("timeout"))
        self.abort()

    def abort(self) -> None:
        if not self.closed and self.transport is not None:
            self.closed = True
            self.transport.abort()

    def _settle(self, answer: tuple[int, str | None]) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(answer)

    def _fail(self, failure: _Failed) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(failure)
        self.abort()

    @property
    def busy(self) -> bool:
        return self._waiter is not None


class _Origin:
    """The connections to one scheme://host:port, and the requests waiting for one."""

    def __init__(
        self, scheme: str, host: str, port: int, size: int, timeout_s: float, tls: ssl.SSLContext
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.host, self.port = host, port
        self.tls = tls if scheme == "https" else None
        self.size = size
        self.timeout_s = timeout_s
        self._idle: deque[_Connection] = deque()
        self._all: set[_Connection] = set()
        self._opening = 0
        self._waiting: deque[asyncio.Future[_Connection | None]] = deque()
        self._sweep_every = max(0.05, min(1.0, timeout_s / 4))
        self._sweeper = self.loop.call_later(self._sweep_every, self._sweep)

    def idle(self) -> _Connection | None:
        """An idle open connection, if there is one: the usual case under load, taken without
        a coroutine to run (`connection` is one)."""
        while self._idle:
            conn = self._idle.pop()  # the most recently used: least likely to be stale
            if not conn.closed:
                conn.reused = True
                return conn
        return None

    async def connection(self, fresh: bool = False) -> _Connection:
        """An open connection: an idle one (unless `fresh`), a new one, or, when `size` are
        open, the next one released."""
        if not fresh and (conn := self.idle()) is not None:
            return conn
        while len(self._all) + self._opening >= self.size:
            waiter: asyncio.Future[_Connection | None] = self.loop.create_future()
            self._waiting.append(waiter)
            handed = await waiter
            if handed is not None and not handed.closed:
                handed.reused = True
                return handed
        return await self._open()

    async def _open(self) -> _Connection:
        self._opening += 1
        try:
            _, conn = await asyncio.wait_for(
                self.loop.create_connection(
                    lambda: _Connection(self),
                    self.host,
                    self.port,
                    ssl=self.tls,
                    server_hostname=self.host if self.tls else None,
                ),
                self.timeout_s,
            )
        except TimeoutError as exc:
            raise _Failed("timeout") from exc
        except OSError as exc:  # refused, unreachable, TLS handshake refused
            raise _Failed("connect") from exc
        finally:
            self._opening -= 1
            if self._waiting and len(self._all) + self._opening < self.size:
                self._hand(None)  # a slot freed up: let a waiter open its own
        self._all.add(conn)
        return conn

    def release(self, conn: _Connection) -> None:
        conn.idle_since = time.monotonic()
        if self._waiting:
            self._hand(conn)
        else:
            self._idle.append(conn)

    def forget(self, conn: _Connection) -> None:
        self._all.discard(conn)
        if self._waiting:
            self._hand(None)

    def _hand(self, conn: _Connection | None) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        if conn is not None:
            self._idle.append(conn)

    def _sweep(self) -> None:
        now = time.monotonic()
        for conn in list(self._all):
            if conn.busy and now >= conn.deadline:
                conn.time_out()
            elif not conn.busy and now - conn.idle_since > IDLE_S:
                conn.abort()
        self._sweeper = self.loop.call_later(self._sweep_every, self._sweep)

    def close(self) -> None:
        self._sweeper.cancel()
        for conn in list(self._all):
            conn.abort()
        for waiter in self._waiting:
            if not waiter.done():
                waiter.cancel()


class _Target:
    """What a URL needs to be requested: its origin key and the request line and Host."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.scheme = parts.scheme.lower()
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if self.scheme == "https" else 80)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host = parts.netloc.rpartition("@")[2]
        self.start = f"POST {target} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {USER_AGENT}\r\n"
        self.key = (self.scheme, self.host, self.port)
        proxies = urllib.request.getproxies()
        self.proxied = self.scheme in proxies and not urllib.request.proxy_bypass(self.host)


class Http1Transport:
    """The built-in client behind the `Transport` interface (see the module's docstring)."""

    def __init__(self, *, max_connections: int, timeout_s: float) -> None:
        self._max_connections = max_connections
        self._timeout_s = timeout_s
        self._tls: ssl.SSLContext | None = None
        self._targets: dict[str, _Target] = {}
        self._origins: dict[tuple[str, str, int], _Origin] = {}
        self._heads: dict[tuple[str, tuple[tuple[str, str], ...]], bytes] = {}
        self._proxied: HttpxTransport | None = None  # for URLs behind a proxy

    async def post(self, request: Request, content: bytes) -> Answer:
        target = self._targets.get(request.url)
        if target is None:
            target = self._targets[request.url] = _Target(request.url)
        if target.proxied:
            return await self._via_proxy(request, content)
        origin = self._origins.get(target.key)
        if origin is None:
            if self._tls is None:
                self._tls = ssl.create_default_context()
            origin = self._origins[target.key] = _Origin(
                *target.key, self._max_connections, self._timeout_s, self._tls
            )
        head = self._head(request, target, len(content))
        try:
            conn = origin.idle() or await origin.connection()
            try:
                status, retry_after = await conn.send(head, content)
            except _Failed as failure:
                if not (failure.before_answer and failure.kind == "protocol" and conn.reused):
                    raise
                conn = await origin.connection(fresh=True)  # it had gone stale while idle
                status, retry_after = await conn.send(head, content)
        except _Failed as failure:
            return Answer(status=None, error=failure.kind)
        except OSError:
            return Answer(status=None, error="network")
        return Answer(status, retry_after)

    def _head(self, request: Request, target: _Target, length: int) -> bytes:
        key = (request.url, tuple(request.headers.items()))
        block = self._heads.get(key)
        if block is None:
            lines = "".join(f"{name}: {value}\r\n" for name, value in request.headers.items())
            block = (target.start + lines).encode("latin-1")
            if len(self._heads) < 1024:  # custom headers may vary per event: keep a few
                self._heads[key] = block
        if not length:
            return block + b"\r\n"
        return block + b"Content-Length: %d\r\n\r\n" % length

    async def _via_proxy(self, request: Request, content: bytes) -> Answer:
        if self._proxied is None:
            self._proxied = HttpxTransport(
                max_connections=self._max_connections, timeout_s=self._timeout_s
            )
        return await self._proxied.post(request, content)

    async def aclose(self) -> None:
        for origin in self._origins.values():
            origin.close()
        self._origins.clear()
        await asyncio.sleep(0)  # the aborted connections close in the loop's next turn
        if self._proxied is not None:
            await self._proxied.aclose()
