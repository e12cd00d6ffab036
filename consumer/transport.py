"""HTTP behind one method: POST a request, get an `Answer`; httpx errors never leak out.

Every httpx exception becomes an `Answer` with no status and a short error kind, so the retry
policy decides from the answer alone, and no exception text (which could quote a URL with its
key) reaches the logs.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from dataclasses import dataclass

import httpx

from consumer.movableink import Request, body_bytes

DEFAULT_TIMEOUT_S = 10.0
CONNECTIONS_PER_CLIENT = 2
logging.getLogger("httpx").setLevel(logging.WARNING)  # it logs every request at INFO
logging.getLogger("httpcore").setLevel(logging.WARNING)


@dataclass(frozen=True)
class Answer:
    """The result of one attempt: an HTTP status, or `error` when none came back."""

    status: int | None
    retry_after: str | None = None
    error: str | None = None  # timeout | connect | protocol | network | body


def _error_kind(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.ConnectError):
        return "connect"
    if isinstance(exc, httpx.RemoteProtocolError | httpx.LocalProtocolError):
        return "protocol"
    return "network"


class Transport:
    """Keep-alive connections to Movable Ink, shared by one destination's requests.

    httpx's connection pool scans its connections on every request, and with hundreds of
    connections in one pool throughput collapses (measured here: 61 requests/s with one client
    of 200 connections, 1,120 with 200 clients of one; `bench/`). So the connections are
    spread over small clients, and each request borrows a client with a free connection.
    """

    def __init__(
        self,
        *,
        max_connections: int,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        per = min(CONNECTIONS_PER_CLIENT, max_connections)
        limits = httpx.Limits(max_connections=per, max_keepalive_connections=per)
        count = -(-max_connections // per)
        tls = ssl.create_default_context()  # one TLS context: building one per client is slow
        self._clients = [
            httpx.AsyncClient(
                limits=limits,
                timeout=timeout_s,
                transport=transport,
                follow_redirects=False,
                verify=tls,
            )
            for _ in range(count)
        ]
        self._free: asyncio.Queue[httpx.AsyncClient] = asyncio.Queue()
        for slot in range(max_connections):
            self._free.put_nowait(self._clients[slot % count])

    async def post(self, request: Request, content: bytes | None = None) -> Answer:
        """POST the request; `content`, when given, is its body already encoded (batches)."""
        if content is None:
            try:
                content = body_bytes(request.body)
            except ValueError:  # NaN or infinity cannot be sent as JSON
                return Answer(status=None, error="body")
        client = await self._free.get()
        try:
            response = await client.post(request.url, content=content, headers=request.headers)
        except httpx.HTTPError as exc:
            return Answer(status=None, error=_error_kind(exc))
        finally:
            self._free.put_nowait(client)
        return Answer(status=response.status_code, retry_after=response.headers.get("retry-after"))

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()
