"""Hostile records through the real broker, mixed with good ones, in single-event and batch mode.

Whatever the records hold (the poison set of `bench/poison.py`, records over and just under
every size bound, and values hypothesis makes up), the consumer stays up, commits every
offset, gives every record exactly one outcome (records consumed = delivered + filtered +
dead-lettered), dead-letters the poison with its own reason code (never `internal.error`), and
delivers the good events in per-person order.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import Any

import processes
import pytest
from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from standin import StandIn, lost, order_violations

from consumer import avro_codec, deadletter
from tests.hostile import record_values
from tests.pipeline import (
    ConsumerProcess,
    committed,
    read_topic,
    scrape,
    wait_for,
    write_config,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import poison

MAX_MESSAGE_BYTES = 1_000_000  # the default: its dead letters are larger than it
TOPIC_LIMIT = 4_000_000  # the input topic takes records far over the consumer's bound
PARTITIONS = 3
PREFIX = "movableink_consumer"


def good_events(people: int, each: int) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    events, expected = [], {}
    for i in range(each):
        for p in range(people):
            mid = f"good-{p}-{i}"
            events.append({"type": "track", "messageId": mid, "anonymousId": f"g{p}", "event": "E"})
            expected.setdefault(f"g{p}", []).append(mid)
    return events, expected


def records(generated: list[bytes]) -> tuple[list[tuple[bytes, bytes | None, Any]], list[Any]]:
    """Good events, the poison set, a 2 MB record and the generated values, interleaved."""
    bad = poison.make(1, 1, registry=False, max_message_bytes=MAX_MESSAGE_BYTES)
    events, _ = good_events(people=8, each=6)
    good = [
        (e["anonymousId"].encode(), avro_codec.frame(1, avro_codec.encode(e)), None) for e in events
    ]
    hostile: list[tuple[bytes, bytes | None, Any]] = [
        (p.key, p.value, list(p.headers) or None) for p in bad
    ]
    hostile.append(
        (b"hostile-2mb", b'{"type":"track","userId":"x","p":"' + b"y" * 2_000_000 + b'"}', None)
    )
    hostile += [(f"hostile-gen-{i}".encode(), value, None) for i, value in enumerate(generated)]
    mixed: list[tuple[bytes, bytes | None, Any]] = []
    for i in range(max(len(good), len(hostile))):
        mixed += good[i : i + 1] + hostile[i : i + 1]
    return mixed, bad


def produce(bootstrap: str, topic: str, items: list[tuple[bytes, bytes | None, Any]]) -> None:
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "message.max.bytes": TOPIC_LIMIT,
            "linger.ms": 5,
        }
    )
    for key, value, headers in items:
        producer.produce(topic, key=key, value=value, headers=headers)
    assert producer.flush(30) == 0


def outcomes(port: int) -> dict[str, float]:
    """Final outcomes summed over destinations and reasons, and records consumed."""
    found: dict[str, float] = {"consumed": 0.0}
    for name, value in scrape(port).items():
        if name.startswith(f"{PREFIX}_records_consumed_total"):
            found["consumed"] += value
        elif name.startswith(f"{PREFIX}_events_total"):
            outcome = name.split('outcome="', 1)[1].split('"', 1)[0]
            found[outcome] = found.get(outcome, 0.0) + value
    return found


@pytest.mark.parametrize("batch", [False, True], ids=["single", "batch"])
@settings(
    max_examples=2,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(generated=st.lists(record_values, min_size=30, max_size=30))
def test_hostile_records_never_crash_stall_or_count_as_delivered(
    batch: bool,
    generated: list[bytes],
    tmp_path: Path,
    kafka_bootstrap: str,
    standin: StandIn,
) -> None:
    standin.reset()
    run = uuid.uuid4().hex[:8]
    topic, group = f"hostile-{run}", f"hostile-group-{run}"
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    new = NewTopic(topic, PARTITIONS, 1, config={"max.message.bytes": str(TOPIC_LIMIT)})
    admin.create_topics([new], operation_timeout=30)[topic].result(timeout=30)
    items, bad = records(generated)
    produce(kafka_bootstrap, topic, items)
    port = processes.free_port()
    options: dict[str, Any] = {"signals": "enforce"}
    if batch:
        options["batch"] = {"enabled": True, "max_events": 20, "linger": "20ms"}
    config = write_config(
        tmp_path / f"config-{run}.toml",
        bootstrap=kafka_bootstrap,
        topic=topic,
        group=group,
        url=standin.url,
        metrics_port=port,
        destination=options,
    )
    consumer = ConsumerProcess(config, tmp_path / f"consumer-{run}.log")
    try:
        ends = _ends(kafka_bootstrap, topic)
        wait_for(lambda: _committed(kafka_bootstrap, group, topic) == ends, 120, "every commit")
        assert consumer.proc.poll() is None, consumer.logs()[-3000:]
        counts = outcomes(port)
        assert counts["consumed"] == len(items)
        finished = counts.get("delivered", 0) + counts.get("filtered", 0)
        assert finished + counts.get("dead_lettered", 0) == counts["consumed"], counts
        _, expected = good_events(people=8, each=6)
        everything = [m for ids in expected.values() for m in ids]
        assert not lost(standin.received(), everything)
        assert order_violations(standin.received(), expected) == []
        letters = read_topic(kafka_bootstrap, f"{topic}.dlq", int(counts.get("dead_lettered", 0)))
        reasons = {m.key(): dict(m.headers())[deadletter.REASON].decode() for m in letters}
        assert "internal.error" not in reasons.values(), consumer.logs()[-3000:]
        for p in bad:
            assert reasons.get(p.key) == p.reason, (p.kind, reasons.get(p.key))
        assert reasons[b"hostile-2mb"] == "decode.too_large"
        big = next(m for m in letters if m.key() == b"hostile-2mb")
        assert dict(big.headers())[deadletter.ORIGINAL_SIZE] == str(2_000_036).encode()
        near = next(m for m in letters if m.key().startswith(b"poison-near_limit_signals"))
        assert len(near.value()) > MAX_MESSAGE_BYTES - 100  # whole, not cut
    finally:
        consumer.stop()


def _committed(bootstrap: str, group: str, topic: str) -> dict[int, int] | None:
    """The group's commits, or None while the broker cannot say yet (a new coordinator)."""
    try:
        return committed(bootstrap, group, topic, PARTITIONS)
    except KafkaException:
        return None


def _ends(bootstrap: str, topic: str) -> dict[int, int]:
    from confluent_kafka import Consumer, TopicPartition

    reader = Consumer({"bootstrap.servers": bootstrap, "group.id": f"ends-{uuid.uuid4().hex}"})
    try:
        return {
            p: reader.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in range(PARTITIONS)
        }
    finally:
        reader.close()
