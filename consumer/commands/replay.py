"""`replay`: reprocess a bounded range of any topic (the input, its dead letters, an archive).

The range runs from a time (`offsets_for_times`) or given offsets, up to a time or to the high
watermark taken when the replay starts, so a replay always ends, and new dead letters written
during a replay of a dead-letter topic are never read again. Partitions are assigned directly:
no consumer group, so the live group's offsets are never touched.

Modes: deliver through the same pipeline as `run` (decode, route, validate, ordered delivery,
dead letters); `--to-topic` re-publish the records (key, value, headers and a
`movableink.replayed.from` header) for the live consumers; `--dry-run` print what would be
delivered, as `explain` does, and send nothing. Ctrl-C stops cleanly after finishing what was
read, and prints the command that resumes from there.

Progress: a bar on a terminal; elsewhere (a Kubernetes Job, CI) a log line every
`--progress-every` seconds with records done of total, rate and time left, at every log level,
since it is the only sign of life of a long replay.
"""

from __future__ import annotations

import asyncio
import logging
import math
import shlex
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TextIO

from prometheus_client import CollectorRegistry

from consumer.config import Settings
from consumer.core.deadletter import REPLAYED_FROM
from consumer.core.decision import Decision, Verdict
from consumer.core.envelope import Envelope
from consumer.core.errors import REPLAY_FILTER, BrokerError, ConfigError
from consumer.core.explanation import json_line
from consumer.core.offsets import OffsetTracker
from consumer.core.records import Record
from consumer.core.triggers import Trigger, TriggerSyntaxError, parse
from consumer.shell import lifecycle
from consumer.shell.kafka.client import Consumer, ProduceError, Producer, TopicPartition
from consumer.shell.kafka.readers import RangeReader, Ranges
from consumer.shell.kafka.source import KafkaSource
from consumer.shell.metrics import Metrics
from consumer.shell.outcome import Outcomes
from consumer.shell.pipeline import Pipeline
from consumer.shell.status import Health

log = logging.getLogger(__name__)
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130
PROGRESS_EVERY_S = 0.5
PROGRESS_LOG_EVERY_S = 10.0
progress_log = logging.getLogger("consumer.commands.replay.progress")
progress_log.setLevel(logging.INFO)  # shown even under the replay's default WARNING
Submit = Callable[[list[Envelope]], None]


@dataclass(frozen=True)
class ReplayRequest:
    topic: str
    since_ms: int | None = None
    until_ms: int | None = None
    start_offsets: dict[int, int] | None = None
    end_offsets: dict[int, int] | None = None
    filter: Trigger | None = None
    to_topic: str | None = None
    dry_run: bool = False
    config_path: str = ""
    progress_every_s: float = PROGRESS_LOG_EVERY_S


def parse_time(text: str, what: str) -> int:
    """Epoch milliseconds from ISO-8601 (`2026-11-24T10:00:00Z`) or a number of milliseconds."""
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ConfigError(f"{what} must be ISO-8601 or epoch milliseconds, not {text!r}.") from exc
    if moment.tzinfo is None:
        raise ConfigError(f"{what} needs a time zone, for example {text}Z.")
    return int(moment.timestamp() * 1000)


def parse_offsets(text: str, what: str) -> dict[int, int]:
    """`0:120,1:98` -> {0: 120, 1: 98}."""
    try:
        pairs = (item.split(":") for item in text.split(",") if item.strip())
        return {int(p): int(o) for p, o in pairs}
    except ValueError as exc:
        raise ConfigError(f"{what} must look like 0:120,1:98, not {text!r}.") from exc


def parse_filter(text: str | None) -> Trigger | None:
    if not text:
        return None
    try:
        return parse(text)
    except TriggerSyntaxError as exc:
        raise ConfigError(f"--filter is not a valid trigger: {exc}") from exc


def plan(consumer: Consumer, request: ReplayRequest) -> tuple[Ranges, dict[TopicPartition, int]]:
    """Start and end offset (exclusive) of every partition of the topic, and per partition the
    records asked for that the topic no longer holds (below its log start: deleted by its
    retention, or by a deletion of records)."""
    ranges: Ranges = {}
    gone: dict[TopicPartition, int] = {}
    partitions = consumer.partitions(request.topic)
    starts = (
        consumer.offsets_at(request.topic, partitions, request.since_ms)
        if request.since_ms is not None
        else {}
    )
    ends = (
        consumer.offsets_at(request.topic, partitions, request.until_ms)
        if request.until_ms is not None
        else {}
    )
    for p in partitions:
        low, high = consumer.ends(request.topic, p)
        start = (request.start_offsets or {}).get(p, starts.get(p, low))
        end = (request.end_offsets or {}).get(p, ends.get(p, high))
        ranges[(request.topic, p)] = (max(start, low), min(end, high))
        if start < low:
            gone[(request.topic, p)] = min(low, end) - start
    return ranges, gone


@dataclass(frozen=True)
class _ReplaySink:
    """The pipeline as a replay uses it: decided through the filter, handed over by mode."""

    pipeline: Pipeline
    decide_with_filter: Callable[[Record], Decision]
    accept_in_mode: Submit

    def decide(self, record: Record) -> Decision:
        return self.decide_with_filter(record)

    def accept(self, batch: list[Envelope]) -> None:
        self.accept_in_mode(batch)

    def abandon(self, partitions: set[TopicPartition]) -> None:
        self.pipeline.abandon(partitions)

    def ahead(self) -> int:
        return self.pipeline.ahead()


class Replay:
    """One replay run: wiring, the mode-specific hand-over, progress and the summary."""

    def __init__(self, settings: Settings, request: ReplayRequest, out: TextIO) -> None:
        self.settings = settings
        self.request = request
        self.out = out
        self.registry = CollectorRegistry()
        self.metrics = Metrics(self.registry)
        self.counts: Counter[str] = Counter()

    def decide_with_filter(self, pipeline: Pipeline) -> Callable[[Record], Decision]:
        trigger = self.request.filter

        def decide(record: Record) -> Decision:
            decision = pipeline.decide(record)
            if trigger is None or decision.message is None:
                return decision
            if trigger.matches(decision.message):
                return decision
            verdicts = tuple(
                Verdict(v.destination, "filtered", REPLAY_FILTER) for v in decision.verdicts
            )
            return decision._replace(verdicts=verdicts)

        return decide

    def _dry_run_submit(self, tracker: OffsetTracker) -> Submit:
        def submit(batch: list[Envelope]) -> None:
            for envelope in batch:
                decision = envelope.decision
                self.counts[decision.action] += 1
                if decision.action == "deliver":
                    self.out.write(json_line(decision) + "\n")
                tracker.finish(envelope.handle, envelope.record.offset)

        return submit

    def _republish_submit(self, tracker: OffsetTracker, producer: Producer) -> Submit:
        target = self.request.to_topic or ""

        def submit(batch: list[Envelope]) -> None:
            for envelope in batch:
                record = envelope.record
                if self.request.filter is not None and envelope.decision.action != "deliver":
                    self.counts["filtered"] += 1
                    tracker.finish(envelope.handle, record.offset)
                    continue
                where = f"{record.topic}:{record.partition}:{record.offset}".encode()
                headers = [*record.headers, (REPLAYED_FROM, where)]
                self._send(producer, tracker, envelope, target, headers)

        return submit

    def _send(
        self,
        producer: Producer,
        tracker: OffsetTracker,
        envelope: Envelope,
        target: str,
        headers: list[tuple[str, bytes | None]],
    ) -> None:
        record = envelope.record

        def acknowledged(error: ProduceError | None) -> None:  # in producer.poll, same thread
            # librdkafka has already retried what could pass; an error here is final.
            if error is None:
                self.counts["republished"] += 1
            else:  # counted, shown in the summary, and the replay exits non-zero
                self.counts["republish_failed"] += 1
                log.error(
                    "record not re-published",
                    extra={"topic": target, "offset": record.offset, "error": error.text},
                )
            tracker.finish(envelope.handle, record.offset)

        while not producer.send(target, record.key, record.value, headers, acknowledged):
            producer.poll(0.05)

    async def run(self) -> int:
        stop = threading.Event()
        lifecycle.stop_on_signals(stop)
        pipeline = Pipeline.build(self.settings, self.metrics, replay=True)
        consumer = Consumer(
            self.settings.kafka,
            group_id=f"{self.settings.kafka.group_id}-replay",
            # Records deleted under the replay: go on from the log start, never skip to the end.
            overrides={"auto.offset.reset": "earliest"},
        )
        ranges, gone = await asyncio.to_thread(plan, consumer, self.request)
        total = sum(end - start for start, end in ranges.values() if end > start)
        accept: Submit
        if self.request.dry_run:
            accept = self._dry_run_submit(pipeline.tracker)
        elif self.request.to_topic:
            accept = self._republish_submit(pipeline.tracker, pipeline.producer)
        else:
            accept = pipeline.accept
        reader = RangeReader(ranges, gone)
        source = KafkaSource(
            reader,
            self.settings.delivery,
            consumer,
            pipeline.producer,
            pipeline.tracker,
            self.metrics,
            sink=_ReplaySink(pipeline, self.decide_with_filter(pipeline), accept),
            stop=stop,
            health=Health(),
            ordering=self.settings.ordering,
        )
        started = time.monotonic()
        progress = asyncio.create_task(self._progress(pipeline.tracker, total, started))
        try:
            await asyncio.to_thread(source.run)
        finally:
            progress.cancel()
            await pipeline.aclose()
        interrupted = stop.is_set()
        seconds = time.monotonic() - started
        counts = self._outcome_counts(pipeline.outcomes)
        self._report_deleted(reader.deleted(), counts)
        return self._summary(reader, counts, pipeline.tracker.finished, total, seconds, interrupted)

    async def _progress(self, tracker: OffsetTracker, total: int, started: float) -> None:
        """Records done of total, rate, time left: a bar on a terminal, else log lines."""
        tty = sys.stderr.isatty()
        while True:
            await asyncio.sleep(PROGRESS_EVERY_S if tty else self.request.progress_every_s)
            done = tracker.finished
            rate = done / max(time.monotonic() - started, 1e-3)
            left = (total - done) / rate if rate else math.inf
            if not tty:
                progress_log.info(
                    "replay progress",
                    extra={
                        "done": done,
                        "total": total,
                        "per_second": round(rate, 1),
                        "seconds_left": None if math.isinf(left) else round(left),
                    },
                )
                continue
            filled = int(30 * done / total) if total else 30
            sys.stderr.write(
                f"\rreplay [{'#' * filled}{'.' * (30 - filled)}] {done}/{total} "
                f"{rate:,.0f}/s, {left:,.0f} s left   "
            )
            sys.stderr.flush()

    def _outcome_counts(self, outcomes: Outcomes) -> Counter[str]:
        """This run's counts, with the final outcomes and each dead-letter reason (indented)."""
        counts = Counter(self.counts)
        for (outcome, reason), n in outcomes.tally.items():
            counts[outcome] += n
            if outcome == "dead_lettered":
                counts[f"  {reason}"] += n
        return counts

    def _report_deleted(self, deleted: dict[TopicPartition, int], counts: Counter[str]) -> None:
        """Records of the range the topic no longer held when they were to be read."""
        for (topic, partition), count in sorted(deleted.items()):
            if count > 0:
                counts["deleted_before_read"] += count
                log.error(
                    "records of the range were deleted before they were read (by the topic's "
                    "retention.ms, or a deletion of records); the replay goes on without them",
                    extra={"topic": topic, "partition": partition, "records": count},
                )

    def _summary(
        self,
        reader: RangeReader,
        counts: Counter[str],
        finished: int,
        total: int,
        seconds: float,
        interrupted: bool,
    ) -> int:
        if sys.stderr.isatty():
            sys.stderr.write("\n")
        rows: list[tuple[str, object]] = [
            ("records in range", total),
            ("records finished", finished),
        ]
        rows += [(name, counts[name]) for name in ("delivered", "filtered", "dead_lettered")]
        if counts["deleted_before_read"]:
            rows += [("deleted before read", counts["deleted_before_read"])]
        rows += sorted((k, v) for k, v in counts.items() if k.startswith("  "))
        rows += [
            (n, counts[n])
            for n in ("deliver", "invalid", "republished", "republish_failed")
            if n in counts
        ]
        rows += [("seconds", round(seconds, 1))]
        for name, value in rows:
            print(f"{name:<28} {value:>10}", file=sys.stderr)
        if interrupted:
            offsets = ",".join(f"{p}:{o}" for p, o in reader.resume_offsets().items())
            ends = ",".join(f"{tp[1]}:{end}" for tp, (_, end) in sorted(reader.ranges.items()))
            print("interrupted; resume with:", file=sys.stderr)
            print(self._resume_command(offsets, ends), file=sys.stderr)
            return EXIT_INTERRUPTED
        failed = ("dead_lettered", "republish_failed", "deleted_before_read")
        return EXIT_FAILED if any(counts[name] for name in failed) else 0

    def _resume_command(self, starts: str, ends: str) -> str:
        args = ["python", "-m", "consumer", "replay", "--config", self.request.config_path]
        args += ["--topic", self.request.topic, "--start-offsets", starts, "--end-offsets", ends]
        if self.request.filter is not None:
            args += ["--filter", self.request.filter.text]
        if self.request.to_topic:
            args += ["--to-topic", self.request.to_topic]
        if self.request.dry_run:
            args.append("--dry-run")
        if self.request.progress_every_s != PROGRESS_LOG_EVERY_S:
            args += ["--progress-every", f"{self.request.progress_every_s:g}"]
        return shlex.join(args)


async def replay(settings: Settings, request: ReplayRequest, out: TextIO) -> int:
    try:
        return await Replay(settings, request, out).run()
    except BrokerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
