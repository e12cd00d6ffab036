"""Every Prometheus metric, declared once against a registry passed in.

Production uses the default registry; each test a fresh one. Labels are bounded: destination
names and topic/partition pairs come from the configuration and the assignment, reason codes
and status codes from fixed sets; no person id, messageId or secret is ever a label.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

PREFIX = "movableink_consumer"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600)


class Metrics:
    """The consumer's metrics; attribute names match the exported series."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.records_consumed = Counter(
            f"{PREFIX}_records_consumed", "Records read from Kafka.", ["topic"], registry=registry
        )
        self.events = Counter(
            f"{PREFIX}_events",
            "Records by final outcome per destination (delivered, filtered, dead_lettered) and "
            "reason code.",
            ["destination", "outcome", "reason"],
            registry=registry,
        )
        self.http_responses = Counter(
            f"{PREFIX}_http_responses",
            "Answers from Movable Ink by status code (or timeout/connect/protocol/network).",
            ["destination", "code"],
            registry=registry,
        )
        self.retries = Counter(
            f"{PREFIX}_retries",
            "Attempts that will be retried.",
            ["destination"],
            registry=registry,
        )
        self.request_seconds = Histogram(
            f"{PREFIX}_request_duration_seconds",
            "Duration of one HTTP request to Movable Ink.",
            ["destination"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.end_to_end_seconds = Histogram(
            f"{PREFIX}_end_to_end_latency_seconds",
            "From the event's timestamp to Movable Ink's 2xx.",
            ["destination"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.in_flight = Gauge(
            f"{PREFIX}_in_flight_requests",
            "Requests under way.",
            ["destination"],
            registry=registry,
        )
        self.held_back = Gauge(
            f"{PREFIX}_held_back_events",
            "Events waiting behind an unfinished earlier event of the same person.",
            ["destination"],
            registry=registry,
        )
        self.oldest_held_age = Gauge(
            f"{PREFIX}_oldest_held_event_age_seconds",
            "How long the longest-waiting held-back event has waited (0 if none).",
            ["destination"],
            registry=registry,
        )
        self.concurrency_limit = Gauge(
            f"{PREFIX}_concurrency_limit",
            "Current adaptive limit of concurrent requests (halved on 429, regrown slowly).",
            ["destination"],
            registry=registry,
        )
        self.rate_ceiling = Gauge(
            f"{PREFIX}_max_requests_per_second",
            "The configured request-rate ceiling (0: none).",
            ["destination"],
            registry=registry,
        )
        self.rate_waits = Counter(
            f"{PREFIX}_rate_limit_wait_seconds",
            "Time requests waited for the request-rate ceiling.",
            ["destination"],
            registry=registry,
        )
        self.buffered = Gauge(
            f"{PREFIX}_buffered_records", "Records read and not yet finished.", registry=registry
        )
        self.circuit_open = Gauge(
            f"{PREFIX}_circuit_open",
            "1 while the destination is considered down (requests wait; probes only).",
            ["destination"],
            registry=registry,
        )
        self.hold_seconds = Gauge(
            f"{PREFIX}_hold_seconds",
            "Seconds left of a Retry-After hold on every request of the destination (0: none).",
            ["destination"],
            registry=registry,
        )
        self.dead_letter_failures = Counter(
            f"{PREFIX}_dead_letter_produce_failures",
            "Dead-letter records Kafka refused other than for their size (produced again).",
            registry=registry,
        )
        self.rebalances = Counter(
            f"{PREFIX}_rebalances",
            "Partition assignment changes by kind (assigned, revoked, lost).",
            ["kind"],
            registry=registry,
        )
        self.committed_offset = Gauge(
            f"{PREFIX}_committed_offset",
            "Last committed offset per partition.",
            ["topic", "partition"],
            registry=registry,
        )


class LagCollector(Collector):
    """Consumer lag, computed at scrape time from what the Kafka thread last saw.

    `lag_messages`: the partition's high watermark minus the next offset to finish.
    `oldest_unprocessed_age_seconds`: age of the oldest record read and not yet finished
    (by its Kafka timestamp); 0 when none is waiting.
    """

    def __init__(self, positions: Callable[[], list[PartitionPosition]]) -> None:
        self._positions = positions

    def collect(self) -> Iterator[Metric]:
        lag = GaugeMetricFamily(
            f"{PREFIX}_lag_messages",
            "Records in the partition not yet finished (high watermark - next to finish).",
            labels=["topic", "partition"],
        )
        age = GaugeMetricFamily(
            f"{PREFIX}_oldest_unprocessed_age_seconds",
            "Age of the oldest record read and not yet finished (0 if none).",
            labels=["topic", "partition"],
        )
        now = time.time()
        for p in self._positions():
            labels = [p.topic, str(p.partition)]
            lag.add_metric(labels, max(0, p.high - p.next_to_finish))
            oldest = 0.0 if p.oldest_timestamp is None else max(0.0, now - p.oldest_timestamp)
            age.add_metric(labels, oldest)
        yield lag
        yield age


@dataclass(frozen=True)
class PartitionPosition:
    topic: str
    partition: int
    high: int  # -1001 (unknown) until the first fetch
    next_to_finish: int
    oldest_timestamp: float | None  # epoch seconds
