"""Avro as other people write it, end to end: events serialized by Confluent's own
`AvroSerializer` under other producers' schemas (auto-registered in the real registry), read
through the real broker by a consumer process, arrive at the stand-in as the Segment JSON the
producer meant, with the producer's messageId, and none is dead-lettered."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient, record_subject_name_strategy
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from hypothesis import HealthCheck, Phase, given, seed, settings

from devkit.harness import ConsumerProcess, wait_for
from devkit.standin import StandIn
from tests.avro_cases import (
    MONEY_SCHEMA,
    RUDDERSTACK_SCHEMA,
    TYPED_SCHEMA,
    Case,
    cases,
    money_events,
    rudderstack_page,
    typed_track,
)

PER_SCHEMA = 40  # events of each fixed schema


Written = list[tuple[dict[str, Any], dict[str, Any], str]]  # (schema, datum, expected JSON)


def fixed_events() -> Written:
    """The issue's table: RudderStack's schema; enums, uuid, timestamp-millis and maps;
    decimal, date and timestamp-millis traits with `Order Completed` orders."""
    written: Written = []
    for n in range(PER_SCHEMA):
        for schema, (datum, expected) in (
            (RUDDERSTACK_SCHEMA, rudderstack_page(n)),
            (TYPED_SCHEMA, typed_track(n)),
        ):
            written.append((schema, datum, json.dumps(expected, sort_keys=True)))
    for n in range(PER_SCHEMA // 2):
        for datum, expected in money_events(n):
            written.append((MONEY_SCHEMA, datum, json.dumps(expected, sort_keys=True)))
    return written


def generated_events(drawn: list[Case]) -> Written:
    """Every event of the drawn cases whose message id is not taken by an earlier one."""
    written: Written = []
    seen: set[str] = set()
    for case in drawn:
        for event in case.events:
            if event.message_id not in seen:
                seen.add(event.message_id)
                body = {**event.omit, "messageId": event.message_id}
                written.append((case.schema, event.datum, json.dumps(body, sort_keys=True)))
    return written


@pytest.fixture
def delivered_as_sent(
    kafka_bootstrap: str,
    schema_registry_url: str,
    configured_topic: Callable[..., tuple[str, Path]],
    standin: StandIn,
) -> Callable[[Written], None]:
    """Checks that what it is given arrives as it was meant (see `_deliver`)."""

    def check(written: Written) -> None:
        topic, config = configured_topic(
            schema_registry=schema_registry_url, destination={"signals": "enforce"}
        )
        _deliver(written, kafka_bootstrap, schema_registry_url, topic, config, standin)

    return check


def _deliver(
    written: Written,
    kafka_bootstrap: str,
    registry: str,
    topic: str,
    config: Path,
    standin: StandIn,
) -> None:
    """Produce `written` with AvroSerializer (one subject per record name), consume it with a
    consumer process, and check every body the stand-in received."""
    context = SerializationContext(topic, MessageField.VALUE)
    conf = {"subject.name.strategy": record_subject_name_strategy}
    expected: dict[str, str] = {}
    with SchemaRegistryClient({"url": registry}) as client:
        serializers: dict[str, AvroSerializer] = {}
        producer = Producer({"bootstrap.servers": kafka_bootstrap})
        for schema, datum, body in written:
            text = json.dumps(schema)
            if text not in serializers:
                serializers[text] = AvroSerializer(client, text, conf=conf)
            producer.produce(
                topic, serializers[text](datum, context), key=str(datum["userId"]).encode()
            )
            expected[json.loads(body)["messageId"]] = body
        assert producer.flush(30) == 0
    assert len(expected) == len(written)  # message ids are unique

    consumer = ConsumerProcess(config, config.parent / "consumer.log")  # in the test's tmp_path
    try:
        wait_for(
            lambda: len({r.message_id for r in standin.received()}) >= len(expected),
            120,
            "every event at the stand-in",
        )
        logs = consumer.logs()
    finally:
        consumer.kill()
    received = {r.message_id: json.dumps(r.event, sort_keys=True) for r in standin.received()}
    assert received == expected
    assert "dead-lettering" not in logs


def test_the_issue_schemas_deliver_every_event_as_segment_json(
    delivered_as_sent: Callable[[Written], None],
) -> None:
    delivered_as_sent(fixed_events())


@pytest.mark.parametrize("number", [0, 1])
def test_generated_schemas_deliver_every_event_as_segment_json(
    number: int, delivered_as_sent: Callable[[Written], None]
) -> None:
    drawn: list[Case] = []

    @settings(
        max_examples=12,
        database=None,
        phases=[Phase.generate],
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @seed(30_000 + number)
    @given(cases(max_events=6))
    def draw(made: Case) -> None:
        drawn.append(made)

    draw()
    written = generated_events(drawn)
    assert len({json.dumps(schema) for schema, _, _ in written}) >= 5 and len(written) >= 20
    delivered_as_sent(written)
