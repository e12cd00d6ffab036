"""The dead-letter topics: created at start-up when missing, with the input topic's partition
count and a record limit that fits any record the consumer accepts, dead-letter headers
included. Runs before the consumer starts, on a worker thread of the start-up.
"""

from __future__ import annotations

import logging

import confluent_kafka
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from consumer.core.deadletter import topic_for
from consumer.core.errors import BrokerError
from consumer.settings import KafkaSettings
from consumer.shell.kafka.client import build_client, common_config, record_limit

log = logging.getLogger(__name__)


def ensure_dead_letter_topics(settings: KafkaSettings) -> None:
    """Create each input topic's dead-letter topic (same partition count) if it is missing,
    able to take the largest record the consumer accepts, with its dead-letter headers."""
    admin = Admin(settings)
    limit = {"max.message.bytes": str(record_limit(settings))}
    for topic in settings.topics:
        target = topic_for(settings.dead_letter_topic, topic)
        if admin.ensure_topic(target, admin.partitions(topic) or 1, limit):
            log.info("created dead-letter topic", extra={"topic": target})


# The identity-links topic holds personal identifiers: deleted after an hour, never compacted
# (no permanent identity graph); one partition, so that a pod's links come before its progress.
LINKS_RETENTION_S = 3600
LINKS_TOPIC_CONFIG = {
    "cleanup.policy": "delete",
    "retention.ms": str(LINKS_RETENTION_S * 1000),
    "segment.ms": str(LINKS_RETENTION_S * 1000 // 6),
}


def ensure_links_topic(settings: KafkaSettings, topic: str) -> None:
    """Create the identity-links topic if it is missing (see `identity_links`)."""
    if Admin(settings).ensure_topic(topic, 1, LINKS_TOPIC_CONFIG):
        log.info("created identity-links topic", extra={"topic": topic})


class Admin:
    """The few admin operations the consumer needs."""

    def __init__(self, settings: KafkaSettings) -> None:
        self._admin = build_client(AdminClient, common_config(settings), settings.properties)

    def partitions(self, topic: str, timeout_s: float = 10.0) -> int | None:
        """The topic's partition count, or None if it does not exist."""
        try:
            metadata = self._admin.list_topics(topic, timeout=timeout_s)
        except confluent_kafka.KafkaException as exc:
            raise BrokerError(f"Kafka did not answer a metadata request: {exc}.") from exc
        found = metadata.topics.get(topic)
        if found is None or found.error is not None:
            return None
        return len(found.partitions)

    def ensure_topic(
        self,
        topic: str,
        partitions: int,
        config: dict[str, str] | None = None,
        timeout_s: float = 30.0,
    ) -> bool:
        """Create the topic unless it exists; True if it was created."""
        if self.partitions(topic, timeout_s) is not None:
            return False
        new = NewTopic(topic, num_partitions=partitions, config=config or {})
        future = self._admin.create_topics([new], operation_timeout=timeout_s)[topic]
        try:
            future.result(timeout=timeout_s)
        except confluent_kafka.KafkaException as exc:
            err = exc.args[0]
            if err.code() == confluent_kafka.KafkaError.TOPIC_ALREADY_EXISTS:
                return False
            raise BrokerError(f"Kafka refused to create topic {topic}: {err.str()}.") from exc
        return True
