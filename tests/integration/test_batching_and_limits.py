"""Batch mode, 429 back-off and isolation between destinations, end to end."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from consumer.core import deadletter
from devkit import processes
from devkit.harness import (
    PASSWORD,
    USERNAME,
    ConsumerProcess,
    Destination,
    produce,
    read_topic,
    scrape,
    wait_for,
)
from devkit.standin import Faults, RateLimit, Rule, StandIn, lost, order_violations

BATCH = {"enabled": True, "max_events": 50, "linger": "20ms"}


def stream(people: int, each: int) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    events, expected = [], defaultdict(list)
    for p in range(people):
        for i in range(each):
            mid = f"p{p}-{i}"
            events.append(
                {"type": "track", "messageId": mid, "anonymousId": f"anon-{p}", "event": "E"}
            )
            expected[f"anon-{p}"].append(mid)
    return events, dict(expected)


@pytest.fixture
def run_consumer(
    tmp_path: Path, kafka_bootstrap: str, configured_topic: Callable[..., tuple[str, Path]]
) -> Any:
    started: list[ConsumerProcess] = []

    def start(events: list[dict[str, Any]], **options: Any) -> tuple[str, ConsumerProcess]:
        topic, config = configured_topic(**options)
        produce(kafka_bootstrap, topic, events)
        process = ConsumerProcess(config, tmp_path / "consumer.log")
        started.append(process)
        return topic, process

    yield start
    for process in started:
        process.kill()


def test_batches_keep_per_person_order(run_consumer: Any, standin: StandIn) -> None:
    events, expected = stream(people=30, each=6)
    run_consumer(events, destination={"batch": BATCH})
    everything = [e["messageId"] for e in events]
    wait_for(lambda: not lost(standin.received(), everything), 60, "every event")
    received = standin.received()
    assert order_violations(received, expected) == []
    requests = {r.request for r in received}
    assert len(requests) < len(events) / 3, "events were not batched"
    by_request: dict[int, list[str]] = defaultdict(list)
    for r in received:
        by_request[r.request].extend(r.person_keys)
    assert all(len(keys) == len(set(keys)) for keys in by_request.values())


def test_a_refused_batch_is_split_and_only_the_bad_event_is_dead_lettered(
    kafka_bootstrap: str, run_consumer: Any, standin: StandIn
) -> None:
    events, _ = stream(people=40, each=2)
    standin.set_faults(Faults(rules=(Rule(match={"messageId": "p7-1"}, status=400),)))
    topic, _ = run_consumer(events, destination={"batch": BATCH})
    good = [e["messageId"] for e in events if e["messageId"] != "p7-1"]
    wait_for(lambda: not lost(standin.received(), good), 60, "every good event")
    (letter,) = read_topic(kafka_bootstrap, f"{topic}.dlq", 1, timeout=30)
    headers = dict(letter.headers())
    assert headers[deadletter.MESSAGE_ID] == b"p7-1"
    assert headers[deadletter.STATUS] == b"400"
    assert read_topic(kafka_bootstrap, f"{topic}.dlq", 2, timeout=3) == [letter]
    assert "p7-1" not in {r.message_id for r in standin.received()}


def test_429_with_retry_after_backs_off_and_lowers_concurrency(
    kafka_bootstrap: str, run_consumer: Any, standin: StandIn
) -> None:
    events, expected = stream(people=100, each=3)
    standin.set_faults(Faults(rate_limit=RateLimit(fraction=1.0, retry_after_s=1)))
    port = processes.free_port()
    topic, _ = run_consumer(events, metrics_port=port)
    wait_for(lambda: any(r.status == 429 for r in standin.rejected()), 60, "the first 429")
    time.sleep(2)  # the rate-limited period of the scenario
    standin.set_faults(Faults())
    everything = [e["messageId"] for e in events]
    wait_for(lambda: not lost(standin.received(), everything), 60, "every event")
    assert order_violations(standin.received(), expected) == []
    throttled = [r for r in standin.rejected() if r.status == 429]
    # Without back-off every one of up to 256 in-flight requests would retry many times a second.
    assert len(throttled) < 3 * 256, "the consumer kept hammering through Retry-After"
    metrics = scrape(port)
    assert metrics.total("movableink_consumer_concurrency_limit", destination="mi") < 256
    assert metrics.total("movableink_consumer_http_responses_total", code="429") > 0
    assert read_topic(kafka_bootstrap, f"{topic}.dlq", 1, timeout=2) == []


def test_one_destination_down_does_not_stop_the_other(
    kafka_bootstrap: str, run_consumer: Any, standin: StandIn
) -> None:
    events, expected = stream(people=20, each=5)
    everything = [e["messageId"] for e in events]
    with StandIn(USERNAME, PASSWORD) as second:
        standin.down()
        _, consumer = run_consumer(events, others=[Destination("other", second.url)])
        wait_for(lambda: not lost(second.received(), everything), 60, "the healthy destination")
        assert standin.received() == []
        standin.up()
        wait_for(lambda: not lost(standin.received(), everything), 60, "the recovered one")
        assert order_violations(standin.received(), expected) == []
        assert order_violations(second.received(), expected) == []
        assert "circuit opened" in consumer.logs()


def test_the_request_rate_ceiling_holds(run_consumer: Any, standin: StandIn) -> None:
    events, _ = stream(people=60, each=2)
    run_consumer(events, destination={"max_requests_per_second": 40})
    everything = [e["messageId"] for e in events]
    wait_for(lambda: not lost(standin.received(), everything), 60, "every event")
    times = sorted(r.time for r in standin.received())
    # 120 requests at 40/s, after a burst of at most 4: never faster than about 2.9 s.
    assert times[-1] - times[0] >= (len(times) - 4) / 40 * 0.95
