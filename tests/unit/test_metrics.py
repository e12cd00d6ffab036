"""The lock-free histogram and counter export what prometheus_client's own export."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from consumer.shell.metrics import SORTED_AT_LEAST, LoopCounter, LoopHistogram


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


def test_durations_observed_together_export_what_one_at_a_time_export() -> None:
    """A negative duration (two clocks that disagree) counts as 0; an unknown moment not at all."""
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    buckets = (0.001, 0.01, 0.1, 1.0)
    mine = LoopHistogram("x_seconds", "Doc.", ["destination"], buckets, ours)
    reference = Histogram("x_seconds", "Doc.", ["destination"], buckets=buckets, registry=theirs)
    values = [0.0005, -0.2, 0.001, 0.05, 0.05, 7.5]
    mine.labels("mi").observe_durations(values)
    mine.labels("mi").observe_durations([])
    mine.labels("mi").observe_since([100.0, None, 100.25, 103.0], now=100.5)  # 103: ahead
    for value in [*values, 0.5, 0.25, 0.0]:
        reference.labels("mi").observe(max(0.0, value))
    assert _lines(ours) == _lines(theirs)


def test_many_durations_observed_together_export_what_one_at_a_time_export() -> None:
    """Enough of them to be counted sorted (`SORTED_AT_LEAST`): the same buckets and sum
    (binary fractions, so that the order of the additions cannot show)."""
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    buckets = (0.125, 0.5, 1.0, 4.0)
    mine = LoopHistogram("x_seconds", "Doc.", ["destination"], buckets, ours)
    reference = Histogram("x_seconds", "Doc.", ["destination"], buckets=buckets, registry=theirs)
    values = [-0.25, 0.0, 0.125, 0.5, 0.75, 1.0, 3.5, 4.0, 8.0, 0.0625] * SORTED_AT_LEAST
    mine.labels("mi").observe_durations(values)
    moments: list[float | None] = [None, 100.0, 99.5, 100.75, 96.0] * SORTED_AT_LEAST
    mine.labels("mi").observe_since(moments, now=100.5)
    for value in [*values, *(100.5 - m for m in moments if m is not None)]:
        reference.labels("mi").observe(max(0.0, value))
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
