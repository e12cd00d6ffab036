"""`check-topic`: what a topic's records say about its producers' keying, before it costs order.

Reads the last `--sample` records of every partition (all of them with 0), assigned directly:
no consumer group, nothing committed, the live group untouched. Each value goes through the
consumer's own decoder; the summary (`consumer.core.keying.TopicSample`) gives the share of
records per keying kind, the share of people whose events sit on more than one partition, which
hash placed the keyed records (murmur2: Java, kafkajs, librdkafka's `murmur2_random`; CRC32:
librdkafka's default `consistent_random`), and the producer setting that fixes what it found.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from consumer.config import Settings
from consumer.core.errors import BrokerError, DecodeError, Unavailable
from consumer.core.keying import TopicSample
from consumer.shell.kafka.client import Consumer, TopicPartition
from consumer.shell.pipeline import build_decoder

EXIT_FAILED = 1
DEFAULT_SAMPLE = 10_000  # records per partition
POLL_S = 0.5
STALL_S = 30.0  # no record and no progress this long: the broker is not answering


def check_topic(settings: Settings, topic: str, sample: int, out: TextIO) -> int:
    """Print the report on `topic`; `sample` records per partition from its end (0: all).
    Returns the exit status: 1 (and one line on standard error) if Kafka failed."""
    try:
        result = _sample(settings, topic, sample)
    except BrokerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    out.write(f"topic {topic}\n{result.report()}\n")
    return 0


def _sample(settings: Settings, topic: str, sample: int) -> TopicSample:
    consumer = Consumer(settings.kafka, group_id=f"{settings.kafka.group_id}.check-topic")
    try:
        partitions = consumer.partitions(topic)
        result = TopicSample(len(partitions))
        ends: dict[TopicPartition, int] = {}
        starts: dict[TopicPartition, int] = {}
        for partition in partitions:
            low, high = consumer.ends(topic, partition)
            start = low if sample == 0 else max(low, high - sample)
            if start < high:
                starts[(topic, partition)], ends[(topic, partition)] = start, high
        consumer.assign(starts)
        _read(consumer, ends, settings, result)
    finally:
        consumer.close()
    return result


def _read(
    consumer: Consumer, ends: dict[TopicPartition, int], settings: Settings, result: TopicSample
) -> None:
    """Read every partition up to its end (taken at the start) into `result`."""
    decoder = build_decoder(settings)
    waiting = dict(ends)
    last_progress = time.monotonic()
    while waiting:
        records = consumer.consume(500, POLL_S)
        for record in records:
            end = waiting.get((record.topic, record.partition))
            if end is None or record.offset >= end:
                continue
            try:
                message = decoder.decode(record.value)
            except DecodeError:
                result.add_undecodable()
            except Unavailable as exc:
                raise BrokerError(f"The schema registry cannot be reached: {exc}") from exc
            else:
                result.add(record.partition, record.key, message)
        # The end may be a transaction marker, never handed out as a record: ask the position.
        for tp, end in list(waiting.items()):
            if (consumer.position(*tp) or 0) >= end:
                del waiting[tp]
        if records:
            last_progress = time.monotonic()
        elif time.monotonic() - last_progress > STALL_S:
            raise BrokerError(f"Reading {', '.join(f'{t}[{p}]' for t, p in waiting)} stalled.")
