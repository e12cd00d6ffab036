"""The keying contract, watched on the input: a metric of the records whose key breaks it, and a
warning with the producer setting that fixes it.

Mis-keyed records are not an error of the record (each is still delivered), but they cost the
order of a person's events whenever the person's partitions are read by different consumer
processes: the operator has to hear of it. The warning comes once for a partition as soon as a
mis-keyed record is seen there, then at most once every `LOG_EVERY_S` per partition, with what
was counted in between: a steady stream of mis-keyed records says so a few times an hour, not
once a record.

Called by the intake (the Kafka thread) once per poll batch, with the decoded records.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from consumer.core.keying import FIX, MISKEYED, Kind, classify
from consumer.shell.kafka.client import TopicPartition
from consumer.shell.metrics import Metrics

log = logging.getLogger(__name__)
LOG_EVERY_S = 300.0  # between two warnings of one partition
Observed = tuple[str, int, bytes | None, Any]  # topic, partition, key, decoded message


@dataclass
class _Partition:
    """What one partition's next warning will say."""

    logged_at: float | None = None
    checked: int = 0
    miskeyed: Counter[Kind] = field(default_factory=Counter)
    example: str | None = None  # a mis-keyed record's messageId


class KeyingMonitor:
    """Counts records whose key breaks the contract and warns, per partition, with the fix."""

    def __init__(
        self,
        metrics: Metrics,
        *,
        log_every_s: float = LOG_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._metrics = metrics
        self._every = log_every_s
        self._clock = clock
        self._partitions: dict[TopicPartition, _Partition] = {}
        self._topics: set[str] = set()

    def observe(self, records: Iterable[Observed]) -> None:
        """Check one poll batch's decoded records (a record without an id is left out)."""
        checked: Counter[str] = Counter()
        miskeyed: Counter[tuple[str, Kind]] = Counter()
        for topic, partition, key, message in records:
            kind = classify(key, message)
            if kind is None:
                continue
            checked[topic] += 1
            state = self._partitions.get((topic, partition))
            if state is None:
                state = self._partitions[(topic, partition)] = _Partition()
            state.checked += 1
            if kind != "ok":
                miskeyed[(topic, kind)] += 1
                state.miskeyed[kind] += 1
                if state.example is None:
                    given = message.get("messageId")
                    state.example = given if isinstance(given, str) else None
        for topic, count in checked.items():
            if topic not in self._topics:  # every kind's series from the start, at 0
                self._topics.add(topic)
                for kind in MISKEYED:
                    self._metrics.records_miskeyed.labels(topic, kind)
            self._metrics.records_key_checked.labels(topic).inc(count)
        for (topic, kind), count in miskeyed.items():
            self._metrics.records_miskeyed.labels(topic, kind).inc(count)
        if miskeyed:
            self._warn()

    def _warn(self) -> None:
        now = self._clock()
        for (topic, partition), state in self._partitions.items():
            due = state.logged_at is None or now - state.logged_at >= self._every
            if not state.miskeyed or not due:
                continue
            kind, _ = state.miskeyed.most_common(1)[0]
            log.warning(
                "records are mis-keyed: one person's events can land on several partitions, "
                "and several consumer processes then deliver them out of order",
                extra={
                    "topic": topic,
                    "partition": partition,
                    "kind": kind,
                    "miskeyed": dict(state.miskeyed),
                    "checked": state.checked,
                    "messageId": state.example,
                    "fix": FIX[kind],
                },
            )
            self._partitions[(topic, partition)] = _Partition(logged_at=now)
