"""Just enough HTTP/1.1 on asyncio streams: keep-alive, pipelining, Content-Length and chunked.

Hand-written rather than built on h11: a fraction of h11's CPU per request (bench/README.md),
and in benchmarks the stand-in must never be the bottleneck.
HTTP/1.0 requests are answered and the connection closed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from dataclasses import dataclass
from http import HTTPStatus

MAX_HEAD_BYTES = 64 * 1024
# An oversized body up to this size is read and thrown away, so the client sees the 413 on a
# healthy connection; beyond it the server answers 413 and closes without reading.
DISCARD_LIMIT_BYTES = 64 * 1024 * 1024
_READ_CHUNK = 64 * 1024
_REASONS = {s.value: s.phrase for s in HTTPStatus}


class ProtocolError(Exception):
    """The peer broke HTTP/1.1 framing: answer `status` and close the connection."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(slots=True)
class Request:
    """One parsed request; header names are lower-case, repeated headers joined with ", "."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes | None  # None: longer than the limit, read and discarded
    keep_alive: bool


@dataclass(frozen=True, slots=True)
class Response:
    """What to send back; `close` ends the connection after it."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()
    close: bool = False


def json_response(
    status: int, payload: object, headers: tuple[tuple[str, str], ...] = (), *, close: bool = False
) -> Response:
    return Response(status, json.dumps(payload).encode(), headers, close)


def render(response: Response, *, close: bool) -> bytes:
    """The response bytes, with Content-Length so the connection can be kept alive."""
    lines = [
        f"HTTP/1.1 {response.status} {_REASONS.get(response.status, 'Unknown')}",
        "Content-Type: application/json",
        f"Content-Length: {len(response.body)}",
        *(f"{name}: {value}" for name, value in response.headers),
    ]
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + response.body


async def read_request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, max_body: int
) -> Request | None:
    """The next request on the connection, or None once the client has closed it."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise ProtocolError(400, "The connection closed in the middle of a request.") from None
        return None
    except asyncio.LimitOverrunError:
        raise ProtocolError(431, "The request head is larger than 64 KiB.") from None
    lines = head.decode("latin-1").lstrip("\r\n").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        raise ProtocolError(400, "The request line is not `METHOD target HTTP/1.x`.")
    method, target, version = parts
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise ProtocolError(505, f"{version} is not supported.")
    headers = _parse_headers(lines[1:])
    connection = {t.strip() for t in headers.get("connection", "").lower().split(",")}
    keep_alive = version == "HTTP/1.1" and "close" not in connection
    if headers.get("expect", "").lower() == "100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    try:
        body = await _read_body(reader, headers, max_body)
    except asyncio.IncompleteReadError:
        return None  # the client gave up while sending; nobody is left to answer
    return Request(method, target, headers, body, keep_alive)


def _parse_headers(lines: Iterable[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in lines:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise ProtocolError(400, f"Malformed header line {line[:80]!r}.")
        name = name.lower()
        value = value.strip()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


async def _read_body(
    reader: asyncio.StreamReader, headers: dict[str, str], max_body: int
) -> bytes | None:
    encoding = headers.get("transfer-encoding")
    if encoding is not None:
        if encoding.lower().rsplit(",", 1)[-1].strip() != "chunked":
            raise ProtocolError(501, f"Transfer-Encoding {encoding!r} is not supported.")
        return await _read_chunked(reader, max_body)
    raw_length = headers.get("content-length", "0")
    if not (raw_length.isascii() and raw_length.isdigit()):
        raise ProtocolError(400, f"Content-Length {raw_length!r} is not one number.")
    length = int(raw_length)
    if length <= max_body:
        return await reader.readexactly(length)
    if length > DISCARD_LIMIT_BYTES:
        raise ProtocolError(413, f"The body is larger than {max_body} bytes.")
    while length:
        length -= len(await reader.readexactly(min(length, _READ_CHUNK)))
    return None


async def _read_chunked(reader: asyncio.StreamReader, max_body: int) -> bytes | None:
    chunks: list[bytes] = []
    total = 0
    while True:
        size_line = await reader.readuntil(b"\r\n")
        try:
            size = int(size_line.split(b";", 1)[0], 16)
        except ValueError:
            size = -1
        if size < 0:
            raise ProtocolError(400, "A chunk size is not a hexadecimal number.")
        if size == 0:
            break
        total += size
        if total > DISCARD_LIMIT_BYTES:
            raise ProtocolError(413, f"The body is larger than {max_body} bytes.")
        data = await reader.readexactly(size + 2)
        if not data.endswith(b"\r\n"):
            raise ProtocolError(400, "A chunk does not end with CRLF.")
        if total <= max_body:
            chunks.append(data[:-2])
        else:
            chunks.clear()
    while await reader.readuntil(b"\r\n") != b"\r\n":
        pass  # trailers carry nothing the stand-in needs
    return b"".join(chunks) if total <= max_body else None
