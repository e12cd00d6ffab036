"""Each record's outcome: delivered, filtered or dead-lettered; then its offset may be committed.

A record is finished when every destination has delivered it, filtered it, or had its dead
letters acknowledged by Kafka; only then does its offset count as done. Nothing is dropped
silently. Runs on the asyncio loop; Kafka acknowledgements arrive from the Kafka thread.

Each matching mapping of a destination ends on its own: delivered, or dead-lettered with its
name (`movableink.mapping`), counted per mapping in `mapping_events_total`. `events_total`
keeps one outcome per record and destination, so that records = delivered + filtered +
dead_lettered there: a record is delivered at a destination when every mapping that matched
it was, dead-lettered when at least one was (counted once, however many were).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

from consumer.core.deadletter import (
    TRUNCATION_LEVELS,
    Failure,
    original_topic,
    topic_for,
    truncated,
)
from consumer.core.envelope import Envelope, Timing
from consumer.core.errors import INTERNAL_ERROR, MESSAGE_INVALID, Outcome, describe
from consumer.core.offsets import OffsetTracker
from consumer.core.records import Record
from consumer.shell.delivery.sender import Sender
from consumer.shell.delivery.worker import DestinationWorker, Job
from consumer.shell.kafka.client import ProduceError, Producer
from consumer.shell.metrics import Metrics

log = logging.getLogger(__name__)
REQUEUE_FULL_S = 0.05
RETRY_DEAD_LETTER_S = 1.0


class DeadLetterWriter:
    """Produces dead letters and calls back only once Kafka has acknowledged them.

    A record Kafka refuses for its size is cut to fit (`deadletter.truncated`), said so in its
    headers. Any other refusal is tried again (after a pause) until it is acknowledged: the
    record's offset waits meanwhile, so a dead letter is never lost; the failure is counted,
    logged, and makes the consumer not ready (`problem`) until a dead letter goes through.
    """

    def __init__(
        self, producer: Producer, topic_template: str, metrics: Metrics, replay: bool = False
    ) -> None:
        self._producer = producer
        self._template = topic_template
        self._metrics = metrics
        self._replay = replay  # dead letters go to the original topic's, with a replay count
        self._failing: str | None = None

    def problem(self) -> str | None:
        """Why dead letters are not being stored, while they are not (for /readyz)."""
        return self._failing

    def send(self, source: Record, failure: Failure, on_acked: Callable[[], None]) -> None:
        loop = asyncio.get_running_loop()
        origin = original_topic(source) if self._replay else source.topic
        topic = topic_for(self._template, origin)
        level = 0

        def acknowledged(error: ProduceError | None) -> None:  # on the Kafka thread
            loop.call_soon_threadsafe(settle, error)

        def settle(error: ProduceError | None) -> None:
            nonlocal level
            if error is None:
                self._failing = None
                on_acked()
                return
            if error.too_large and level + 1 < len(TRUNCATION_LEVELS):
                level += 1
                log.warning(
                    "dead letter too large for its topic; producing it cut to fit",
                    extra={"messageId": failure.message_id, "topic": topic, "error": error.text},
                )
                attempt()
                return
            self._metrics.dead_letter_failures.inc()
            self._failing = f"dead letters to {topic} are refused: {error.text}"
            log.error(
                "dead letter not acknowledged; producing it again",
                extra={"messageId": failure.message_id, "topic": topic, "error": error.text},
            )
            loop.call_later(RETRY_DEAD_LETTER_S, attempt)

        def attempt() -> None:
            try:
                key, value, headers = truncated(source, failure, level, self._replay)
                queued = self._producer.send(topic, key, value, headers, acknowledged)
            except Exception as exc:  # never let a dead letter vanish into the loop
                settle(ProduceError(f"{type(exc).__name__}: {exc}"))
                return
            if not queued:
                loop.call_later(REQUEUE_FULL_S, attempt)

        attempt()


class Outcomes:
    """Routes decided records to the destination workers and settles their outcomes."""

    def __init__(
        self,
        tracker: OffsetTracker,
        dead_letters: DeadLetterWriter,
        metrics: Metrics,
        senders: Iterable[Sender],
    ) -> None:
        self._tracker = tracker
        self._dead_letters = dead_letters
        self._metrics = metrics
        self._workers = {
            sender.destination.name: DestinationWorker(sender, self, metrics) for sender in senders
        }
        # Per record, the destinations where it ends dead-lettered, and whether that is
        # counted yet: its other mappings there still deliver, and the destination's outcome
        # is counted once.
        self._dead_at: dict[Envelope, dict[str, bool]] = {}
        self.tally: Counter[tuple[Outcome, str]] = Counter()  # (outcome, reason), all destinations

    def accept(self, batch: list[Envelope]) -> None:
        """Take a batch of decided records (called on the loop, in consumption order), at once:
        each destination's jobs submitted together, outcomes counted once per kind. A bug in
        handing one over costs that record (`internal.error`), never the rest of the batch."""
        queued: dict[DestinationWorker, list[Job]] = {}
        filtered: dict[tuple[str, str], int] = {}
        done: list[Envelope] = []
        timing = Timing()  # one clock read for the batch: copied into each job's own
        for envelope in batch:
            try:
                jobs = self._accept(envelope, filtered, timing.queued_at)
            except Exception as exc:
                envelope.remaining = 1
                self._internal_error(envelope, exc)
            else:
                if jobs is None:
                    done.append(envelope)
                else:
                    for worker, job in jobs:
                        queued.setdefault(worker, []).append(job)
            envelope.routed()
        for (destination, reason), count in filtered.items():
            self._count(destination, "filtered", reason, count)
        if done:
            self._finish(done)
        for worker, taken in queued.items():
            try:
                worker.submit(taken)
            except Exception as exc:  # a bug: the jobs the worker did not take are lost to it
                for job in taken:
                    if job not in worker:
                        self._internal_error(job.envelope, exc, worker.destination.name)

    def _internal_error(self, envelope: Envelope, exc: Exception, destination: str = "") -> None:
        """A bug met while handing a record (or one of its jobs) over: dead-lettered instead
        (the caller has counted that part in the record's `remaining`)."""
        log.error("unexpected error accepting a record", exc_info=exc)
        detail = describe(exc)
        failure = Failure(
            INTERNAL_ERROR, detail, envelope.message_id, destination, exception=type(exc).__name__
        )
        self._dead_letter(envelope, failure)

    def _accept(
        self, envelope: Envelope, filtered: dict[tuple[str, str], int], queued_at: float
    ) -> list[tuple[DestinationWorker, Job]] | None:
        """One record's jobs, to submit (its dead letters are sent here); None when it has
        nothing to deliver or dead-letter (it is finished). Its filtered destinations are
        added to `filtered`."""
        decision = envelope.decision
        if decision.message is None:
            envelope.remaining = 1
            reason = decision.reason or MESSAGE_INVALID
            self._dead_letter(envelope, Failure(reason, decision.detail, envelope.message_id))
            return []
        jobs: list[tuple[DestinationWorker, Job]] = []
        failures: list[Failure] = []
        for verdict in decision.verdicts:
            if verdict.rejected:  # these mappings alone are dead-lettered, with their names
                self._dead_at.setdefault(envelope, {})[verdict.destination] = False
                failures.extend(verdict.rejected)
            if verdict.action == "deliver":
                job = Job(envelope, verdict.deliveries, Timing(queued_at))
                jobs.append((self._workers[verdict.destination], job))
            elif verdict.action == "invalid" and not verdict.rejected:  # the event is at fault
                detail = "; ".join(verdict.warnings) or (verdict.reason or "")
                reason = verdict.reason or "invalid"
                failures.append(Failure(reason, detail, envelope.message_id, verdict.destination))
            else:
                key = (verdict.destination, verdict.reason or "")
                filtered[key] = filtered.get(key, 0) + 1
        envelope.remaining = len(jobs) + len(failures)
        if envelope.remaining == 0:
            return None
        for failure in failures:
            self._dead_letter(envelope, failure)
        return jobs

    def ahead(self) -> int:
        """Jobs queued (waiting or under way) at the least busy destination whose circuit is
        closed; 0 when every circuit is open (then only the buffer bound applies)."""
        queued = [len(w) for w in self._workers.values() if w.sender.circuit.state == "closed"]
        return min(queued, default=0)

    def jobs_finished(self, destination: str, jobs: list[Job]) -> None:
        """A destination worker is done with jobs (delivered, or failed for good): those of
        a request, or of a turn of its loop. Their outcomes are counted once per mapping and
        their offsets finished under one lock, for all of them."""
        delivered = 0
        by_mapping: dict[str, int] = {}
        done: list[Envelope] = []
        dead_at = self._dead_at
        for job in jobs:
            envelope = job.envelope
            failed = {f.mapping for f in job.failures} if job.failures else ()
            for delivery in job.deliveries:
                if delivery.mapping not in failed:
                    by_mapping[delivery.mapping] = by_mapping.get(delivery.mapping, 0) + 1
            if not job.failures:
                if not (dead_at and destination in dead_at.get(envelope, ())):
                    delivered += 1
                envelope.remaining -= 1
                if envelope.remaining == 0:
                    done.append(envelope)
                continue
            envelope.remaining += len(job.failures) - 1
            for failure in job.failures:
                self._dead_letter(envelope, failure)
        for mapping, count in by_mapping.items():
            self._count_mapping(destination, mapping, "delivered", "", count)
        if delivered:
            self._count(destination, "delivered", "", delivered)
        if done:
            self._finish(done)

    def _dead_letter(self, envelope: Envelope, failure: Failure) -> None:
        log.warning(
            "dead-lettering",
            extra={
                "messageId": failure.message_id,
                "reason": failure.reason,
                "destination": failure.destination,
                "status": failure.status,
            },
        )

        def acked() -> None:
            self._count_dead_letter(envelope, failure)
            self._part_done(envelope)

        self._dead_letters.send(envelope.record, failure, acked)

    def _count_dead_letter(self, envelope: Envelope, failure: Failure) -> None:
        """A dead letter acknowledged: its mapping's outcome, and its destination's once."""
        destination, reason = failure.destination, failure.reason
        if failure.mapping:
            self._count_mapping(destination, failure.mapping, "dead_lettered", reason)
        if destination:
            counted = self._dead_at.setdefault(envelope, {})
            if counted.get(destination):
                return
            counted[destination] = True
        self._count(destination, "dead_lettered", reason)

    def _count_mapping(
        self, destination: str, mapping: str, outcome: Outcome, reason: str, events: int = 1
    ) -> None:
        self._metrics.mapping_events.labels(destination, mapping, outcome, reason).inc(events)

    def _count(self, destination: str, outcome: Outcome, reason: str, events: int = 1) -> None:
        self._metrics.events.labels(destination, outcome, reason).inc(events)
        self.tally[(outcome, reason)] += events

    def _part_done(self, envelope: Envelope) -> None:
        envelope.remaining -= 1
        if envelope.remaining == 0:
            self._finish((envelope,))

    def _finish(self, envelopes: Sequence[Envelope]) -> None:
        """Records with every part done: their offsets may be committed."""
        dead_at = self._dead_at
        if dead_at:
            for envelope in envelopes:
                dead_at.pop(envelope, None)
        self._tracker.finish_many([(e.handle, e.record.offset) for e in envelopes])

    async def aclose(self) -> None:
        for worker in self._workers.values():
            await worker.aclose()

    def abandon(self, partitions: set[tuple[str, int]]) -> None:
        """Partitions were revoked: drop their jobs that have not started."""
        for worker in self._workers.values():
            for job in worker.abandon(partitions):
                self._dead_at.pop(job.envelope, None)
