"""Dead letters for any record the consumer accepts: headers that always encode, values cut
to fit a topic that refuses their size, and refusals that are seen, not swallowed."""

from __future__ import annotations

import asyncio
from typing import Any

from prometheus_client import CollectorRegistry

from consumer.core import deadletter
from consumer.core.deadletter import Failure, headers_for, truncated
from consumer.core.records import Headers, Record
from consumer.shell.kafka.client import ProduceError
from consumer.shell.metrics import Metrics
from consumer.shell.outcome import DeadLetterWriter

SOURCE = Record("in", 2, 41, b"k" * 5000, b"v" * 200_000, [("trace", b"\xff\x00"), ("", b"")])


def _header(failure: Failure, name: str) -> bytes:
    """Header `name` of the dead letter of `SOURCE` for `failure` (ours always have a value)."""
    value = dict(headers_for(SOURCE, failure))[name]
    assert value is not None
    return value


def test_headers_encode_any_text_and_stay_small() -> None:
    failure = Failure("internal.error", "boom \ud800" + "x" * 10_000, "id-\udcff" + "y" * 10_000)
    headers = dict(headers_for(SOURCE, failure))
    assert _header(failure, deadletter.MESSAGE_ID).startswith(b"id-\\udcff")
    assert len(_header(failure, deadletter.MESSAGE_ID)) == deadletter.MAX_HEADER_TEXT
    assert len(_header(failure, deadletter.CONNECT_MESSAGE)) == deadletter.MAX_HEADER_TEXT
    assert headers["trace"] == b"\xff\x00"


def test_an_unexpected_error_names_its_real_class() -> None:
    failure = Failure("internal.error", "KeyError: 'x'", exception="KeyError")
    assert dict(headers_for(SOURCE, failure))[deadletter.CONNECT_CLASS] == b"KeyError"


def test_each_truncation_level_cuts_more_and_says_so() -> None:
    failure = Failure("decode.too_large", "too large")
    key, value, headers = truncated(SOURCE, failure, 0)
    assert (key, value) == (SOURCE.key, SOURCE.value) and deadletter.TRUNCATED not in dict(headers)
    sizes = []
    for level in range(1, len(deadletter.TRUNCATION_LEVELS)):
        key, value, headers = truncated(SOURCE, failure, level)
        named = dict(headers)
        assert named[deadletter.TRUNCATED] == b"true"
        assert named[deadletter.ORIGINAL_SIZE] == b"200000"
        sizes.append(len(value or b"") + len(key or b"") + sum(len(v or b"") for _, v in headers))
    assert sizes == sorted(sizes, reverse=True) and sizes[-1] < 8192
    assert "trace" not in dict(headers)  # the last level drops the original headers


class FakeProducer:
    """Answers each send from a script of errors (None: acknowledged)."""

    def __init__(self, answers: list[ProduceError | None]) -> None:
        self.answers = answers
        self.sent: list[tuple[bytes | None, Headers]] = []

    def send(self, topic: str, key: Any, value: bytes | None, headers: Headers, on: Any) -> bool:
        self.sent.append((value, headers))
        on(self.answers.pop(0) if self.answers else None)
        return True


def deliver(answers: list[ProduceError | None]) -> tuple[FakeProducer, Metrics, list[str]]:
    producer = FakeProducer(answers)
    metrics = Metrics(CollectorRegistry())
    writer = DeadLetterWriter(producer, "{topic}.dlq", metrics)  # type: ignore[arg-type]
    problems: list[str] = []

    async def scenario() -> None:
        acked = asyncio.Event()
        writer.send(SOURCE, Failure("decode.too_large", "big"), acked.set)
        while not acked.is_set():
            problems.append(writer.problem() or "")
            await asyncio.sleep(0.01)
        problems.append(writer.problem() or "")

    asyncio.run(asyncio.wait_for(scenario(), 10))
    return producer, metrics, problems


def test_a_dead_letter_too_large_for_its_topic_is_cut_until_it_fits() -> None:
    too_large = ProduceError("Broker: Message size too large", too_large=True)
    producer, metrics, problems = deliver([too_large, too_large])
    values = [value for value, _ in producer.sent]
    assert [len(v or b"") for v in values] == [200_000, 65_536, 1024]
    assert dict(producer.sent[-1][1])[deadletter.ORIGINAL_SIZE] == b"200000"
    assert metrics.dead_letter_failures._value.get() == 0
    assert not any(problems)


def test_a_refused_dead_letter_is_counted_seen_by_readiness_and_tried_again(
    monkeypatch: Any,
) -> None:
    monkeypatch.setattr("consumer.shell.outcome.RETRY_DEAD_LETTER_S", 0.05)
    refused = ProduceError("Broker: Topic authorization failed")
    producer, metrics, problems = deliver([refused, refused])
    assert len(producer.sent) == 3
    assert metrics.dead_letter_failures._value.get() == 2
    assert any("Topic authorization failed" in p for p in problems)
    assert problems[-1] == ""  # acknowledged at last: ready again


def test_an_exception_while_producing_is_a_refusal_not_a_lost_record(monkeypatch: Any) -> None:
    monkeypatch.setattr("consumer.shell.outcome.RETRY_DEAD_LETTER_S", 0.05)

    class Exploding(FakeProducer):
        def send(self, *args: Any) -> bool:
            if len(self.sent) == 0:
                self.sent.append((None, []))
                raise TypeError("header value must be bytes")
            return super().send(*args)

    producer = Exploding([])
    metrics = Metrics(CollectorRegistry())
    writer = DeadLetterWriter(producer, "{topic}.dlq", metrics)  # type: ignore[arg-type]

    async def scenario() -> None:
        acked = asyncio.Event()
        writer.send(SOURCE, Failure("x", "y"), acked.set)
        await asyncio.wait_for(acked.wait(), 5)

    asyncio.run(scenario())
    assert len(producer.sent) == 2 and metrics.dead_letter_failures._value.get() == 1


def test_every_reason_names_an_exception_class_that_exists() -> None:
    import importlib

    from consumer.core.errors import ConsumerError

    reasons = ["decode.empty", "message.invalid_field", "signals.x", "mapping.unencodable"]
    reasons += ["too_old", "http.rejected", "retries.exhausted", "ordering.held", "other"]
    for reason in reasons:
        named = _header(Failure(reason, "m"), deadletter.CONNECT_CLASS)
        module, _, name = named.decode().rpartition(".")
        found = getattr(importlib.import_module(module), name)
        assert issubclass(found, ConsumerError), named


def test_a_record_whose_hand_over_fails_is_dead_lettered_and_the_rest_go_on() -> None:
    """A bug between the decision and the workers costs one record, never the batch."""
    from consumer.core.decision import decide_message
    from consumer.core.envelope import envelope
    from consumer.core.mapping import compile_mapping
    from consumer.core.movableink import (
        PRESET_DATA,
        PRESET_SUBSCRIBE,
        Destination,
        Secret,
        Subscription,
    )
    from consumer.core.offsets import OffsetTracker
    from consumer.core.segment import Place
    from consumer.core.triggers import parse
    from consumer.settings import DeliverySettings
    from consumer.shell.delivery.sender import Sender
    from consumer.shell.outcome import Outcomes

    class Never:
        async def post(self, request: Any, content: bytes) -> Any:
            raise AssertionError("nothing is sent in this test")

        async def aclose(self) -> None:
            pass

    subscription = Subscription("m", parse(PRESET_SUBSCRIBE), compile_mapping(PRESET_DATA))
    destination = Destination("mi", "http://127.0.0.1:1/b/k", "u", Secret("p"), (subscription,))
    producer = FakeProducer([])
    metrics = Metrics(CollectorRegistry())
    tracker = OffsetTracker()
    finished: list[int] = []

    async def scenario() -> None:
        writer = DeadLetterWriter(producer, "{topic}.dlq", metrics)  # type: ignore[arg-type]
        sender = Sender(destination, Never(), DeliverySettings(), metrics)
        outcomes = Outcomes(tracker, writer, metrics, [sender])

        def explode(jobs: Any) -> None:
            raise KeyError("boom")

        outcomes._workers["mi"].submit = explode  # type: ignore[method-assign]
        works = []
        for offset in range(3):
            record = Record("in", 0, offset, None, b"{}", [])
            message = {"type": "track", "userId": f"u{offset}", "messageId": f"m{offset}"}
            decision = decide_message(message, (destination,), Place("in", offset=offset))
            works.append(envelope(record, decision, tracker.add("in", 0, offset, None), None))
        outcomes.accept(works)
        for _ in range(100):
            await asyncio.sleep(0.01)
            if tracker.pending() == 0:
                break
        finished.append(tracker.pending())

    asyncio.run(scenario())
    assert finished == [0]
    reasons = [dict(headers)[deadletter.REASON] for _, headers in producer.sent]
    assert reasons == [b"internal.error"] * 3
    assert dict(producer.sent[0][1])[deadletter.CONNECT_CLASS] == b"KeyError"


def test_outcomes_report_the_least_busy_destination_able_to_deliver() -> None:
    """What the Kafka thread paces its intake by (`KafkaSource._apply_backpressure`): a
    destination whose circuit is open does not count."""
    from consumer.core.mapping import compile_mapping
    from consumer.core.movableink import (
        PRESET_DATA,
        PRESET_SUBSCRIBE,
        Destination,
        Secret,
        Subscription,
    )
    from consumer.core.offsets import OffsetTracker
    from consumer.core.triggers import parse
    from consumer.settings import DeliverySettings
    from consumer.shell.delivery.sender import Sender
    from consumer.shell.outcome import Outcomes

    subscription = Subscription("m", parse(PRESET_SUBSCRIBE), compile_mapping(PRESET_DATA))
    metrics = Metrics(CollectorRegistry())
    seen: list[int] = []

    async def scenario() -> None:
        senders = [
            Sender(Destination(n, "http://127.0.0.1:1/b/k", "u", Secret("p"), (subscription,)),
                   None, DeliverySettings(), metrics)  # type: ignore[arg-type]
            for n in ("a", "b")
        ]  # fmt: skip
        writer = DeadLetterWriter(FakeProducer([]), "{topic}.dlq", metrics)  # type: ignore[arg-type]
        outcomes = Outcomes(OffsetTracker(), writer, metrics, senders)
        a, b = outcomes._workers["a"], outcomes._workers["b"]
        a._scheduler.add(object(), ("k1",))  # type: ignore[arg-type]
        for key in ("k1", "k2", "k3"):
            b._scheduler.add(object(), (key,))  # type: ignore[arg-type]
        seen.append(outcomes.ahead())
        a.sender.circuit.state = "open"
        seen.append(outcomes.ahead())
        b.sender.circuit.state = "open"
        seen.append(outcomes.ahead())

    asyncio.run(scenario())
    assert seen == [1, 3, 0]


def test_an_internal_error_decided_for_a_record_names_the_unexpected_class() -> None:
    """The decision carries the error only as `describe` wrote it ("TypeError: ..."): the dead
    letter names that class, not `Rejected`."""
    from consumer.core.decision import decide_message
    from consumer.core.envelope import envelope
    from consumer.core.mapping import compile_mapping
    from consumer.core.movableink import PRESET_DATA, Destination, Secret, Subscription
    from consumer.core.offsets import OffsetTracker
    from consumer.core.segment import Place
    from consumer.settings import DeliverySettings
    from consumer.shell.delivery.sender import Sender
    from consumer.shell.outcome import Outcomes

    class Broken:
        def matches(self, message: Any) -> bool:
            raise TypeError("unsupported operand")

    subscription = Subscription("m", Broken(), compile_mapping(PRESET_DATA))  # type: ignore[arg-type]
    destination = Destination("mi", "http://127.0.0.1:1/b/k", "u", Secret("p"), (subscription,))
    producer = FakeProducer([])
    metrics = Metrics(CollectorRegistry())
    tracker = OffsetTracker()

    async def scenario() -> None:
        writer = DeadLetterWriter(producer, "{topic}.dlq", metrics)  # type: ignore[arg-type]
        outcomes = Outcomes(
            tracker,
            writer,
            metrics,
            [Sender(destination, None, DeliverySettings(), metrics)],  # type: ignore[arg-type]
        )
        message = {"type": "track", "userId": "u", "messageId": "m"}
        decision = decide_message(message, (destination,), Place("in", offset=0))
        outcomes.accept(
            [
                envelope(
                    Record("in", 0, 0, None, b"{}", []),
                    decision,
                    tracker.add("in", 0, 0, None),
                    None,
                )
            ]
        )
        for _ in range(100):
            await asyncio.sleep(0.01)
            if producer.sent:
                break

    asyncio.run(scenario())
    (sent,) = producer.sent
    headers = dict(sent[1])
    assert headers[deadletter.REASON] == b"internal.error"
    assert headers[deadletter.CONNECT_CLASS] == b"TypeError"
