"""The librdkafka settings we own, checked by the real client library (nothing is sent)."""

from __future__ import annotations

from consumer.kafka import Consumer
from consumer.settings import KafkaSettings


def settings(**properties: object) -> KafkaSettings:
    return KafkaSettings(
        "127.0.0.1:9", ("t",), group_instance_id="pod-0", properties=dict(properties)
    )


def test_the_consumer_group_protocol_of_kip_848_is_accepted() -> None:
    """Its broker-side assignment refuses a client-side strategy, which we otherwise set."""
    Consumer(settings(**{"group.protocol": "consumer"})).close()
    Consumer(settings(**{"group.protocol": "classic"})).close()
