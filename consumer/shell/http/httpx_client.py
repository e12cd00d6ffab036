"""httpx behind the `Transport` interface: the standard client, and the one that speaks to proxies.

Every httpx exception a request can raise becomes an `Answer` with no status and an error kind
(`tests/unit/test_boundaries.py` walks httpx's exception classes to keep it so).
"""

from __future__ import annotations

import asyncio
import logging
import ssl

import httpx

from consumer.core.errors import AnswerError
from consumer.core.movableink import Request
from consumer.shell.http.transport import Answer

HTTPX_CONNECTIONS_PER_CLIENT = 2
logging.getLogger("httpx").setLevel(logging.WARNING)  # it logs every request at INFO
logging.getLogger("httpcore").setLevel(logging.WARNING)


def _httpx_error_kind(exc: httpx.HTTPError) -> AnswerError:
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.ConnectError):
        return "connect"
    if isinstance(exc, httpx.RemoteProtocolError | httpx.LocalProtocolError):
        return "protocol"
    return "network"


class HttpxTransport:
    """httpx, with the connections spread over small clients.

    httpx's connection pool scans its connections on every request, and with hundreds of
    connections in one pool throughput collapses (bench/README.md). So each request borrows a
    small client with a free connection.
    """

    def __init__(self, *, max_connections: int, timeout_s: float) -> None:
        per = min(HTTPX_CONNECTIONS_PER_CLIENT, max_connections)
        limits = httpx.Limits(max_connections=per, max_keepalive_connections=per)
        count = -(-max_connections // per)
        tls = ssl.create_default_context()  # one TLS context: building one per client is slow
        self._clients = [
            httpx.AsyncClient(limits=limits, timeout=timeout_s, follow_redirects=False, verify=tls)
            for _ in range(count)
        ]
        self._free: asyncio.Queue[httpx.AsyncClient] = asyncio.Queue()
        for slot in range(max_connections):
            self._free.put_nowait(self._clients[slot % count])

    async def post(self, request: Request, content: bytes) -> Answer:
        client = await self._free.get()
        try:
            response = await client.post(request.url, content=content, headers=request.headers)
        except httpx.HTTPError as exc:
            return Answer(status=None, error=_httpx_error_kind(exc))
        except (httpx.InvalidURL, httpx.StreamError, httpx.CookieConflict) as exc:
            # Not an answer of the server's: a bug of ours, never retried.
            return Answer(status=None, error="internal", detail=type(exc).__name__)
        finally:
            self._free.put_nowait(client)
        return Answer(status=response.status_code, retry_after=response.headers.get("retry-after"))

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()
