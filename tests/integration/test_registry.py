"""Registry mode against a real schema registry (Apicurio Registry, Confluent-compatible API)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from confluent_kafka import Producer
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

from consumer.core.decode import Decoder, avro_codec
from consumer.core.errors import Rejected, Unavailable
from consumer.settings import RegistrySettings
from consumer.shell.kafka.registry import RegistryLookup
from devkit.harness import read_topic

MESSAGE = {
    "type": "identify",
    "messageId": "r-1",
    "userId": "u-1",
    "traits": {"plan": "pro", "seats": 12, "ratio": 0.5, "tags": ["a", None]},
}


def test_records_framed_with_a_registry_id_decode_through_the_registry(
    schema_registry_url: str,
    kafka_bootstrap: str,
    new_topic: Callable[..., str],
) -> None:
    topic = new_topic(partitions=1)
    with SchemaRegistryClient({"url": schema_registry_url}) as client:
        schema_id = client.register_schema(
            f"{topic}-value", Schema(avro_codec.SCHEMA_PATH.read_text(), "AVRO")
        )
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    producer.produce(topic, avro_codec.frame(schema_id, avro_codec.encode(MESSAGE)))
    assert producer.flush(30) == 0
    (record,) = read_topic(kafka_bootstrap, topic, 1)

    lookup = RegistryLookup(RegistrySettings(url=schema_registry_url))
    try:
        assert Decoder(lookup=lookup).decode(record.value()) == MESSAGE
    finally:
        lookup.close()


def test_an_unknown_schema_id_is_a_rejection(schema_registry_url: str) -> None:
    lookup = RegistryLookup(RegistrySettings(url=schema_registry_url))
    try:
        with pytest.raises(Rejected) as caught:
            Decoder(lookup=lookup).decode(avro_codec.frame(987654, avro_codec.encode(MESSAGE)))
    finally:
        lookup.close()
    assert caught.value.reason == "decode.unknown_schema_id"


def test_an_unreachable_registry_is_not_a_rejection() -> None:
    lookup = RegistryLookup(RegistrySettings(url="http://127.0.0.1:9"))
    try:
        with pytest.raises(Unavailable):
            Decoder(lookup=lookup).decode(avro_codec.frame(1, avro_codec.encode(MESSAGE)))
    finally:
        lookup.close()
