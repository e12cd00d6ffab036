"""Every foreign exception that can reach our code is translated at its boundary: httpx's, and
the built-in client's socket and TLS errors, into an `Answer` (the retry policy decides from
it); confluent-kafka's into `BrokerError`. The classes are found by walking each library, so
an exception class a new version adds fails here until it is translated."""

from __future__ import annotations

import asyncio
import builtins
import inspect
import socket
import ssl
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import httpx
import pytest

from consumer.core.movableink import Request
from consumer.shell.http.builtin import Http1Transport
from consumer.shell.http.httpx_client import HttpxTransport
from consumer.shell.http.transport import Answer

ERROR_KINDS = {"timeout", "connect", "protocol", "network", "internal"}
REQUEST = Request("http://127.0.0.1:9/behavioral/key", {"Authorization": "Basic dTpw"}, {})


def _classes(module: ModuleType, base: type[BaseException]) -> Iterator[type[BaseException]]:
    for value in vars(module).values():
        if inspect.isclass(value) and issubclass(value, base):
            yield value


def _instance(cls: type[BaseException]) -> BaseException:
    """An instance of any of these libraries' exceptions, however its constructor is shaped."""
    request = httpx.Request("POST", REQUEST.url)
    attempts: list[tuple[Any, ...]] = [("boom",), (), (1, "boom")]
    for args in attempts:
        try:
            return cls(*args)
        except TypeError:
            continue
    return cls("boom", request=request, response=httpx.Response(500, request=request))  # type: ignore[call-arg]


HTTPX_ERRORS = sorted(set(_classes(httpx, Exception)), key=lambda c: c.__name__)
SOCKET_ERRORS = sorted(
    {c for module in (builtins, socket, ssl) for c in _classes(module, OSError)},
    key=lambda c: f"{c.__module__}.{c.__name__}",
)


def _answer(transport: Any) -> Answer:
    async def post() -> Answer:
        try:
            answer: Answer = await transport.post(REQUEST, b"{}")
            return answer
        finally:
            await transport.aclose()

    return asyncio.run(post())


@pytest.mark.parametrize("cls", HTTPX_ERRORS, ids=lambda c: c.__name__)
def test_every_httpx_exception_becomes_an_answer(
    cls: type[BaseException], monkeypatch: pytest.MonkeyPatch
) -> None:
    transport = HttpxTransport(max_connections=1, timeout_s=1.0)

    async def raising(*args: Any, **kwargs: Any) -> Any:
        raise _instance(cls)

    for client in transport._clients:
        monkeypatch.setattr(client, "post", raising)
    answer = _answer(transport)
    assert answer.status is None and answer.error in ERROR_KINDS


@pytest.mark.parametrize("cls", SOCKET_ERRORS, ids=lambda c: f"{c.__module__}.{c.__name__}")
def test_every_socket_or_tls_error_connecting_becomes_an_answer(
    cls: type[BaseException], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def refused(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise _instance(cls)

    monkeypatch.setattr(asyncio.BaseEventLoop, "create_connection", refused)
    answer = _answer(Http1Transport(max_connections=1, timeout_s=1.0))
    assert answer.status is None and answer.error in ERROR_KINDS


@pytest.mark.parametrize("cls", SOCKET_ERRORS, ids=lambda c: f"{c.__module__}.{c.__name__}")
def test_every_socket_or_tls_error_on_an_open_connection_becomes_an_answer(
    cls: type[BaseException], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection that fails once open (writing, or reading the answer) is an answer too."""
    from consumer.shell.http import builtin

    class Connected:
        closed = reused = False

        def send(self, head: bytes, content: bytes) -> Any:
            raise _instance(cls)

        def abort(self) -> None:
            self.closed = True

    async def connection(self: Any, fresh: bool = False) -> Any:
        return Connected()

    monkeypatch.setattr(builtin._Origin, "connection", connection)
    answer = _answer(Http1Transport(max_connections=1, timeout_s=1.0))
    assert answer.status is None and answer.error in ERROR_KINDS
