"""End to end: a real broker, the consumer as a real process, and the Movable Ink stand-in."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import pytest

from consumer.core import deadletter
from devkit import processes
from devkit.harness import ConsumerProcess, committed, encode, produce, read_topic, wait_for
from devkit.standin import Faults, Rule, StandIn, duplicates, lost, order_violations


def person(name: str, count: int, *, start: int = 0) -> list[dict[str, Any]]:
    """An anonymous page, an identify joining the ids, then tracks as the known user."""
    anon, user = f"anon-{name}", f"user-{name}"
    events: list[dict[str, Any]] = []
    for i in range(start, start + count):
        kind = "page" if i == 0 else "identify" if i == 1 else "track"
        event: dict[str, Any] = {"type": kind, "messageId": f"{name}-{i}", "anonymousId": anon}
        if kind != "page":
            event["userId"] = user
        if kind == "track":
            event["event"] = "Item Clicked"
            event["properties"] = {"n": i}
        events.append(event)
    return events


def ids(events: list[dict[str, Any]]) -> list[str]:
    return [e["messageId"] for e in events]


@pytest.fixture
def consumers(tmp_path: Path) -> Any:
    started: list[ConsumerProcess] = []

    def start(config: Path) -> ConsumerProcess:
        process = ConsumerProcess(config, tmp_path / f"consumer-{len(started)}.log")
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()


def test_a_retried_identify_holds_back_only_its_own_person(
    kafka_bootstrap: str, configured_topic: Any, consumers: Any, standin: StandIn
) -> None:
    topic, config = configured_topic()
    flaky, stuck = person("flaky", 6), person("stuck", 6)
    others = [e for i in range(20) for e in person(f"other{i}", 3)]
    standin.set_faults(
        Faults(
            rules=(
                Rule(match={"messageId": "flaky-1"}, status=503, times=3),
                Rule(match={"messageId": "stuck-1"}, status=503),
            )
        )
    )
    produce(kafka_bootstrap, topic, [*flaky, *stuck, *others])
    consumer = consumers(config)

    wanted = set(ids(flaky) + ids(others) + ["stuck-0"])
    wait_for(lambda: wanted <= {r.message_id for r in standin.received()}, 60, "others")
    received = standin.received()
    assert not {r.message_id for r in received} & set(ids(stuck)[1:])  # held behind stuck-1
    assert order_violations(received, {"anon-flaky": ids(flaky)}) == []
    assert sum("flaky-1" in r.message_ids for r in standin.rejected()) == 3
    assert duplicates(received) == {}

    standin.set_faults(Faults())  # stuck-1 is accepted at its next attempt
    wait_for(lambda: not lost(standin.received(), ids(stuck)), 60, "the held-back person")
    assert order_violations(standin.received(), {"anon-stuck": ids(stuck)}) == []
    assert consumer.alive()


def test_an_identify_joining_two_ids_is_ordered_after_both_and_before_later_events(
    kafka_bootstrap: str, configured_topic: Any, consumers: Any, standin: StandIn
) -> None:
    topic, config = configured_topic(partitions=1)
    a, u = "anon-J", "user-J"
    events = [
        {"type": "page", "messageId": "a1", "anonymousId": a},
        {"type": "track", "messageId": "u1", "userId": u, "event": "Logged In"},
        {"type": "page", "messageId": "a2", "anonymousId": a},
        {"type": "identify", "messageId": "join", "anonymousId": a, "userId": u},
        {"type": "page", "messageId": "a3", "anonymousId": a},
        {"type": "track", "messageId": "u2", "userId": u, "event": "Viewed"},
    ]
    standin.set_faults(Faults(rules=(Rule(match={"messageId": "join"}, status=500, times=2),)))
    produce(kafka_bootstrap, topic, events, partition=0)
    consumers(config)
    wait_for(lambda: len({r.message_id for r in standin.received()}) == 6, 60, "six events")
    seq = {r.message_id: r.seq for r in standin.received()}
    assert seq["a1"] < seq["a2"] < seq["join"] and seq["u1"] < seq["join"]
    assert seq["join"] < seq["a3"] and seq["join"] < seq["u2"]


def test_an_outage_dead_letters_nothing_and_delivery_resumes_in_order(
    kafka_bootstrap: str, configured_topic: Any, consumers: Any, standin: StandIn
) -> None:
    # A short retry window and few attempts: only the outage detector keeps these alive.
    topic, config = configured_topic(
        delivery={"retry_window": "1s", "max_attempts": 4, "circuit_threshold": 3}
    )
    people = {f"p{i}": person(f"p{i}", 8) for i in range(10)}
    standin.down()
    produce(kafka_bootstrap, topic, [e for events in people.values() for e in events])
    consumer = consumers(config)
    wait_for(lambda: "circuit opened" in consumer.logs(), 30, "the outage to be detected")
    time.sleep(3)  # the rest of the outage: three retry windows long
    standin.up()
    everything = [m for events in people.values() for m in ids(events)]
    wait_for(lambda: not lost(standin.received(), everything), 60, "delivery after the outage")
    expected = {f"anon-{p}": ids(events) for p, events in people.items()}
    assert order_violations(standin.received(), expected) == []
    assert read_topic(kafka_bootstrap, f"{topic}.dlq", 1, timeout=3) == []
    assert "circuit closed" in consumer.logs()


def test_events_read_while_the_destination_is_down_wait_and_go_in_order_once_it_is_back(
    kafka_bootstrap: str, configured_topic: Any, tmp_path: Path, standin: StandIn
) -> None:
    # Read after the circuit opened, these wait parked in the worker (one job probes); none
    # may be lost, dead-lettered, or delivered out of its person's order.
    port = processes.free_port()
    topic, config = configured_topic(delivery={"circuit_threshold": 3}, metrics_port=port)
    standin.down()
    first = [e for p in range(3) for e in person(f"early{p}", 2)]
    produce(kafka_bootstrap, topic, first)
    consumer = ConsumerProcess(config, tmp_path / "consumer.log", metrics_port=port)
    try:
        wait_for(lambda: "circuit opened" in consumer.logs(), 30, "the outage to be detected")
        people = {f"p{i}": person(f"p{i}", 6) for i in range(10)}
        later = [e for events in people.values() for e in events]
        produce(kafka_bootstrap, topic, later)
        buffered = "movableink_consumer_buffered_records"
        everything = ids(first) + ids(later)
        wait_for(
            lambda: consumer.metrics(buffered).total(buffered) == len(everything),
            30,
            "every event read while the destination is down",
        )
        standin.up()
        wait_for(lambda: not lost(standin.received(), everything), 60, "delivery after it")
    finally:
        consumer.kill()
    expected = {f"anon-{p}": ids(events) for p, events in people.items()}
    assert order_violations(standin.received(), expected) == []
    assert read_topic(kafka_bootstrap, f"{topic}.dlq", 1, timeout=2) == []


def test_requests_queued_for_a_slot_wait_for_a_probe_once_the_circuit_opens(
    kafka_bootstrap: str, configured_topic: Any, consumers: Any, standin: StandIn
) -> None:
    # Four slots for a hundred people: all hundred pass the closed circuit and queue for a
    # slot; once the circuit opens, those still queued must not go out, only its probes.
    topic, config = configured_topic(delivery={"max_in_flight": 4, "circuit_threshold": 3})
    events = [
        {"type": "track", "messageId": f"q{i}", "anonymousId": f"anon-q{i}", "event": "E"}
        for i in range(100)
    ]
    standin.set_faults(Faults(error_rate=1.0))
    produce(kafka_bootstrap, topic, events)
    consumer = consumers(config)
    wait_for(lambda: "circuit opened" in consumer.logs(), 30, "the outage to be detected")
    time.sleep(3)
    refused = len(standin.rejected())
    # Up to 3 failures plus 4 in flight before it opened, then a few probes; the queued
    # requests going out anyway would make it about a hundred.
    assert refused <= 16
    standin.set_faults(Faults())
    wait_for(lambda: not lost(standin.received(), ids(events)), 60, "delivery after the outage")
    assert read_topic(kafka_bootstrap, f"{topic}.dlq", 1, timeout=2) == []


def test_a_permanent_4xx_and_poison_records_go_to_the_dead_letter_topic(
    kafka_bootstrap: str, configured_topic: Any, consumers: Any, standin: StandIn
) -> None:
    topic, config = configured_topic(partitions=1)
    bad = {"type": "track", "messageId": "bad", "userId": "u-bad", "event": "Refused"}
    good = {"type": "track", "messageId": "good", "userId": "u-bad", "event": "Fine"}
    standin.set_faults(Faults(rules=(Rule(match={"messageId": "bad"}, status=400),)))
    produce(kafka_bootstrap, topic, [bad], partition=0, headers=[("trace", b"t-1")])
    produce(kafka_bootstrap, topic, [b"\x07garbage", good], partition=0)
    consumers(config)

    letters = read_topic(kafka_bootstrap, f"{topic}.dlq", 2, timeout=60)
    assert len(letters) == 2
    by_reason = {dict(m.headers())[deadletter.REASON]: m for m in letters}
    refused = by_reason[b"http.rejected"]
    assert refused.value() == encode(bad) and refused.key() == b"u-bad"
    headers = dict(refused.headers())
    assert headers["trace"] == b"t-1"
    assert headers[deadletter.CONNECT_TOPIC] == topic.encode()
    assert headers[deadletter.CONNECT_PARTITION] == b"0"
    assert headers[deadletter.CONNECT_OFFSET] == b"0"
    assert headers[deadletter.STATUS] == b"400"
    assert headers[deadletter.ATTEMPTS] == b"1"
    assert headers[deadletter.DESTINATION] == b"mi"
    assert headers[deadletter.MAPPING] == b"Send Entire Event"
    assert headers[deadletter.MESSAGE_ID] == b"bad"
    assert deadletter.CONNECT_CLASS in headers and deadletter.CONNECT_MESSAGE in headers
    assert deadletter.FIRST_ATTEMPT in headers and deadletter.LAST_ATTEMPT in headers
    poison = by_reason[b"decode.bad_magic_byte"]
    assert poison.value() == b"\x07garbage"
    assert dict(poison.headers())[deadletter.CONNECT_OFFSET] == b"1"
    wait_for(lambda: "good" in {r.message_id for r in standin.received()}, 30, "the good event")


def test_a_mapping_that_fails_on_an_event_is_dead_lettered_alone(
    kafka_bootstrap: str, configured_topic: Any, consumers: Any, standin: StandIn
) -> None:
    """Segment sends each subscription on its own: the preset still delivers the event while
    the mapping whose data is text for it is dead-lettered with its name."""
    text = {"name": "Text data", "subscribe": 'type = "track"', "data": {"@path": "$.event"}}
    topic, config = configured_topic(
        partitions=1, destination={"mappings": [{"name": "Send Entire Event"}, text]}
    )
    event = {"type": "track", "messageId": "two", "userId": "u-two", "event": "Fine"}
    produce(kafka_bootstrap, topic, [event], partition=0)
    consumers(config)

    (letter,) = read_topic(kafka_bootstrap, f"{topic}.dlq", 1, timeout=60)
    headers = dict(letter.headers())
    assert headers[deadletter.MAPPING] == b"Text data"
    assert headers[deadletter.REASON] == b"mapping.data_not_object"
    assert letter.value() == encode(event)
    wait_for(lambda: "two" in {r.message_id for r in standin.received()}, 30, "the preset's event")


def _stream_under_way(
    kafka_bootstrap: str,
    topic: str,
    config: Path,
    consumers: Any,
    standin: StandIn,
    tag: str,
    shape: tuple[int, int] = (30, 10),
    *,
    latency_ms: int = 20,
    seen: int = 60,
) -> tuple[dict[str, list[dict[str, Any]]], ConsumerProcess]:
    """`shape` (people, events each) produced, and a consumer delivering them at `latency_ms` a
    request, once `seen` have arrived: the people's events by name, and the consumer."""
    people, each = shape
    stream = {f"{tag}{i}": person(f"{tag}{i}", each) for i in range(people)}
    standin.set_faults(Faults(latency_ms=latency_ms))
    produce(kafka_bootstrap, topic, [e for events in stream.values() for e in events])
    first = consumers(config)
    wait_for(lambda: len(standin.received()) >= seen, 60, f"{seen} events at the stand-in")
    return stream, first


def test_sigkill_mid_stream_loses_nothing(
    kafka_bootstrap: str, configured_topic: Any, consumers: Any, standin: StandIn
) -> None:
    topic, config = configured_topic()
    people, first = _stream_under_way(kafka_bootstrap, topic, config, consumers, standin, "k")
    first.signal(signal.SIGKILL)
    first.wait()
    consumers(config)
    everything = [m for events in people.values() for m in ids(events)]
    wait_for(lambda: not lost(standin.received(), everything), 90, "every event")
    expected = {f"anon-{p}": ids(events) for p, events in people.items()}
    assert order_violations(standin.received(), expected) == []


def test_sigterm_drains_commits_and_exits_zero(
    kafka_bootstrap: str, configured_topic: Any, consumers: Any, standin: StandIn, unique_name: Any
) -> None:
    topic, config = configured_topic(delivery={"max_buffered": 40})
    people, first = _stream_under_way(
        kafka_bootstrap, topic, config, consumers, standin, "t", (40, 5), latency_ms=300, seen=40
    )
    first.signal(signal.SIGTERM)
    assert first.wait(30) == 0
    before = {r.message_id for r in standin.received()}
    assert len(before) < 200  # it stopped mid-stream

    standin.set_faults(Faults())
    consumers(config)
    everything = [m for events in people.values() for m in ids(events)]
    wait_for(lambda: not lost(standin.received(), everything), 60, "the rest of the stream")
    counts = duplicates(standin.received())
    assert not set(counts) & before, "an event acknowledged before SIGTERM came again"
    group = config.read_text().split('group_id = "')[1].split('"')[0]
    assert sum(max(o, 0) for o in committed(kafka_bootstrap, group, topic, 3).values()) > 0


def test_a_second_consumer_joining_mid_stream_keeps_order_and_loses_nothing(
    kafka_bootstrap: str, configured_topic: Any, consumers: Any, standin: StandIn
) -> None:
    topic, config = configured_topic(partitions=6)
    people = {f"r{i}": person(f"r{i}", 10) for i in range(40)}
    standin.set_faults(Faults(latency_ms=20))
    produce(kafka_bootstrap, topic, [e for events in people.values() for e in events])
    first = consumers(config)
    wait_for(lambda: len(standin.received()) >= 80, 60, "the first consumer to be under way")
    second = consumers(config)
    everything = [m for events in people.values() for m in ids(events)]
    wait_for(lambda: not lost(standin.received(), everything), 90, "every event")
    expected = {f"anon-{p}": ids(events) for p, events in people.items()}
    assert order_violations(standin.received(), expected) == []
    assert first.alive() and second.alive()
