"""The librdkafka settings we own, checked by the real client library (nothing is sent); and
messages read into records as before, on generated messages."""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable
from typing import Any, cast

import confluent_kafka
from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st

from consumer.core.errors import BrokerError
from consumer.core.records import Record
from consumer.settings import KafkaSettings
from consumer.shell.kafka.client import Consumer


def settings(**properties: object) -> KafkaSettings:
    return KafkaSettings(
        "127.0.0.1:9", ("t",), group_instance_id="pod-0", properties=dict(properties)
    )


def test_the_consumer_group_protocol_of_kip_848_is_accepted() -> None:
    """Its broker-side assignment refuses a client-side strategy, which we otherwise set."""
    Consumer(settings(**{"group.protocol": "consumer"})).close()
    Consumer(settings(**{"group.protocol": "classic"})).close()


def test_a_commit_returns_at_once_though_no_broker_answers() -> None:
    """A synchronous commit waited 45 s for an absent group coordinator, holding the Kafka
    thread past what the liveness probe allows; the commit is sent and answered later."""
    # the session timeout bounds how long the commit's answer (and so `close`) waits
    consumer = Consumer(settings(log_level=0, **{"session.timeout.ms": 6000}))
    consumer.subscribe(["t"], lambda _: None, lambda _: None, lambda _: None)
    returned = threading.Event()

    def commit() -> None:
        consumer.commit({("t", 0): 5})
        returned.set()

    threading.Thread(target=commit, daemon=True).start()
    assert returned.wait(3), "commit waited for the broker (it would for the 6 s session)"
    assert consumer.confirmed() == {}
    consumer.close()


def test_the_last_commit_answer_is_what_the_broker_holds_though_older() -> None:
    """Answers come in the order the coordinator wrote the commits; one librdkafka retried
    after the coordinator moved was written after a newer one (seen: 127 after 420)."""
    consumer = Consumer(settings(log_level=0))
    answer = consumer._on_commit  # librdkafka's callback, served in `consume`
    consumer.commit({("t", 0): 127, ("t", 1): 9})
    consumer.commit({("t", 0): 420})
    answer(None, [confluent_kafka.TopicPartition("t", 0, 420)])
    answer(
        None,
        [confluent_kafka.TopicPartition("t", 0, 127), confluent_kafka.TopicPartition("t", 1, 9)],
    )
    assert consumer.confirmed() == {("t", 0): 127, ("t", 1): 9}
    consumer.close()


_EVENT_CODES = (
    confluent_kafka.KafkaError._PARTITION_EOF,
    confluent_kafka.KafkaError._TRANSPORT,
    confluent_kafka.KafkaError._FATAL,
)
_HEADER_VALUES = st.one_of(st.none(), st.binary(max_size=8), st.text(max_size=8))
_RECORD: st.SearchStrategy[confluent_kafka.Message[Any, Any]] = st.builds(
    confluent_kafka.Message,
    topic=st.text(min_size=1, max_size=8),
    partition=st.integers(0, 2**31 - 1),
    offset=st.integers(0, 2**63 - 1),
    key=st.none() | st.binary(max_size=8),
    value=st.none() | st.binary(max_size=8),
    headers=st.one_of(
        st.none(),
        st.lists(st.tuples(st.text(max_size=4), _HEADER_VALUES), max_size=3),
        st.dictionaries(st.text(max_size=4), _HEADER_VALUES, max_size=3),
    ),
    timestamp=st.tuples(st.integers(0, 2), st.integers(-1, 2**45)),
)
_EVENT = st.builds(
    lambda code, fatal: confluent_kafka.Message(
        error=confluent_kafka.KafkaError(code, "why", fatal=fatal)
    ),
    st.sampled_from(_EVENT_CODES),
    st.booleans(),
)


def _consume_as_before(messages: list[Any]) -> list[Record]:
    """`Consumer.consume`'s loop before the records were built in one comprehension."""
    records = []
    for message in messages:
        err = message.error()
        if err is not None:
            if err.fatal() or err.code() == confluent_kafka.KafkaError._FATAL:
                raise BrokerError(f"The Kafka consumer hit a fatal error: {err.str()}.")
            logging.getLogger("consumer.shell.kafka.client").warning(
                "kafka consumer error", extra={"error": err.str()}
            )
            continue
        stamp_type, stamp = message.timestamp()
        raw = message.headers() or []
        pairs = raw.items() if isinstance(raw, dict) else raw
        records.append(
            Record(
                topic=str(message.topic()),
                partition=int(message.partition() or 0),
                offset=int(message.offset() or 0),
                key=message.key(),
                value=message.value(),
                headers=tuple((k, v.encode() if isinstance(v, str) else v) for k, v in pairs),
                timestamp_ms=stamp if stamp_type else None,
            )
        )
    return records


class _Client:
    def __init__(self, messages: list[Any]) -> None:
        self.messages = messages

    def consume(self, num_messages: int, timeout: float) -> list[Any]:
        return self.messages


def _reading(messages: list[Any]) -> Consumer:
    """Our wrapper over a stand-in for librdkafka's consumer that returns `messages`."""
    consumer = Consumer.__new__(Consumer)
    consumer._consumer = cast(confluent_kafka.Consumer, _Client(messages))
    return consumer


def _outcome(consume: Callable[[], list[Record]]) -> tuple[Any, list[tuple[str, str]]]:
    """What a consume returns or raises, and the warnings it logs (every one: the logger's
    filter of repeated lines is off meanwhile)."""
    warned: list[tuple[str, str]] = []
    handler = logging.Handler()
    handler.emit = lambda record: warned.append((record.getMessage(), record.__dict__["error"]))  # type: ignore[method-assign]
    logger = logging.getLogger("consumer.shell.kafka.client")
    filters = logger.filters[:]
    logger.filters.clear()
    logger.addHandler(handler)
    try:
        result: Any = [(type(r), tuple(r)) for r in consume()]
    except BrokerError as exc:
        result = str(exc)
    finally:
        logger.removeHandler(handler)
        logger.filters[:] = filters
    return result, warned


@examples(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_RECORD, _EVENT), max_size=6))
def test_records_and_events_are_read_as_before(messages: list[Any]) -> None:
    consumer = _reading(messages)
    consumer.brokers_reachable = False
    assert _outcome(lambda: consumer.consume(10, 0)) == _outcome(
        lambda: _consume_as_before(messages)
    )
    assert consumer.brokers_reachable is bool(messages)


def test_records_read_hold_nothing_the_garbage_collector_must_walk() -> None:
    """Records wait in memory for slow destinations (up to `max_buffered`): their fields are
    tuples, bytes, strings and numbers only, which a collection stops tracking (a `Record`
    itself, a tuple subclass, stays tracked), so each costs the collector one object."""
    with_headers = confluent_kafka.Message(topic="t", value=b"v", headers=[("h", "1")])
    consumer = _reading([with_headers, confluent_kafka.Message(topic="t", value=b"v")])
    records = consumer.consume(10, 0)
    gc.collect()
    gc.collect()  # a header pair first, then the headers tuple holding it
    assert len(records) == 2
    assert not any(gc.is_tracked(field) for record in records for field in record)
