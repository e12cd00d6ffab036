"""The keying contract against real producers through the real broker: the partitions that
confluent-kafka (librdkafka's murmur2_random and consistent_random) and kafkajs (as Segment's
Kafka destination uses it) put keys on, and `check-topic` on a topic of each keying."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from consumer import cli
from consumer.core.keying import (
    FIX,
    FIX_PARTITIONER,
    SEGMENT_KEY_MAPPING,
    contract_key,
    crc32_partition,
    murmur2_partition,
)
from devkit import harness, segment_kafka

PARTITIONS = 12
PEOPLE = 60


def _librdkafka(bootstrap: str, topic: str, events: list[dict[str, Any]], partitioner: str) -> None:
    """Events keyed by the contract, produced by confluent-kafka with `partitioner`."""
    out = Producer({"bootstrap.servers": bootstrap, "partitioner": partitioner, "linger.ms": 5})
    for event in events:
        key = contract_key(event)
        out.produce(topic, json.dumps(event).encode(), None if key is None else key.encode())
    assert out.flush(30) == 0


def _placed(bootstrap: str, topic: str) -> dict[bytes, set[int]]:
    placed: dict[bytes, set[int]] = {}
    for record in harness.read_topic(bootstrap, topic):
        placed.setdefault(record.key(), set()).add(record.partition())
    return placed


@pytest.mark.parametrize(
    ("partitioner", "expected"),
    [("murmur2_random", murmur2_partition), ("consistent_random", crc32_partition)],
)
def test_librdkafka_puts_keys_where_our_partitioners_say(
    kafka_bootstrap: str,
    new_topic: Callable[..., str],
    partitioner: str,
    expected: Callable[[bytes, int], int],
) -> None:
    topic = new_topic(PARTITIONS)
    _librdkafka(kafka_bootstrap, topic, segment_kafka.journeys(PEOPLE), partitioner)
    placed = _placed(kafka_bootstrap, topic)
    assert len(placed) == 2 * PEOPLE  # anon-N and user-N (the userId-only event)
    assert placed == {key: {expected(key, PARTITIONS)} for key in placed}


def test_kafkajs_as_segment_uses_it_puts_keys_where_murmur2_says(
    kafka_bootstrap: str, new_topic: Callable[..., str]
) -> None:
    topic = new_topic(PARTITIONS)
    segment_kafka.produce(
        kafka_bootstrap, topic, segment_kafka.journeys(PEOPLE), "anonymous_first", batch_size=50
    )
    placed = _placed(kafka_bootstrap, topic)
    assert len(placed) == 2 * PEOPLE
    assert placed == {key: {murmur2_partition(key, PARTITIONS)} for key in placed}
    assert any(crc32_partition(k, PARTITIONS) != murmur2_partition(k, PARTITIONS) for k in placed)


def test_segment_kafka_writes_json_values_and_the_destinations_headers(
    kafka_bootstrap: str, new_topic: Callable[..., str]
) -> None:
    topic = new_topic(3)
    events = segment_kafka.journey(7)
    segment_kafka.produce(kafka_bootstrap, topic, events, "none")
    records = harness.read_topic(kafka_bootstrap, topic)
    assert sorted(json.loads(r.value())["messageId"] for r in records) == sorted(
        e["messageId"] for e in events
    )
    assert {r.key() for r in records} == {None}
    assert len({r.partition() for r in records}) == 3  # round robin without a key
    first = next(r for r in records if json.loads(r.value())["messageId"] == "7-3")
    assert dict(first.headers()) == {
        "segment-message-type": b"identify",
        "segment-message-id": b"7-3",
        "source": b"segment",
    }


@pytest.fixture(autouse=True)
def _credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in harness.CREDENTIALS.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def check_topic(
    tmp_path: Path, kafka_bootstrap: str, capsys: pytest.CaptureFixture[str]
) -> Callable[[str], str]:
    """`check-topic` of a topic (JSON values, a group named after it), `args` added: its report."""

    def check(topic: str, *args: str) -> str:
        config = harness.write_config(
            tmp_path / "config.toml",
            bootstrap=kafka_bootstrap,
            topic=topic,
            group=f"group-{topic}",
            destinations=[harness.Destination("mi", "http://127.0.0.1:9/behavioral/k")],
            kafka={"value_format": "json"},
        )
        capsys.readouterr()
        assert cli.main(["check-topic", "--config", str(config), "--topic", topic, *args]) == 0
        return capsys.readouterr().out

    return check


def _share(report: str, name: str) -> str:
    line = next(ln for ln in report.splitlines() if ln.strip().startswith(name + " "))
    return line.split()[-2]


@pytest.mark.parametrize("keying", segment_kafka.KEYINGS)
def test_check_topic_reports_each_keying_of_segments_destination(
    kafka_bootstrap: str,
    new_topic: Callable[..., str],
    check_topic: Callable[..., str],
    keying: segment_kafka.Keying,
) -> None:
    topic = new_topic(PARTITIONS)
    segment_kafka.produce(kafka_bootstrap, topic, segment_kafka.journeys(PEOPLE), keying)
    report = check_topic(topic)
    assert f"records checked: {9 * PEOPLE} over {PARTITIONS} partitions" in report
    if keying == "none":
        assert _share(report, "none") == "100.0"
        assert SEGMENT_KEY_MAPPING in report
        assert FIX["none"] in report
        assert "partitioner of the keyed records" not in report
        spread = next(ln for ln in report.splitlines() if ln.startswith("people on more"))
        assert int(spread.split()[6]) > PEOPLE // 2, spread
    elif keying == "anonymous_first":
        assert _share(report, "ok") == "100.0"
        assert "verdict: murmur2" in report
        assert "fix: nothing to fix" in report
    else:
        assert _share(report, "user_first") == f"{100 * 5 / 9:.1f}"  # identify and 4 tracks
        assert FIX["user_first"] in report
        assert "verdict: murmur2" in report
    assert FIX_PARTITIONER not in report


def test_check_topic_reports_librdkafkas_default_partitioner(
    kafka_bootstrap: str, new_topic: Callable[..., str], check_topic: Callable[..., str]
) -> None:
    topic = new_topic(PARTITIONS)
    _librdkafka(kafka_bootstrap, topic, segment_kafka.journeys(PEOPLE), "consistent_random")
    report = check_topic(topic)
    assert _share(report, "ok") == "100.0"
    assert "verdict: CRC32 (librdkafka's default consistent_random)" in report
    assert FIX_PARTITIONER in report


def test_check_topic_sees_producers_that_disagree(
    kafka_bootstrap: str, new_topic: Callable[..., str], check_topic: Callable[..., str]
) -> None:
    """Segment's destination and a librdkafka producer keying alike still split people."""
    topic = new_topic(PARTITIONS)
    events = segment_kafka.journeys(PEOPLE)
    segment_kafka.produce(kafka_bootstrap, topic, events[: len(events) // 2], "anonymous_first")
    _librdkafka(kafka_bootstrap, topic, events[len(events) // 2 :], "consistent_random")
    report = check_topic(topic)
    assert "verdict: producers disagree" in report
    assert FIX_PARTITIONER in report


def test_check_topic_reads_the_last_records_of_each_partition_and_commits_nothing(
    kafka_bootstrap: str, new_topic: Callable[..., str], check_topic: Callable[..., str]
) -> None:
    topic = new_topic(4)
    segment_kafka.produce(kafka_bootstrap, topic, segment_kafka.journeys(20), "anonymous_first")
    check_topic(topic)
    assert "records checked: 20 over 4 partitions" in check_topic(topic, "--sample", "5")
    assert set(
        harness.committed(kafka_bootstrap, f"group-{topic}.check-topic", topic, 4).values()
    ) == {-1001}


def test_check_topic_fails_with_one_line_for_a_missing_topic_or_a_negative_sample(
    kafka_bootstrap: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = harness.write_config(
        tmp_path / "config.toml",
        bootstrap=kafka_bootstrap,
        topic="nowhere",
        group="group-nowhere",
        destinations=[harness.Destination("mi", "http://127.0.0.1:9/behavioral/k")],
    )
    missing = f"missing-{tmp_path.name}"
    assert cli.main(["check-topic", "--config", str(config), "--topic", missing]) == 1
    assert capsys.readouterr().err == f"error: Topic {missing} does not exist.\n"
    assert cli.main(["check-topic", "--config", str(config), "--topic", "t", "--sample", "-1"]) == 2
    assert "--sample must be" in capsys.readouterr().err
