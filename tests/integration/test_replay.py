"""`replay` against the real broker and stand-in: windows, dead letters, dry runs, re-publishing,
interrupt and resume. The replay runs as `python -m consumer replay`, a real process."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import confluent_kafka
import pytest
from confluent_kafka.admin import AdminClient

from consumer.core import deadletter
from devkit.harness import CREDENTIALS, encode, produce, read_topic, track, wait_for
from devkit.standin import Faults, Rule, StandIn, duplicates, lost, order_violations

# Record timestamps of the produced events, in ms: an hour ago. A fixed date drifts out of the
# broker's retention (7 days by default), and its retention check, every 5 minutes, then deletes
# a test's records under it: the replay resume failed that way in long runs.
T0 = (int(time.time()) - 3600) * 1000


def person(name: str, count: int, phase: str) -> list[dict[str, Any]]:
    return [
        track(f"{phase}-{name}-{i}", i, "Item Clicked", anonymousId=f"anon-{name}")
        for i in range(count)
    ]


def produce_at(bootstrap: str, topic: str, events: list[dict[str, Any]], ms: int) -> None:
    produce(bootstrap, topic, events, headers=[("origin", b"test")], timestamp=ms)


def produced(bootstrap: str, topic: str, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`events`, produced at `T0`."""
    produce_at(bootstrap, topic, events, T0)
    return events


def run_with_credentials(argv: list[str], **options: Any) -> subprocess.CompletedProcess[str]:
    """`argv` run to its end (in two minutes at most) with the credentials in its environment;
    what it printed kept as text."""
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **CREDENTIALS},
        check=False,
        **options,
    )


def replay(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_with_credentials(
        [sys.executable, "-m", "consumer", "replay", "--config", str(config), *args]
    )


@pytest.fixture
def topic_and_config(
    configured_topic: Callable[..., tuple[str, Path]],
    new_topic: Callable[..., str],
    unique_name: Callable[[str], str],
) -> tuple[str, Path]:
    """A topic of three partitions and its dead-letter topic; the config of its live group."""
    topic, config = configured_topic(group=unique_name("live-group"))
    new_topic(3, name=f"{topic}.dlq")
    return topic, config


def slow_range(
    bootstrap: str, topic: str, standin: StandIn, people: int, phase: str
) -> list[dict[str, Any]]:
    """Ten events per person, produced, and a stand-in answering in 100 ms: a replay that lasts."""
    events = [e for n in range(people) for e in person(f"{phase}{n}", 10, phase)]
    standin.set_faults(Faults(latency_ms=100))
    return produced(bootstrap, topic, events)


def ids(events: list[dict[str, Any]]) -> list[str]:
    return [e["messageId"] for e in events]


def test_a_time_window_delivers_exactly_its_events_in_order(
    kafka_bootstrap: str, topic_and_config: tuple[str, Path], standin: StandIn
) -> None:
    topic, config = topic_and_config
    before = [e for n in "ab" for e in person(n, 3, "before")]
    inside = [e for n in "abc" for e in person(n, 4, "inside")]
    after = [e for n in "ac" for e in person(n, 3, "after")]
    produce_at(kafka_bootstrap, topic, before, T0)
    produce_at(kafka_bootstrap, topic, inside, T0 + 10_000)
    produce_at(kafka_bootstrap, topic, after, T0 + 20_000)

    done = replay(config, "--topic", topic, "--since", str(T0 + 5_000), "--until", str(T0 + 15_000))
    assert done.returncode == 0, done.stderr
    received = standin.received()
    assert sorted(r.message_id or "" for r in received) == sorted(ids(inside))
    expected = {f"anon-{n}": [m for m in ids(inside) if f"-{n}-" in m] for n in "abc"}
    assert order_violations(received, expected) == []
    assert "records in range" in done.stderr and "delivered" in done.stderr


def test_dead_letters_replayed_after_the_fix_are_delivered_and_never_loop(
    kafka_bootstrap: str, topic_and_config: tuple[str, Path], standin: StandIn
) -> None:
    topic, config = topic_and_config
    events = produced(kafka_bootstrap, topic, person("d", 4, "dl"))
    refused = Faults(rules=(Rule(match={"anonymousId": "anon-d"}, status=422),))
    standin.set_faults(refused)
    first = replay(config, "--topic", topic)
    assert first.returncode == 1  # something was dead-lettered
    letters = read_topic(kafka_bootstrap, f"{topic}.dlq", 4)
    assert {dict(m.headers())[deadletter.REPLAY_COUNT] for m in letters} == {b"1"}

    again = replay(config, "--topic", f"{topic}.dlq")  # still refused: new dead letters, then stop
    assert again.returncode == 1
    counts = [
        dict(m.headers())[deadletter.REPLAY_COUNT]
        for m in read_topic(kafka_bootstrap, f"{topic}.dlq", 8)
    ]
    assert sorted(counts) == [b"1"] * 4 + [b"2"] * 4

    standin.set_faults(Faults())
    fixed = replay(config, "--topic", f"{topic}.dlq", "--start-offsets", "0:0,1:0,2:0")
    assert fixed.returncode == 0, fixed.stderr
    assert not lost(standin.received(), ids(events))
    summary = dict(
        line.rsplit(None, 1)
        for line in fixed.stderr.splitlines()
        if line[:1].isalpha() and len(line.split()) >= 2
    )
    assert int(summary["delivered"]) == 8  # both generations of dead letters


def test_a_dry_run_sends_nothing_and_shows_what_would_be_sent(
    kafka_bootstrap: str, topic_and_config: tuple[str, Path], standin: StandIn
) -> None:
    topic, config = topic_and_config
    events = produced(kafka_bootstrap, topic, person("x", 3, "dry"))
    done = replay(config, "--topic", topic, "--dry-run", "--filter", "properties.n != 1")
    assert done.returncode == 0, done.stderr
    assert standin.received() == [] and standin.rejected() == []
    shown = [json.loads(line) for line in done.stdout.splitlines()]
    assert [s["messageId"] for s in shown] == ["dry-x-0", "dry-x-2"]
    assert shown[0]["deliveries"][0]["body"] == events[0]
    assert read_topic(kafka_bootstrap, f"{topic}.dlq", 1, timeout=2) == []


def test_to_topic_republishes_keys_values_and_headers(
    kafka_bootstrap: str,
    topic_and_config: tuple[str, Path],
    new_topic: Callable[..., str],
    standin: StandIn,
) -> None:
    topic, config = topic_and_config
    target = new_topic(3)
    events = produced(kafka_bootstrap, topic, person("r", 3, "re"))
    done = replay(config, "--topic", topic, "--to-topic", target)
    assert done.returncode == 0, done.stderr
    copies = read_topic(kafka_bootstrap, target, 3)
    assert sorted(m.value() for m in copies) == sorted(encode(e) for e in events)
    for copy in copies:
        assert copy.key() == b"anon-r"
        headers = dict(copy.headers())
        assert headers["origin"] == b"test"
        assert headers[deadletter.REPLAYED_FROM].startswith(f"{topic}:".encode())
    assert standin.received() == []


def _replay_under_way(
    bootstrap: str, topic: str, config: Path, standin: StandIn, tag: str, delivered: int
) -> tuple[list[dict[str, Any]], subprocess.Popen[str]]:
    """A replay of a slowly answered range, with a small buffer (so that most of the range is
    not read yet), once `delivered` of its events have arrived."""
    config.write_text(config.read_text().replace("[delivery]", "[delivery]\nmax_buffered = 20"))
    events = slow_range(bootstrap, topic, standin, 20, tag)
    proc = subprocess.Popen(
        [sys.executable, "-m", "consumer", "replay", "--config", str(config), "--topic", topic],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **CREDENTIALS},
    )
    wait_for(lambda: len(standin.received()) >= delivered, 60, "the replay to be under way")
    return events, proc


def test_interrupt_then_resume_delivers_every_event_once(
    kafka_bootstrap: str, topic_and_config: tuple[str, Path], standin: StandIn
) -> None:
    topic, config = topic_and_config
    events, proc = _replay_under_way(kafka_bootstrap, topic, config, standin, "int", 30)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert len(standin.received()) < len(events)
    command = err.strip().splitlines()[-1]
    assert command.startswith("python -m consumer replay")

    standin.set_faults(Faults())
    argv = shlex.split(command)[1:]
    resumed = run_with_credentials([sys.executable, *argv])
    assert resumed.returncode == 0, resumed.stderr
    assert not lost(standin.received(), ids(events))
    assert duplicates(standin.received()) == {}


def test_records_deleted_under_a_replay_end_it_and_are_counted(
    kafka_bootstrap: str, topic_and_config: tuple[str, Path], standin: StandIn
) -> None:
    """Retention deleting the rest of the range while it is read: the replay used to wait for
    those records for ever, its rate falling."""
    topic, config = topic_and_config
    events, proc = _replay_under_way(kafka_bootstrap, topic, config, standin, "gone", 10)
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    everything = [
        confluent_kafka.TopicPartition(topic, p, confluent_kafka.OFFSET_END) for p in range(3)
    ]
    for deleted in admin.delete_records(everything).values():
        deleted.result()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    summary = dict(
        line.rsplit(None, 1)
        for line in err.splitlines()
        if line.startswith(("deleted", "delivered"))
    )
    assert int(summary["delivered"]) + int(summary["deleted before read"]) == len(events)
    assert not duplicates(standin.received())

    again = replay(config, "--topic", topic, "--start-offsets", "0:0,1:0,2:0")
    assert again.returncode == 1, again.stderr
    assert f"deleted before read {len(events)}" in " ".join(again.stderr.split())


def test_make_replay_topic_wraps_the_command(
    kafka_bootstrap: str, topic_and_config: tuple[str, Path], standin: StandIn
) -> None:
    topic, config = topic_and_config
    produced(kafka_bootstrap, topic, person("m", 2, "make"))
    root = Path(__file__).resolve().parents[2]
    done = run_with_credentials(
        [
            "make",
            "-s",
            "replay-topic",
            f"TOPIC={topic}",
            f"CONFIG={config}",
            "DRY_RUN=1",
            "FILTER=properties.n = 1",
        ],
        cwd=root,
    )
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["messageId"] for line in done.stdout.splitlines()] == ["make-m-1"]


def test_without_a_terminal_progress_is_logged_as_lines(
    kafka_bootstrap: str, topic_and_config: tuple[str, Path], standin: StandIn
) -> None:
    """As in a Kubernetes Job: JSON lines with records done of total, rate and time left."""
    topic, config = topic_and_config
    events = slow_range(kafka_bootstrap, topic, standin, 10, "progress")
    done = replay(config, "--topic", topic, "--progress-every", "0.3")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    progress = [line for line in lines if line["msg"] == "replay progress"]
    assert len(progress) >= 2, done.stderr
    assert {line["total"] for line in progress} == {len(events)}
    finished = [line["done"] for line in progress]
    assert finished == sorted(finished) and finished[-1] <= len(events)
    assert all(line["per_second"] >= 0 for line in progress)
    assert all(line["seconds_left"] is None or line["seconds_left"] >= 0 for line in progress)
    assert "\r" not in done.stderr  # no progress bar
