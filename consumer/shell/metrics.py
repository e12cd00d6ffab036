"""Every Prometheus metric, declared once against a registry passed in.

Production uses the default registry; each test a fresh one. Labels are bounded: destination
names and topic/partition pairs come from the configuration and the assignment, reason codes
and status codes from fixed sets; no person id, messageId or secret is ever a label.
"""

from __future__ import annotations

import time
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Any, Generic, TypeVar, get_args

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from consumer.core.identity_gate import GateReason, WaitCause

PREFIX = "movableink_consumer"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600)
STAGE_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60, 300, 3600
)  # fmt: skip
# Where a delivered request's time went, in order, from the Kafka timestamp to the 2xx.
STAGES = ("kafka", "intake", "ordering", "slot", "retrying", "request")


class Metrics:
    """The consumer's metrics; attribute names match the exported series."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        counter, gauge = _Declare(Counter, registry), _Declare(Gauge, registry)
        histogram = _Declare(Histogram, registry)
        loop_counter = _Declare(LoopCounter, registry)
        loop_histogram = _Declare(LoopHistogram, registry)
        self.records_consumed = counter("records_consumed", ("topic",), "Records read from Kafka.")
        self.events = loop_counter(
            "events",
            ("destination", "outcome", "reason"),
            "Records by final outcome per destination (delivered, filtered, dead_lettered) and "
            "reason code.",
        )
        self.mapping_events = loop_counter(
            "mapping_events",
            ("destination", "mapping", "outcome", "reason"),
            "Requests of matching mappings by final outcome (delivered, dead_lettered) and "
            "reason code: one per record and mapping that matched it.",
        )
        self.http_responses = loop_counter(
            "http_responses",
            ("destination", "code"),
            "Answers from Movable Ink by status code (or timeout/connect/protocol/network).",
        )
        self.retries = counter("retries", ("destination",), "Attempts that will be retried.")
        self.request_seconds = loop_histogram(
            "request_duration_seconds",
            ("destination",),
            "Duration of one HTTP request to Movable Ink.",
            buckets=LATENCY_BUCKETS,
        )
        self.end_to_end_seconds = loop_histogram(
            "end_to_end_latency_seconds",
            ("destination",),
            "From the event's timestamp to Movable Ink's 2xx.",
            buckets=LATENCY_BUCKETS,
        )
        self.stage_seconds = loop_histogram(
            "stage_seconds",
            ("destination", "stage"),
            "Where each delivered request's time went, by stage: kafka (from the record's "
            "timestamp until the consumer read it), intake (deciding its poll batch and handing "
            "it to the delivery loop), ordering (waiting for the person's earlier events), slot "
            "(waiting for a concurrency slot, the circuit, a hold, the rate ceiling, a batch), "
            "retrying (from the first attempt to the last) and request (the last attempt).",
            buckets=STAGE_BUCKETS,
        )
        self.order_hold_seconds = loop_histogram(
            "order_hold_seconds",
            ("destination",),
            "How long each record to deliver waited for the other partitions this process reads "
            "to be read past its event time (order across partitions; see [ordering] window).",
            buckets=STAGE_BUCKETS,
        )
        self.order_released_early = loop_counter(
            "order_released_early",
            ("destination", "reason"),
            "Records handed on before every partition they waited for had been read past their "
            "event time, by reason: window (waited the whole window), paused (the partition "
            "waited for is paused or blocked), full (the buffer is full), revoked, shutdown. "
            "A person's events may then start out of event-time order.",
        )
        self.identity_links_published = counter(
            "identity_links_published",
            ("kind",),
            "Records the pod wrote to the identity-links topic, by kind: pending (an identify or "
            "alias it will deliver), done (that record is final), progress (how far it has "
            "read its partitions).",
        )
        self.identity_links_failed = counter(
            "identity_links_failed",
            (),
            "Identity-links records Kafka refused or that could not be queued (not retried: the "
            "gate then waits at most ordering.hold_max).",
        )
        self.identity_links_pending = gauge(
            "identity_links_pending",
            (),
            "Identifies and aliases read by some pod and not yet final, as this pod knows them.",
        )
        self.identity_gated = gauge(
            "identity_gated_events",
            (),
            "Events waiting at the identity gate now (observe: watched, already handed on).",
        )
        self.identity_gate_checks = counter(
            "identity_gate_checks",
            ("result",),
            "UserId-only events checked at the identity gate, by result: pass, wait (for a link "
            "or a partition another pod reads), follow (behind a waiting event of the same "
            "person), would_wait (observe).",
        )
        self.identity_gate_unguaranteed = counter(
            "identity_gate_unguaranteed",
            ("reason",),
            "Events the gate handed on while an identify held by another pod might still come "
            "first, by reason: hold_max, links_unavailable, full, revoked, shutdown, takeover.",
        )
        self.identity_gate_would_wait = counter(
            "identity_gate_would_wait",
            ("cause",),
            "Observe: events handed on at once that enforce would have held, by what for: link "
            "(an identify of that userId unfinished on another pod: it may have been overtaken) "
            "or progress (a partition another pod reads was behind).",
        )
        self.identity_gate_hold_seconds = histogram(
            "identity_gate_hold_seconds",
            (),
            "How long each event held at the identity gate waited.",
            buckets=STAGE_BUCKETS,
        )
        self.identity_progress_age = gauge(
            "identity_progress_age_seconds",
            (),
            "How far behind now the least-read partition another pod owns is known to be read.",
        )
        for kind in ("pending", "done", "progress"):  # exported at 0 from the start
            self.identity_links_published.labels(kind)
        for reason in get_args(GateReason):
            self.identity_gate_unguaranteed.labels(reason)
        for cause in get_args(WaitCause):
            self.identity_gate_would_wait.labels(cause)
        for result in ("pass", "wait", "follow", "would_wait"):
            self.identity_gate_checks.labels(result)
        self.in_flight = gauge("in_flight_requests", ("destination",), "Requests under way.")
        self.held_back = gauge(
            "held_back_events",
            ("destination",),
            "Events waiting behind an unfinished earlier event of the same person.",
        )
        self.oldest_held_age = gauge(
            "oldest_held_event_age_seconds",
            ("destination",),
            "How long the longest-waiting held-back event has waited (0 if none).",
        )
        self.concurrency_limit = gauge(
            "concurrency_limit",
            ("destination",),
            "Current adaptive limit of concurrent requests (halved on 429, regrown slowly).",
        )
        self.rate_ceiling = gauge(
            "max_requests_per_second",
            ("destination",),
            "The configured request-rate ceiling (0: none).",
        )
        self.rate_waits = counter(
            "rate_limit_wait_seconds",
            ("destination",),
            "Time requests waited for the request-rate ceiling.",
        )
        self.buffered = gauge("buffered_records", (), "Records read and not yet finished.")
        self.circuit_open = gauge(
            "circuit_open",
            ("destination",),
            "1 while the destination is considered down (requests wait; probes only).",
        )
        self.hold_seconds = gauge(
            "hold_seconds",
            ("destination",),
            "Seconds left of a Retry-After hold on every request of the destination (0: none).",
        )
        self.dead_letter_failures = counter(
            "dead_letter_produce_failures",
            (),
            "Dead-letter records Kafka refused other than for their size (produced again).",
        )
        self.rebalances = counter(
            "rebalances",
            ("kind",),
            "Partition assignment changes by kind (assigned, revoked, lost).",
        )
        self.records_key_checked = counter(
            "records_key_checked",
            ("topic",),
            "Decoded records whose key was checked against the keying contract (anonymousId, "
            "else userId).",
        )
        self.records_miskeyed = counter(
            "records_miskeyed",
            ("topic", "kind"),
            "Checked records whose key breaks the keying contract, by kind: none (no key), "
            "foreign (neither id), user_first (the userId while an anonymousId is present).",
        )
        self.committed_offset = gauge(
            "committed_offset", ("topic", "partition"), "Last committed offset per partition."
        )


Declared = TypeVar("Declared")  # the kind of metric a `_Declare` makes


class _Declare(Generic[Declared]):
    """Makes metrics of one kind on one registry under `PREFIX`, so that each declaration in
    `Metrics` says only what is the metric's own: its name, labels, help text and options."""

    def __init__(self, kind: Callable[..., Declared], registry: CollectorRegistry) -> None:
        self._kind = kind
        self._registry = registry

    def __call__(
        self, name: str, labels: Sequence[str], documentation: str, **options: Any
    ) -> Declared:
        return self._kind(
            f"{PREFIX}_{name}", documentation, labels, registry=self._registry, **options
        )


Child = TypeVar("Child")  # the type of a `_LoopFamily`'s labelled series
# Durations observed together from which a histogram counts them by bisecting them sorted (the
# sort runs in C, then a dozen bisections) instead of a Python step for each: a batch request's
# events, or the requests that ended in one turn of the delivery loop.
SORTED_AT_LEAST = 32


class _LoopFamily(Collector, Generic[Child]):
    """A metric family updated from one thread (the delivery loop), without a lock.

    prometheus_client's metrics take a lock for every update (and its Histogram walks its
    buckets): fine for one update a request, not for the several of every event. Here an update
    is an addition or two; the scrape (another thread) reads the children as they are.
    """

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        registry: CollectorRegistry,
    ) -> None:
        self._name = name
        self._documentation = documentation
        self._labelnames = tuple(labelnames)
        self._children: dict[tuple[str, ...], Child] = {}
        registry.register(self)

    def labels(self, *values: str) -> Child:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self._new_child()
        return child

    def _new_child(self) -> Child:
        raise NotImplementedError

    def _family(self) -> Metric:
        raise NotImplementedError

    def describe(self) -> Iterator[Metric]:
        yield self._family()


class LoopCounter(_LoopFamily["CounterChild"]):
    """A counter family (see `_LoopFamily`): the outcome and the answer of every event."""

    def _new_child(self) -> CounterChild:
        return CounterChild()

    def _family(self) -> CounterMetricFamily:
        return CounterMetricFamily(self._name, self._documentation, labels=self._labelnames)

    def collect(self) -> Iterator[Metric]:
        family = self._family()
        for values, child in list(self._children.items()):
            family.add_metric(list(values), child.value)
        yield family


class CounterChild:
    """One labelled series of a `LoopCounter`."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount


class LoopHistogram(_LoopFamily["HistogramChild"]):
    """A histogram family (see `_LoopFamily`): an observation is a bisection and two additions;
    the scrape copies the counts, so it may see one in the buckets and not yet in the sum."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        buckets: Sequence[float],
        registry: CollectorRegistry,
    ) -> None:
        self._bounds = tuple(float(b) for b in buckets)
        super().__init__(name, documentation, labelnames, registry)

    def _new_child(self) -> HistogramChild:
        return HistogramChild(self._bounds)

    def _family(self) -> HistogramMetricFamily:
        return HistogramMetricFamily(self._name, self._documentation, labels=self._labelnames)

    def collect(self) -> Iterator[Metric]:
        family = self._family()
        bounds = [floatToGoString(b) for b in self._bounds] + ["+Inf"]  # type: ignore[no-untyped-call]
        for values, child in list(self._children.items()):
            counts, total = list(child.counts), child.sum
            cumulative = list(zip(bounds, accumulate(counts), strict=True))
            family.add_metric(list(values), cumulative, total)
        yield family


class HistogramChild:
    """One labelled series of a `LoopHistogram`."""

    __slots__ = ("_bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self._bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last: above every bound (+Inf)
        self.sum = 0.0

    def observe(self, value: float, times: int = 1) -> None:
        """`times` observations of `value` (a batch's events share their request's)."""
        self.counts[bisect_left(self._bounds, value)] += times
        self.sum += value * times

    def observe_durations(self, values: Sequence[float]) -> None:
        """One observation of each value, a negative one as 0 (two clocks that disagree a
        little): a batch's events in one call, not a call each."""
        if len(values) >= SORTED_AT_LEAST:
            self._observe_sorted(sorted(values))
            return
        bounds, counts, total = self._bounds, self.counts, self.sum
        for value in values:
            duration = value if value > 0.0 else 0.0
            counts[bisect_left(bounds, duration)] += 1
            total += duration
        self.sum = total

    def observe_since(self, moments: Sequence[float | None], now: float) -> None:
        """`observe_durations` of the time from each moment to `now`, unknown (None) ones left
        out: a request's end-to-end latencies (a few without a list of them)."""
        if len(moments) >= SORTED_AT_LEAST:
            self._observe_sorted(sorted([now - m for m in moments if m is not None]))
            return
        bounds, counts, total = self._bounds, self.counts, self.sum
        for moment in moments:
            if moment is not None:
                duration = now - moment if now > moment else 0.0
                counts[bisect_left(bounds, duration)] += 1
                total += duration
        self.sum = total

    def _observe_sorted(self, ordered: list[float]) -> None:
        """Sorted durations (a negative one as 0) counted bucket by bucket, one bisection
        each, from the lowest until none is left."""
        counts, below, count = self.counts, 0, len(ordered)
        for i, bound in enumerate(self._bounds):
            if below == count:
                break
            upto = bisect_right(ordered, bound, below)
            counts[i] += upto - below
            below = upto
        counts[-1] += count - below
        self.sum = sum(ordered[bisect_right(ordered, 0.0) :], self.sum)


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
