"""The keying contract (classify), Kafka's partitioners against known vectors, the sample summary
`check-topic` prints, and the monitor's metric and rate-limited warning (with a fake clock)."""

from __future__ import annotations

import logging
import zlib
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from consumer.core.keying import (
    FIX,
    FIX_PARTITIONER,
    SEGMENT_KEY_MAPPING,
    TopicSample,
    classify,
    crc32_partition,
    murmur2,
    murmur2_partition,
    partitioner_of,
)
from consumer.shell.keying import KeyingMonitor
from consumer.shell.metrics import Metrics

BOTH = {"type": "track", "anonymousId": "a1", "userId": "u1", "messageId": "m1"}
ANONYMOUS = {"type": "page", "anonymousId": "a1"}
USER = {"type": "track", "userId": "u1"}


@pytest.mark.parametrize(
    ("key", "message", "kind"),
    [
        (b"a1", BOTH, "ok"),
        (b"a1", ANONYMOUS, "ok"),
        (b"u1", USER, "ok"),
        (None, BOTH, "none"),
        (None, USER, "none"),
        (b"u1", BOTH, "user_first"),
        (b"m1", BOTH, "foreign"),
        (b"", BOTH, "foreign"),
        (b"a1", USER, "foreign"),
        (b"42", {"userId": 42}, "ok"),  # numeric ids are keyed by their text
        (b"x", {"anonymousId": "", "userId": "x"}, "ok"),  # an empty id is no id
        (b"same", {"anonymousId": "same", "userId": "same"}, "ok"),
        (None, {"type": "track"}, None),  # no id to key by
        (b"k", [1, 2], None),  # not a message
    ],
)
def test_classify_follows_the_contract(key: bytes | None, message: Any, kind: str | None) -> None:
    assert classify(key, message) == kind


IDS = st.one_of(st.none(), st.just(""), st.text(max_size=6), st.integers(-5, 5))


@given(IDS, IDS, st.sampled_from(["none", "anonymous", "user", "other"]))
def test_classify_agrees_with_the_contracts_definition(
    anonymous: str | int | None, user: str | int | None, keyed_by: str
) -> None:
    message = {"type": "track", "anonymousId": anonymous, "userId": user}
    text = {k: None if v is None or v == "" else str(v) for k, v in message.items()}
    key = {
        "none": None,
        "anonymous": None if text["anonymousId"] is None else text["anonymousId"].encode(),
        "user": None if text["userId"] is None else text["userId"].encode(),
        "other": b"\xff-other",
    }[keyed_by]
    wanted = text["anonymousId"] or text["userId"]
    if wanted is None:
        expected = None
    elif key is None:
        expected = "none"
    elif key == wanted.encode():
        expected = "ok"
    elif text["userId"] is not None and key == text["userId"].encode():
        expected = "user_first"
    else:
        expected = "foreign"
    assert classify(key, message) == expected


# Kafka's own vectors (clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java).
JAVA_MURMUR2 = {
    "21": -973932308,
    "foobar": -790332482,
    "a-little-bit-long-string": -985981536,
    "a-little-bit-longer-string": -1486304829,
    "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    "abc": 479470107,
}


@pytest.mark.parametrize(("text", "expected"), JAVA_MURMUR2.items())
def test_murmur2_matches_javas(text: str, expected: int) -> None:
    assert murmur2(text.encode()) == expected


@given(st.binary(max_size=64), st.integers(min_value=1, max_value=500))
def test_partitions_are_in_range(key: bytes, partitions: int) -> None:
    assert 0 <= murmur2_partition(key, partitions) < partitions
    assert crc32_partition(key, partitions) == zlib.crc32(key) % partitions


def test_partitioner_of_tells_the_hashes_apart() -> None:
    key, n = b"anon-7", 12
    m, c = murmur2_partition(key, n), crc32_partition(key, n)
    assert m != c
    assert partitioner_of(key, m, n) == "murmur2"
    assert partitioner_of(key, c, n) == "crc32"
    assert partitioner_of(key, next(p for p in range(n) if p not in (m, c)), n) == "neither"
    assert partitioner_of(key, 0, 1) == "both"


def _sample(partitions: int, rows: Sequence[tuple[int, bytes | None, Any]]) -> TopicSample:
    sample = TopicSample(partitions)
    for partition, key, message in rows:
        sample.add(partition, key, message)
    return sample


def test_a_sample_keyed_by_the_contract_needs_no_fix() -> None:
    n = 6
    rows = [
        (murmur2_partition(b"a1", n), b"a1", ANONYMOUS),
        (murmur2_partition(b"a1", n), b"a1", BOTH),
        (murmur2_partition(b"u2", n), b"u2", {"userId": "u2"}),
    ]
    sample = _sample(n, rows)
    assert sample.kinds["ok"] == 3
    assert sample.people.spread() == (2, 0)
    assert sample.fixes() == []
    assert "nothing to fix" in sample.report()
    assert "verdict: murmur2" in sample.report()


def test_a_sample_without_keys_names_segments_mapping() -> None:
    sample = _sample(4, [(0, None, ANONYMOUS), (1, None, BOTH), (2, None, USER)])
    assert sample.kinds["none"] == 3
    assert sample.people.spread() == (1, 1)  # a1 and u1 joined by the identified event
    assert sample.fixes() == [FIX["none"]]
    assert SEGMENT_KEY_MAPPING in sample.report()
    assert "people on more than one partition: 1 of 1 (100.0 %)" in sample.report()


def test_a_userid_first_sample_and_a_crc32_producer() -> None:
    n = 12
    rows = [
        (crc32_partition(b"a1", n), b"a1", ANONYMOUS),
        (crc32_partition(b"u1", n), b"u1", BOTH),
        (murmur2_partition(b"u2", n), b"u2", {"userId": "u2"}),
    ]
    assert murmur2_partition(b"u1", n) != crc32_partition(b"u1", n)
    assert murmur2_partition(b"u2", n) != crc32_partition(b"u2", n)
    sample = _sample(n, rows)
    assert sample.kinds == {"ok": 2, "user_first": 1}
    assert sample.fixes() == [FIX["user_first"], FIX_PARTITIONER]
    assert "producers disagree" in sample.partitioner_verdict()


def test_undecodable_and_idless_records_are_counted_apart() -> None:
    sample = _sample(2, [(0, b"k", {"type": "track"})])
    sample.add_undecodable()
    assert (sample.checked, sample.no_id, sample.undecodable) == (0, 1, 1)
    assert "1 undecodable, 1 without anonymousId or userId" in sample.report()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _monitor(every: float = 300.0) -> tuple[KeyingMonitor, Metrics, Clock]:
    metrics, clock = Metrics(CollectorRegistry()), Clock()
    return KeyingMonitor(metrics, log_every_s=every, clock=clock), metrics, clock


def _value(metrics: Metrics, name: str, **labels: str) -> float:
    found = metrics.registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


def _warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "consumer.shell.keying"]


def test_the_monitor_counts_checked_and_miskeyed_records_by_kind() -> None:
    monitor, metrics, _ = _monitor()
    monitor.observe(
        [
            ("t", 0, b"a1", BOTH),
            ("t", 0, None, BOTH),
            ("t", 1, b"u1", BOTH),
            ("t", 1, b"zz", BOTH),
            ("t", 1, None, {"type": "track"}),  # no id: not checked
            ("u", 0, b"u1", USER),
        ]
    )
    total = "movableink_consumer_records_key_checked_total"
    miskeyed = "movableink_consumer_records_miskeyed_total"
    assert _value(metrics, total, topic="t") == 4
    assert _value(metrics, total, topic="u") == 1
    for kind in ("none", "user_first", "foreign"):
        assert _value(metrics, miskeyed, topic="t", kind=kind) == 1
    assert _value(metrics, miskeyed, topic="u", kind="none") == 0


def test_the_monitor_warns_once_per_partition_then_at_most_every_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "consumer.shell.keying")
    monitor, _, clock = _monitor(every=300.0)
    monitor.observe([("t", 0, None, BOTH), ("t", 1, b"u1", BOTH), ("t", 2, b"a1", BOTH)])
    first = _warnings(caplog)
    assert sorted((r.partition, r.kind) for r in first) == [(0, "none"), (1, "user_first")]  # type: ignore[attr-defined]
    assert {r.fix for r in first} == {FIX["none"], FIX["user_first"]}  # type: ignore[attr-defined]
    assert first[0].messageId == "m1"  # type: ignore[attr-defined]

    caplog.clear()
    clock.now += 299.0
    monitor.observe([("t", 0, None, BOTH)] * 5)
    assert _warnings(caplog) == []

    clock.now += 1.0
    monitor.observe([("t", 0, None, BOTH), ("t", 0, b"a1", BOTH)])
    (again,) = _warnings(caplog)
    # What was counted since the last warning, not only this batch.
    assert (again.partition, again.miskeyed, again.checked) == (0, {"none": 6}, 7)  # type: ignore[attr-defined]


def test_the_monitor_is_silent_for_a_topic_keyed_by_the_contract(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "consumer.shell.keying")
    monitor, metrics, _ = _monitor()
    monitor.observe([("t", 0, b"a1", ANONYMOUS), ("t", 0, b"a1", BOTH), ("t", 3, b"u1", USER)])
    assert _warnings(caplog) == []
    assert _value(metrics, "movableink_consumer_records_key_checked_total", topic="t") == 3
    # Each kind is exported at 0, so that the alert's share is 0, not absent.
    for kind in ("none", "foreign", "user_first"):
        labels = {"topic": "t", "kind": kind}
        assert (
            metrics.registry.get_sample_value("movableink_consumer_records_miskeyed_total", labels)
            == 0.0
        )
