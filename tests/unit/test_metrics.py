"""The lock-free histogram and counter export what prometheus_client's own export."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from consumer.metrics import LoopCounter, LoopHistogram


def test_a_loop_histogram_exports_what_a_histogram_exports() -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    buckets = (0.001, 0.01, 0.1, 1.0)
    mine = LoopHistogram("x_seconds", "Doc.", ["destination"], buckets, ours)
    reference = Histogram("x_seconds", "Doc.", ["destination"], buckets=buckets, registry=theirs)
    for value, times in ((0.0005, 1), (0.001, 1), (0.05, 3), (1.0, 1), (7.5, 2)):
        mine.labels("mi").observe(value, times)
        for _ in range(times):
            reference.labels("mi").observe(value)
    reference.labels("other")
    mine.labels("other")

    assert _lines(ours) == _lines(theirs)


def test_a_loop_counter_exports_what_a_counter_exports() -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    mine = LoopCounter("x_events", "Doc.", ["destination", "outcome"], ours)
    reference = Counter("x_events", "Doc.", ["destination", "outcome"], registry=theirs)
    for labels, amount in ((("mi", "delivered"), 1.0), (("mi", "filtered"), 2.5)):
        mine.labels(*labels).inc(amount)
        reference.labels(*labels).inc(amount)
    mine.labels("mi", "delivered").inc()
    reference.labels("mi", "delivered").inc()
    mine.labels("other", "delivered")
    reference.labels("other", "delivered")
    assert _lines(ours) == _lines(theirs)


def _lines(registry: CollectorRegistry) -> list[str]:
    """The exposition, without the `_created` series (ours has none)."""
    text = generate_latest(registry).decode()
    return [line for line in text.splitlines() if "_created" not in line]
