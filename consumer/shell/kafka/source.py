"""The Kafka thread: poll, decide, hand over; pause, resume, commit; rebalance and drain.

confluent-kafka is synchronous and runs rebalance callbacks inside `consume`, so it gets its own
thread; the asyncio loop delivers. On revoke this thread waits (bounded) while the loop finishes
the revoked partitions' work, commits, and lets them go; it serves dead-letter
acknowledgements meanwhile, so the loop never waits on a thread that waits on it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from consumer.core.decision import Decision
from consumer.core.envelope import Envelope, envelope, kafka_seconds
from consumer.core.errors import BrokerError, Unavailable
from consumer.core.offsets import OffsetTracker
from consumer.core.records import Record
from consumer.settings import DeliverySettings, OrderingSettings
from consumer.shell.kafka.client import Consumer, Producer, TopicPartition
from consumer.shell.kafka.identity_links import IdentityLinks
from consumer.shell.kafka.readers import Reader
from consumer.shell.kafka.time_order import TimeOrder
from consumer.shell.keying import KeyingMonitor, Observed
from consumer.shell.metrics import Metrics, PartitionPosition
from consumer.shell.status import Health

log = logging.getLogger(__name__)
BATCH = 500
HANDOVER = 50  # decided records handed to the loop at a time
POLL_S = 0.1
# The poll's wait while records are held for order: their partitions' ends are looked at again
# soon, so that a record waiting only for a fresh look at an idle partition's end waits little.
ORDER_POLL_S = 0.005
SERVE_S = 0.05
UNAVAILABLE_BACKOFF_S = (1.0, 30.0)
SNAPSHOT_EVERY_S = 1.0
COMMIT_SETTLE_S = 5.0  # at shutdown, for the last commit's answer (within the grace period)
# Jobs queued at the least busy destination able to deliver, above which intake pauses too
# (resuming at half): the default buffer's size, enough to keep max_in_flight requests busy
# over many people's events. A destination that is down thus never makes the others wait
# while the buffer fills with its records (see `_apply_backpressure`).
READ_AHEAD = 10_000


class Sink(Protocol):
    """Where the Kafka thread sends records: `decide` runs on it; `accept` and `abandon` hand
    over to the delivery loop and must return within a fraction of a second."""

    def decide(self, record: Record) -> Decision: ...

    def accept(self, batch: list[Envelope]) -> None: ...

    def abandon(self, partitions: set[TopicPartition]) -> None: ...

    def ahead(self) -> int:
        """Jobs queued at the least busy destination able to deliver now (0 if none is):
        read from this thread without a lock, so only plain reads of loop-owned counts."""
        ...


class KafkaSource:
    """Feeds decided records to the sink in order; saves (commits) what the sink has finished.

    What is read, and where finished offsets go, is the reader's: a group subscription or
    fixed offset ranges (see `readers`)."""

    def __init__(
        self,
        reader: Reader,
        settings: DeliverySettings,
        consumer: Consumer,
        producer: Producer,
        tracker: OffsetTracker,
        metrics: Metrics,
        *,
        sink: Sink,
        stop: threading.Event,
        health: Health,
        ordering: OrderingSettings | None = None,
        links: IdentityLinks | None = None,
    ) -> None:
        self._reader = reader
        self._settings = settings
        self._consumer = consumer
        self._producer = producer
        self._tracker = tracker
        self._metrics = metrics
        self._sink = sink
        self._stop = stop
        self._health = health
        self._paused = False
        self._full = False  # the buffer bound holds (see `_apply_backpressure`)
        self._ahead = False  # the read-ahead bound holds
        self._assignment_changed = False
        self._blocked: dict[TopicPartition, tuple[float, float]] = {}  # until, next backoff
        self._next_commit = 0.0
        self._next_snapshot = 0.0
        self._positions: list[PartitionPosition] = []
        self._series: set[TopicPartition] = set()  # partitions with a committed-offset series
        self.assigned: set[TopicPartition] = set()
        window = 0.0 if ordering is None else ordering.window
        self._order = TimeOrder(window, metrics) if window > 0 else None
        self._steps = 0  # turns of the loop, for the order's view of the partitions' ends
        self._keying = KeyingMonitor(metrics)
        self._links = links  # the identity-link gate (order across the group), if on

    def run(self) -> None:
        """Consume until `stop` is set, then drain within the grace period and leave the group."""
        self._reader.start(self._consumer, self)
        try:
            while not self._stop.is_set() and not self._finished():
                self._step()
            self._health.draining = True
            self._drain()
        finally:
            self._consumer.close()  # revokes (our callback commits what is finished), leaves
            self._producer.flush(5.0)

    def _finished(self) -> bool:
        """Nothing pending and the reader has read all it will (a live consumer never has)."""
        return self._tracker.pending() == 0 and self._reader.done(self._consumer)

    # -- one turn of the loop ------------------------------------------------------------

    def _step(self) -> None:
        self._steps += 1
        room = self._settings.max_buffered - self._tracker.pending()
        holding = self._order is not None and len(self._order) > 0
        records = self._read(max(1, min(BATCH, room)), ORDER_POLL_S if holding else POLL_S)
        self._producer.poll(0)
        if records:
            self._take(records)
        if self._order is not None:
            self._hand_over(self._release_in_order())
        if self._links is not None:
            self._hand_over(self._release_gated(), gated=False)
        now = time.monotonic()
        self._health.kafka_beat = now
        self._health.broker_reachable = self._consumer.brokers_reachable
        self._unblock(now)
        self._apply_backpressure()
        if now >= self._next_commit:
            self._commit()
            self._next_commit = now + self._settings.commit_interval
            if self._links is not None:
                position = self._consumer.position
                self._links.publish_progress({tp: position(*tp) for tp in self.assigned})
        if now >= self._next_snapshot:
            self._positions = self._snapshot_positions()
            self._next_snapshot = now + SNAPSHOT_EVERY_S
        self._metrics.buffered.set(self._tracker.pending())

    def _read(self, most: int, wait_s: float) -> list[Record]:
        """Up to `most` records: waits (up to `wait_s`) for the first one only, then takes what
        has already arrived. `consume(most, timeout)` waits until `most` have arrived, so at
        moderate rates every record waited up to the timeout for a batch to fill."""
        records = self._consumer.consume(1, wait_s)
        if records and most > 1:
            records += self._consumer.consume(most - 1, 0)
        return records

    def _take(self, records: list[Record]) -> None:
        """Decide a poll batch's records; their offsets are tracked and they are handed on
        (or held for order) `HANDOVER` decided records at a time, so the loop starts on the
        first while the rest are decided."""
        decided: list[tuple[Record, Decision]] = []
        consumed: dict[str, int] = {}
        blocked = self._blocked  # the loop's names bound once: it runs once a record
        wanted, decide = self._reader.wanted, self._sink.decide
        keys: list[Observed] = []
        for record in records:
            topic, partition = record.topic, record.partition
            if (blocked and (topic, partition) in blocked) or not wanted(record):
                continue
            consumed[topic] = consumed.get(topic, 0) + 1
            try:
                decision = decide(record)
            except Unavailable as exc:
                self._block((topic, partition), record.offset, str(exc))
                continue
            keys.append((topic, partition, record.key, decision.message))
            decided.append((record, decision))
            if len(decided) == HANDOVER:
                self._envelop(decided)
                decided = []
        for topic, count in consumed.items():  # counted per poll, not per record
            self._metrics.records_consumed.labels(topic).inc(count)
        self._keying.observe(keys)
        if decided:
            self._envelop(decided)

    def _envelop(self, decided: list[tuple[Record, Decision]]) -> None:
        """Decided records: their offsets tracked (one call for them all), then each held for
        order or the identity gate, or handed on."""
        read_at, now, step = time.time(), time.monotonic(), self._steps
        order, links = self._order, self._links
        appended = [kafka_seconds(record.timestamp_ms) for record, _ in decided]
        handles = self._tracker.add_many([record for record, _ in decided], appended)
        batch: list[Envelope] = []
        for (record, decision), handle, stamp in zip(decided, handles, appended, strict=True):
            one = envelope(record, decision, handle, stamp, read_at)
            if links is not None:
                links.read(one)
            if order is not None and order.take(one, now, step):
                continue
            if links is not None and links.check(one):
                continue
            batch.append(one)
        if batch:
            self._sink.accept(batch)

    def _release_in_order(self) -> list[Envelope]:
        """The held records whose turn has come (see `time_order`); everything when the buffer
        is full, since nothing more can be read until some finish."""
        assert self._order is not None
        now = time.monotonic()
        if self._tracker.pending() >= self._settings.max_buffered:
            return self._order.release_all(now, "full")
        reading = set() if self._paused else self.assigned - self._blocked.keys()
        reading = {tp for tp in reading if not self._reader.exhausted(self._consumer, tp)}
        return self._order.release(
            self._consumer, reading, self.assigned - reading, now, self._steps
        )

    def _release_gated(self) -> list[Envelope]:
        """The events the identity gate held whose turn has come; all when the buffer is
        full (the gate is never a reason to stop reading)."""
        assert self._links is not None
        if self._tracker.pending() >= self._settings.max_buffered:
            return self._links.release_all("full")
        return self._links.due(self.assigned)

    def _hand_over(self, decided: list[Envelope], *, gated: bool = True) -> None:
        """To the sink; unless `gated` is off, through the identity gate (which may keep some)."""
        if gated and self._links is not None:
            check = self._links.check
            decided = [d for d in decided if not check(d)]
        for start in range(0, len(decided), BATCH):  # a poll's worth at a time, at most
            self._sink.accept(decided[start : start + BATCH])

    def _block(self, tp: TopicPartition, offset: int, why: str) -> None:
        """A dependency is down: rewind the partition to `offset` and wait before retrying."""
        _, backoff = self._blocked.get(tp, (0.0, UNAVAILABLE_BACKOFF_S[0]))
        self._consumer.pause([tp])
        self._consumer.seek(tp[0], tp[1], offset)
        self._blocked[tp] = (time.monotonic() + backoff, min(backoff * 2, UNAVAILABLE_BACKOFF_S[1]))
        log.warning(
            "partition paused: %s",
            why,
            extra={"topic": tp[0], "partition": tp[1], "retry_s": backoff},
        )

    def _unblock(self, now: float) -> None:
        due = [tp for tp, (until, _) in self._blocked.items() if until <= now]
        for tp in due:
            del self._blocked[tp]
        if due and not self._paused:
            self._consumer.resume(due)

    def _apply_backpressure(self) -> None:
        """Pause every partition while too much is buffered, or while every destination able
        to deliver has `READ_AHEAD` jobs queued; each bound, once reached, holds until its
        own count is back at half. Resume when neither holds.

        The second bound is what isolates a healthy destination from a down one: records wait
        for the down one until `max_buffered`, and reading and deciding that many as fast as
        Kafka gives them took the GIL from the delivery loop, which then barely delivered to
        the healthy one while the buffer filled. The bounds are kept apart because the buffer
        of a down destination's records stays over half full: one hysteresis over both kept
        intake paused for good once the read-ahead bound had been reached."""
        limit = self._settings.max_buffered
        full = self._tracker.pending() / limit
        ahead = self._sink.ahead() / min(READ_AHEAD, limit)
        self._full = full >= 1 or (self._full and full > 0.5)
        self._ahead = ahead >= 1 or (self._ahead and ahead > 0.5)
        if not self._paused and (self._full or self._ahead):
            self._paused = True
            self._assignment_changed = True
        elif self._paused and not (self._full or self._ahead):
            self._paused = False
            self._consumer.resume([tp for tp in self.assigned if tp not in self._blocked])
        if self._paused and self._assignment_changed:
            self._consumer.pause(list(self.assigned))
        self._assignment_changed = False

    def _commit(self, only: set[TopicPartition] | None = None) -> bool:
        """Save what is finished without waiting; what the broker confirmed is marked
        (a commit not confirmed is sent again). False when there was nothing to save or
        saving failed."""
        self._mark_saved()
        offsets = self._tracker.committable(only)
        if not offsets:
            return False
        try:
            self._reader.save(self._consumer, offsets)
        except BrokerError as exc:
            log.warning("commit failed; it is tried again: %s", exc)
            return False
        self._mark_saved()  # a reader that saves at once (a replay's) confirms at once
        return True

    def _mark_saved(self) -> None:
        saved = {
            tp: o for tp, o in self._reader.saved(self._consumer).items() if tp in self.assigned
        }
        self._tracker.mark_committed(saved)
        for (topic, partition), offset in saved.items():
            self._metrics.committed_offset.labels(topic, str(partition)).set(offset)
            self._series.add((topic, partition))

    def _serve_until(self, done: Callable[[], bool], seconds: float) -> bool:
        """Serve dead-letter acknowledgements until `done()` or the time is up."""
        deadline = time.monotonic() + seconds
        while not done():
            now = time.monotonic()
            self._health.kafka_beat = now
            if now >= deadline:
                return False
            self._producer.poll(SERVE_S)
        return True

    def _drain(self) -> None:
        """Stop fetching; finish what was read (bounded by the grace period); commit.

        Finishing everything read, not just the requests under way, is what lets the commit
        cover every acknowledged event: Kafka keeps one offset per partition, so an event
        finished above an unfinished one would otherwise be delivered again after a restart.
        The buffer bound keeps this finite; past the grace period, the rest is redelivered.
        """
        self._consumer.pause(list(self.assigned))
        if self._order is not None:
            self._hand_over(self._order.release_all(time.monotonic(), "shutdown"))
        if self._links is not None:
            self._hand_over(self._links.release_all("shutdown"), gated=False)
        drained = self._serve_until(
            lambda: self._tracker.pending() == 0, self._settings.shutdown_grace
        )
        self._commit_before_leaving()
        log.info(
            "drained" if drained else "shutdown grace period over; the rest is redelivered",
            extra={"unfinished_records": self._tracker.pending()},
        )

    def _commit_before_leaving(self) -> None:
        """Commit and serve the answers until the broker holds every finished offset, within
        `COMMIT_SETTLE_S`: an older commit answered last has taken an offset back (see
        `Consumer.commit`'s answers), and the newer one is sent again."""
        deadline, rounds = time.monotonic() + COMMIT_SETTLE_S, 0
        while True:
            sent = self._commit()
            answered = self._consumer.settle(max(0.0, deadline - time.monotonic()))
            self._mark_saved()
            rounds += 1
            if not answered or not self._tracker.committable() or time.monotonic() >= deadline:
                return
            if not sent and rounds > 1:  # saving fails: no use trying until the deadline
                return

    def positions(self) -> list[PartitionPosition]:
        """For the lag metrics: the latest snapshot (librdkafka calls from another thread
        would wait for `consume` to let go of the client, so only this thread makes them)."""
        return self._positions

    def _snapshot_positions(self) -> list[PartitionPosition]:
        oldest = self._tracker.oldest_pending()
        found = []
        for topic, partition in sorted(self.assigned):
            _, high = self._consumer.watermarks(topic, partition)
            pending = oldest.get((topic, partition))
            if pending is not None:
                next_to_finish, stamp = pending
            else:
                next_to_finish, stamp = self._consumer.position(topic, partition) or high, None
            found.append(PartitionPosition(topic, partition, high, next_to_finish, stamp))
        return found

    # -- rebalance callbacks (run inside consume) ---------------------------------------

    def on_assign(self, partitions: list[TopicPartition]) -> None:
        self._metrics.rebalances.labels("assigned").inc()
        self._health.joined = True
        self.assigned.update(partitions)
        self._assignment_changed = True

    def on_revoke(self, partitions: list[TopicPartition]) -> None:
        self._metrics.rebalances.labels("revoked").inc()
        revoked = set(partitions)
        if self._order is not None:  # what is held of them is finished before they go
            self._hand_over(self._order.release_partitions(revoked, time.monotonic(), "revoked"))
        if self._links is not None:
            self._hand_over(self._links.release_partitions(revoked, "revoked"), gated=False)
        wait = 0.0 if self._stop.is_set() else self._settings.revoke_timeout
        self._serve_until(lambda: self._tracker.pending(revoked) == 0, wait)
        self._commit(revoked)
        if self._links is not None:  # what it knew of their ends is no longer its to claim
            self._links.forget(revoked)
        self._release(revoked)

    def on_lost(self, partitions: list[TopicPartition]) -> None:
        self._metrics.rebalances.labels("lost").inc()
        if self._order is not None:  # their records are another member's now
            self._order.forget(partitions)
        if self._links is not None:
            self._links.forget(set(partitions))
        self._release(set(partitions))

    def _release(self, partitions: set[TopicPartition]) -> None:
        self._tracker.forget(partitions)
        self._sink.abandon(partitions)
        self.assigned.difference_update(partitions)
        for tp in partitions:
            self._blocked.pop(tp, None)
            if tp in self._series:
                self._series.discard(tp)
                self._metrics.committed_offset.remove(tp[0], str(tp[1]))
