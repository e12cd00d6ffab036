"""HTTP behind one method: POST a request, get an `Answer`; httpx errors never leak out.

Every httpx exception becomes an `Answer` with no status and a short error kind, so the retry
policy decides from the answer alone, and no exception text (which could quote a URL with its
key) reaches the logs.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import httpx

from consumer.movableink import Request

DEFAULT_TIMEOUT_S = 10.0
logging.getLogger("httpx").setLevel(logging.WARNING)  # it logs every request at INFO
logging.getLogger("httpcore").setLevel(logging.WARNING)

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


@dataclass(frozen=True)
class Answer:
    """The result of one attempt: an HTTP status, or `error` when none came back."""

    status: int | None
    retry_after: str | None = None
    error: str | None = None  # timeout | connect | protocol | network | body


def body_bytes(body: Any) -> bytes:
    """The exact bytes POSTed for a mapped body."""
    return _encode(body).encode()


def _error_kind(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.ConnectError):
        return "connect"
    if isinstance(exc, httpx.RemoteProtocolError | httpx.LocalProtocolError):
        return "protocol"
    return "network"


class Transport:
    """A keep-alive connection pool to Movable Ink, shared by one destination's requests."""

    def __init__(
        self,
        *,
        max_connections: int,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
        self._client = httpx.AsyncClient(
            limits=limits, timeout=timeout_s, transport=transport, follow_redirects=False
        )

    async def post(self, request: Request) -> Answer:
        try:
            content = body_bytes(request.body)
        except ValueError:  # NaN or infinity cannot be sent as JSON
            return Answer(status=None, error="body")
        try:
            response = await self._client.post(
                request.url, content=content, headers=request.headers
            )
        except httpx.HTTPError as exc:
            return Answer(status=None, error=_error_kind(exc))
        return Answer(status=response.status_code, retry_after=response.headers.get("retry-after"))

    async def aclose(self) -> None:
        await self._client.aclose()
