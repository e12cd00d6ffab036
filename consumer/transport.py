"""HTTP behind one method: POST a request, get an `Answer`; client errors never leak out.

Every expected client exception becomes an `Answer` with no status and a short error kind, so
the retry policy decides from the answer alone, and no exception text (which could quote a URL
with its key) reaches the logs. The body arrives already encoded: the decision made it once.

Three clients, chosen by `delivery.http_client`. The consumer is CPU-bound on its HTTP client,
so the default is the cheapest: the built-in one (`http1`), about a fifth of aiohttp's CPU per
request, which costs a fifth of httpx's (`bench/http_clients.py`). aiohttp and httpx stay
available (httpx from the `httpx` extra, `pip install 'movableink-kafka-consumer[httpx]'`,
imported only when chosen); all take the proxy from the environment and verify TLS with the
system's certificates.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import TYPE_CHECKING, NamedTuple, Protocol

import aiohttp
from aiohttp.helpers import get_env_proxy_for_url
from yarl import URL

from consumer.errors import ConfigError
from consumer.movableink import Request
from consumer.settings import HttpClient

if TYPE_CHECKING:
    import httpx

HTTPX_CONNECTIONS_PER_CLIENT = 2
logging.getLogger("httpx").setLevel(logging.WARNING)  # it logs every request at INFO
logging.getLogger("httpcore").setLevel(logging.WARNING)


class Answer(NamedTuple):
    """The result of one attempt: an HTTP status, or `error` when none came back (a tuple:
    one is made per request, and a frozen dataclass costs four times as much to build)."""

    status: int | None
    retry_after: str | None = None
    error: str | None = None  # timeout | connect | protocol | network | internal
    detail: str = ""  # for `internal`: the unexpected exception's class and message


class Transport(Protocol):
    async def post(self, request: Request, content: bytes) -> Answer:
        """POST `content`, the request's body already encoded, with the request's headers."""

    async def aclose(self) -> None: ...


def open_transport(client: HttpClient, *, max_connections: int, timeout_s: float) -> Transport:
    """Keep-alive connections to Movable Ink, shared by one destination's requests."""
    if client == "builtin":
        from consumer.http1 import Http1Transport  # it builds on this module

        return Http1Transport(max_connections=max_connections, timeout_s=timeout_s)
    if client == "httpx":
        return HttpxTransport(max_connections=max_connections, timeout_s=timeout_s)
    return AiohttpTransport(max_connections=max_connections, timeout_s=timeout_s)


class AiohttpTransport:
    """One aiohttp session with up to `max_connections` keep-alive connections.

    The session is opened on the first request, inside the running loop as aiohttp requires.
    The proxy comes from the environment (`HTTPS_PROXY`, `NO_PROXY`), as for httpx, looked up
    once per URL: aiohttp's own `trust_env` looks it up, and reads ~/.netrc, in a thread on
    every request (measured: the consumer's delivery rate halved).
    """

    def __init__(self, *, max_connections: int, timeout_s: float) -> None:
        self._max_connections = max_connections
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self._proxies: dict[str, tuple[URL | None, aiohttp.BasicAuth | None]] = {}

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self._max_connections, ssl=ssl.create_default_context()
        )
        return aiohttp.ClientSession(
            connector=connector,
            timeout=self._timeout,
            cookie_jar=aiohttp.DummyCookieJar(),  # no state carried between events
        )

    def _proxy(self, url: str) -> tuple[URL | None, aiohttp.BasicAuth | None]:
        found = self._proxies.get(url)
        if found is None:
            try:
                found = get_env_proxy_for_url(URL(url))
            except LookupError:
                found = (None, None)
            self._proxies[url] = found
        return found

    async def post(self, request: Request, content: bytes) -> Answer:
        if self._session is None:
            self._session = self._open()
        proxy, proxy_auth = self._proxy(request.url)
        try:
            async with self._session.post(
                request.url,
                data=content or None,  # no body: no Content-Type either (aiohttp adds one)
                headers=request.headers,
                allow_redirects=False,
                proxy=proxy,
                proxy_auth=proxy_auth,
            ) as response:
                await response.read()  # frees the connection for the next request
                return Answer(response.status, response.headers.get("retry-after"))
        except TimeoutError:  # aiohttp's own timeouts (connect, read) are TimeoutErrors too
            return Answer(status=None, error="timeout")
        except aiohttp.ClientConnectorError:
            return Answer(status=None, error="connect")
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError):
            return Answer(status=None, error="protocol")
        except (aiohttp.ClientError, OSError):
            return Answer(status=None, error="network")

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


def _httpx_error_kind(exc: httpx.HTTPError) -> str:
    import httpx  # imported already: only an HttpxTransport gets here

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
    connections in one pool throughput collapses (measured here: 61 requests/s with one client
    of 200 connections, 1,120 with 200 clients of one; `bench/`). So each request borrows a
    small client with a free connection.
    """

    def __init__(self, *, max_connections: int, timeout_s: float) -> None:
        try:
            import httpx
        except ImportError as exc:
            raise ConfigError(
                'delivery.http_client = "httpx" needs the httpx extra: '
                "pip install 'movableink-kafka-consumer[httpx]'."
            ) from exc
        self._errors = httpx.HTTPError
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
        except self._errors as exc:
            return Answer(status=None, error=_httpx_error_kind(exc))
        finally:
            self._free.put_nowait(client)
        return Answer(status=response.status_code, retry_after=response.headers.get("retry-after"))

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()
