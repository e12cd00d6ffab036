"""Every foreign exception that can reach our code is translated at its boundary: httpx's, and
the built-in client's socket and TLS errors, into an `Answer` (the retry policy decides from
it); confluent-kafka's, from every method of our Kafka wrapper, into `BrokerError` (or, for a
record sent, into its delivery report). The classes are found by walking each library, so an
exception class a new version adds fails here until it is translated."""

from __future__ import annotations

import asyncio
import builtins
import inspect
import socket
import ssl
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import confluent_kafka
import confluent_kafka.error
import httpx
import pytest

from consumer.core.errors import BrokerError
from consumer.core.movableink import Request
from consumer.settings import KafkaSettings
from consumer.shell.http.builtin import Http1Transport
from consumer.shell.http.httpx_client import HttpxTransport
from consumer.shell.http.transport import Answer
from consumer.shell.kafka import client as kafka_client

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


KAFKA_ERRORS = sorted(
    {
        c
        for module in (confluent_kafka, confluent_kafka.error)
        for c in _classes(module, confluent_kafka.KafkaException)
    },
    key=lambda c: f"{c.__module__}.{c.__name__}",
)
# What librdkafka raises carries a KafkaError; a subclass may carry text alone.
CARRIED = [confluent_kafka.KafkaError(confluent_kafka.KafkaError._TRANSPORT, "boom"), "boom"]


def _settle_one(consumer: Any) -> bool:
    consumer._unanswered = 1  # a commit waiting for its answer
    settled: bool = consumer.settle(0.2)
    return settled


KAFKA = KafkaSettings("127.0.0.1:9", ("t",), group_instance_id="pod-0")
# Each public method of the wrapper, called so that it reaches librdkafka.
CONSUMER_CALLS: dict[str, Callable[[Any], object]] = {
    "subscribe": lambda c: c.subscribe(["t"], print, print, print),
    "consume": lambda c: c.consume(10, 0.0),
    "commit": lambda c: c.commit({("t", 0): 5}),
    "settle": _settle_one,
    "seek": lambda c: c.seek("t", 0, 1),
    "pause": lambda c: c.pause([("t", 0)]),
    "resume": lambda c: c.resume([("t", 0)]),
    "assignment": lambda c: c.assignment(),
    "watermarks": lambda c: c.watermarks("t", 0),
    "assign": lambda c: c.assign({("t", 0): 1}),
    "partitions": lambda c: c.partitions("t", 1.0),
    "offsets_at": lambda c: c.offsets_at("t", [0], 0),
    "ends": lambda c: c.ends("t", 0),
    "end_offsets": lambda c: c.end_offsets([("t", 0)], timeout_s=0.1),
    "committed": lambda c: c.committed([("t", 0)], 0.1),
    "position": lambda c: c.position("t", 0),
    "close": lambda c: c.close(),
}
PRODUCER_CALLS: dict[str, Callable[[Any], object]] = {
    "poll": lambda p: p.poll(0.0),
    "flush": lambda p: p.flush(0.1),
}
OWN_STATE_ONLY = {"confirmed"}
# reads what the callbacks kept; never calls librdkafka


class _Raising:
    """A librdkafka client whose every method raises `error`."""

    def __init__(self, error: BaseException) -> None:
        self._error = error

    def __getattr__(self, name: str) -> Callable[..., Any]:
        def call(*_: Any, **__: Any) -> Any:
            raise self._error

        return call


def _public(cls: type) -> set[str]:
    return {n for n, v in vars(cls).items() if callable(v) and not n.startswith("_")}


def test_every_method_of_the_kafka_wrapper_is_checked_below() -> None:
    assert _public(kafka_client.Consumer) == set(CONSUMER_CALLS) | OWN_STATE_ONLY
    assert _public(kafka_client.Producer) == set(PRODUCER_CALLS) | {"send"}


def _wrapped(kind: type[Any], attribute: str, error: BaseException) -> Any:
    """Our wrapper built as usual, its librdkafka client then swapped for a raising one."""
    made = kind(KAFKA)
    if kind is kafka_client.Consumer:
        getattr(made, attribute).close()
    setattr(made, attribute, _Raising(error))
    return made


@pytest.mark.parametrize("carried", CARRIED, ids=["KafkaError", "text"])
@pytest.mark.parametrize("cls", KAFKA_ERRORS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("method", sorted(CONSUMER_CALLS))
def test_every_librdkafka_exception_of_the_consumer_becomes_a_broker_error(
    method: str, cls: type[BaseException], carried: object
) -> None:
    consumer = _wrapped(kafka_client.Consumer, "_consumer", cls(carried))
    with pytest.raises(BrokerError, match=r"^Kafka failed to .*boom"):
        CONSUMER_CALLS[method](consumer)


@pytest.mark.parametrize("carried", CARRIED, ids=["KafkaError", "text"])
@pytest.mark.parametrize("cls", KAFKA_ERRORS, ids=lambda c: c.__name__)
def test_every_librdkafka_exception_of_the_producer_is_translated(
    cls: type[BaseException], carried: object
) -> None:
    producer = _wrapped(kafka_client.Producer, "_producer", cls(carried))
    for method in PRODUCER_CALLS.values():
        with pytest.raises(BrokerError, match=r"^Kafka failed to .*boom"):
            method(producer)
    reports: list[kafka_client.ProduceError | None] = []
    assert producer.send("t", None, b"v", (), reports.append)
    assert len(reports) == 1 and reports[0] is not None and "boom" in reports[0].text
