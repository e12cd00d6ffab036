"""The lock-free histogram exports what prometheus_client's own Histogram exports."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram, generate_latest

from consumer.metrics import LoopHistogram


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

    def lines(registry: CollectorRegistry) -> list[str]:
        text = generate_latest(registry).decode()
        return [line for line in text.splitlines() if "_created" not in line]

    assert lines(ours) == lines(theirs)
