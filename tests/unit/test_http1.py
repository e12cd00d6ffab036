"""The built-in HTTP/1.1 client against scripted servers: what the stand-in never does."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from consumer.core.errors import AnswerError
from consumer.core.movableink import Request
from consumer.shell.http import builtin as http1
from consumer.shell.http.builtin import Http1Transport
from consumer.shell.http.transport import Answer

HEADERS = {"Authorization": "Basic dTpw", "Content-Type": "application/json"}
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _request(reader: asyncio.StreamReader) -> bytes:
    """One request read off the connection: head and body (b'' at the end of the stream)."""
    head = await reader.readuntil(b"\r\n\r\n") if not reader.at_eof() else b""
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            length = int(value)
    return head + await reader.readexactly(length)


async def _serve(handler: Handler, run: Callable[[str], Awaitable[object]]) -> object:
    """Run `run(url)` against a server calling `handler` per connection; then close all."""
    tasks: set[asyncio.Task[None]] = set()

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tasks.add(asyncio.current_task())  # type: ignore[arg-type]
        try:
            await handler(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(connection, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        return await run(f"http://127.0.0.1:{port}/behavioral/key?x=1")
    finally:
        server.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.sleep(0)


def _concurrently(count: int) -> Callable[[str], Awaitable[list[Answer]]]:
    """`count` POSTs at once over at most two connections."""

    async def run(url: str) -> list[Answer]:
        transport = Http1Transport(max_connections=2, timeout_s=5.0)
        try:
            request = Request(url, HEADERS, None)
            return list(
                await asyncio.gather(*(transport.post(request, b"{}") for _ in range(count)))
            )
        finally:
            await transport.aclose()

    return run


def _answers(handler: Handler, times: int = 1, **options: float) -> tuple[list[Answer], int]:
    """`times` POSTs one after another; the answers and the connections the server saw."""
    connections = 0

    async def counted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await handler(reader, writer)

    async def run(url: str) -> list[Answer]:
        transport = Http1Transport(
            max_connections=int(options.get("connections", 4)),
            timeout_s=options.get("timeout_s", 5.0),
        )
        try:
            return [await transport.post(Request(url, HEADERS, None), b"{}") for _ in range(times)]
        finally:
            await transport.aclose()

    answers = asyncio.run(_serve(counted, run))
    assert isinstance(answers, list)
    return answers, connections


def test_the_request_is_what_we_mean_to_send() -> None:
    seen: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await _request(reader))
        writer.write(OK)
        await writer.drain()

    assert _answers(handler)[0] == [Answer(200)]
    head, _, body = seen[0].partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /behavioral/key?x=1 HTTP/1.1"
    assert sorted(lines[1:]) == sorted(
        [
            f"Host: {lines[1].split(': ')[1]}",
            f"User-Agent: {http1.USER_AGENT}",
            "Authorization: Basic dTpw",
            "Content-Type: application/json",
            "Content-Length: 2",
        ]
    )
    assert body == b"{}"


def test_keep_alive_connections_are_reused() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await _request(reader):
            writer.write(OK)
            await writer.drain()

    assert _answers(handler, times=5) == ([Answer(200)] * 5, 1)


def test_on_uvloop_too() -> None:
    """The consumer runs on uvloop (cli.loop_factory): its transports are its own classes."""
    import uvloop

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await _request(reader):
            writer.write(OK)
            await writer.drain()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        assert runner.run(_serve(handler, _concurrently(5))) == [Answer(200)] * 5


def test_connection_close_is_honoured_and_a_chunked_body_read() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _request(reader)
        writer.write(
            b"HTTP/1.1 503 Busy\r\nRetry-After: 3\r\nTransfer-Encoding: chunked\r\n"
            b"Connection: close\r\n\r\n2\r\nno\r\n0\r\n\r\n"
        )
        await writer.drain()

    assert _answers(handler, times=2) == ([Answer(503, retry_after="3")] * 2, 2)


def test_an_answer_read_until_the_connection_closes() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _request(reader)
        writer.write(b"HTTP/1.0 200 OK\r\n\r\nwhatever")
        await writer.drain()

    assert _answers(handler) == ([Answer(200)], 1)


def test_an_informational_answer_is_passed_over() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _request(reader)
        writer.write(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + OK)
        await writer.drain()

    assert _answers(handler)[0] == [Answer(200)]


def test_a_connection_the_server_dropped_while_idle_is_replaced_once() -> None:
    """The server answers, keeps the connection alive, then drops it before the next
    request: that request goes again on a new connection instead of failing."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _request(reader)
        writer.write(OK)
        await writer.drain()
        await reader.read(1)  # the next request begins: drop the connection unanswered

    assert _answers(handler, times=3) == ([Answer(200)] * 3, 3)


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (b"", "protocol"),  # closed without a byte of an answer, on a new connection
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "protocol"),
        (b"NOT HTTP\r\n\r\n", "protocol"),
    ],
)
def test_a_broken_answer_is_a_protocol_error(reply: bytes, error: AnswerError) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _request(reader)
        writer.write(reply)
        await writer.drain()

    assert _answers(handler)[0] == [Answer(None, error=error)]


def test_no_answer_within_the_timeout_is_a_timeout() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _request(reader)
        await asyncio.sleep(5)

    assert _answers(handler, timeout_s=0.2)[0] == [Answer(None, error="timeout")]


def test_more_requests_than_connections_wait_for_one(monkeypatch: pytest.MonkeyPatch) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await _request(reader):
            await asyncio.sleep(0.01)
            writer.write(OK)
            await writer.drain()

    assert asyncio.run(_serve(handler, _concurrently(9))) == [Answer(200)] * 9


def test_idle_connections_are_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http1, "IDLE_S", 0.0)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await _request(reader):
            writer.write(OK)
            await writer.drain()

    async def run(url: str) -> list[Answer]:
        transport = Http1Transport(max_connections=2, timeout_s=0.2)  # sweeps every 0.05 s
        try:
            first = await transport.post(Request(url, HEADERS, None), b"{}")
            await asyncio.sleep(0.2)
            return [first, await transport.post(Request(url, HEADERS, None), b"{}")]
        finally:
            await transport.aclose()

    assert asyncio.run(_serve(handler, run)) == [Answer(200)] * 2
