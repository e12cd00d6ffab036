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

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumer.core import deadletter
from devkit import processes
from devkit.harness import (
    ConsumerProcess,
    Record,
    create_topic,
    drained,
    keyed,
    produce_records,
    read_topic,
    scrape,
    wait_for,
)
from devkit.standin import StandIn, lost, order_violations
from tests.hostile import record_values
from tests.pipeline import write_config

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import poison

MAX_MESSAGE_BYTES = 1_000_000  # the default: its dead letters are larger than it
TOPIC_LIMIT = 4_000_000  # the input topic takes records far over the consumer's bound
PARTITIONS = 3
PREFIX = "movableink_consumer"


def good_events(people: int, each: int) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    events: list[dict[str, Any]] = []
    expected: dict[str, list[str]] = {}
    for i in range(each):
        for p in range(people):
            mid = f"good-{p}-{i}"
            events.append({"type": "track", "messageId": mid, "anonymousId": f"g{p}", "event": "E"})
            expected.setdefault(f"g{p}", []).append(mid)
    return events, expected


def records(generated: list[bytes]) -> tuple[list[Record], list[Any]]:
    """Good events, the poison set, a 2 MB record and the generated values, interleaved."""
    bad = poison.make(1, 1, registry=False, max_message_bytes=MAX_MESSAGE_BYTES)
    events, _ = good_events(people=8, each=6)
    good = [keyed(e) for e in events]
    hostile: list[Record] = [(p.key, p.value, list(p.headers) or None) for p in bad]
    hostile.append(
        (b"hostile-2mb", b'{"type":"track","userId":"x","p":"' + b"y" * 2_000_000 + b'"}', None)
    )
    hostile += [(f"hostile-gen-{i}".encode(), value, None) for i, value in enumerate(generated)]
    mixed: list[Record] = []
    for i in range(max(len(good), len(hostile))):
        mixed += good[i : i + 1] + hostile[i : i + 1]
    return mixed, bad


def outcomes(port: int) -> dict[str, float]:
    """Final outcomes summed over destinations and reasons, and records consumed."""
    metrics = scrape(port)
    found: dict[str, float] = {"consumed": metrics.total(f"{PREFIX}_records_consumed_total")}
    for sample in metrics.samples:
        if sample.name == f"{PREFIX}_events_total":
            outcome = sample.labels["outcome"]
            found[outcome] = found.get(outcome, 0.0) + sample.value
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
    create_topic(kafka_bootstrap, topic, PARTITIONS, {"max.message.bytes": str(TOPIC_LIMIT)})
    items, bad = records(generated)
    produce_records(kafka_bootstrap, topic, items, settings={"message.max.bytes": TOPIC_LIMIT})
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
        wait_for(lambda: drained(kafka_bootstrap, group, topic), 120, "every commit")
        assert consumer.alive(), consumer.logs()[-3000:]
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
        consumer.kill()
