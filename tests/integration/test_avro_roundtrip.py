"""Avro-encoded Segment messages in the Confluent wire format survive a real Kafka topic."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, Producer

from consumer.core.decode import Decoder, avro_codec

SCHEMA_ID = 7

MESSAGES: list[dict[str, Any]] = [
    {
        "type": "identify",
        "messageId": "m-1",
        "anonymousId": "anon-1",
        "userId": "user-1",
        "traits": {"email": "a@example.com", "order_completed_last_30days": True},
        "context": {"ip": "1.2.3.4", "library": {"name": "analytics.js", "version": "2.11.1"}},
        "timestamp": "2026-11-24T10:00:00.000Z",
        "version": 2,
    },
    {
        "type": "track",
        "messageId": "m-2",
        "userId": "user-1",
        "event": "Order Completed",
        "properties": {
            "total": 19.99,
            "big": 12345678901234567890123,
            "products": [{"sku": "ß-1", "price": "9.5", "note": None}],
            "emoji": "\u2603\U0001f600",
        },
        "integrations": {"All": False, "Movable Ink (Actions)": {"x": 1}},
        "sentAt": "2026-11-24T10:00:01Z",
    },
    {"type": "page", "messageId": "m-3", "anonymousId": "anon-2", "name": None, "userId": 42},
]


def test_confluent_framed_avro_round_trips_through_a_topic(
    kafka_bootstrap: str, new_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    topic = new_topic(partitions=3)
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for i, message in enumerate(MESSAGES):
        value = avro_codec.frame(SCHEMA_ID, avro_codec.encode(message))
        producer.produce(topic, value=value, key=str(i).encode(), partition=i % 3)
    assert producer.flush(30) == 0

    consumer = Consumer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "group.id": unique_name("group"),
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    decoder = Decoder(schemas_by_id={SCHEMA_ID: avro_codec.segment_schema()})
    received: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + 60
    try:
        while len(received) < len(MESSAGES) and time.monotonic() < deadline:
            record = consumer.poll(0.5)
            if record is None or record.error():
                continue
            framed = record.value()
            assert framed is not None and framed[0] == 0
            assert int.from_bytes(framed[1:5], "big") == SCHEMA_ID
            decoded = decoder.decode(framed)
            received[decoded["messageId"]] = decoded
    finally:
        consumer.close()

    assert received == {m["messageId"]: m for m in MESSAGES}
    # Exactly the JSON Segment's API shows: same text once serialised, types included.
    for message in MESSAGES:
        assert json.dumps(received[message["messageId"]], sort_keys=True) == json.dumps(
            message, sort_keys=True
        )
