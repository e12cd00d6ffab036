"""The identity-link gate's shell (`core.identity_gate`): what the pods of a group tell each
other through the links topic, and the events held on what they said.

The Kafka thread checks events and publishes *pending* links (an identify or alias it will
deliver) and, every commit interval, the *progress* of its partitions (one record for all:
the latest record time read, and when it was last read to an end offset the links thread
asked of the broker, `EndProbes`; the end of the last fetch is not asked, so not a claim); the
delivery loop publishes *done* links as records are finished (`OffsetTracker.on_finish`). A
thread of its own creates the topic, reads all of it with a consumer that is assigned (no
group, nothing committed) from the start of its retention, and feeds the gate. Nothing here
waits on Kafka from the Kafka thread or the loop: a record that cannot be queued is counted as
failed and dropped, which costs at most `hold_max` of waiting somewhere.

Every record goes to the topic's one partition: Kafka keeps one producer's records in order
there, so whoever reads a pod's progress has read the links it published before.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from typing import Any

from consumer.core.identity_gate import (
    EndProbes,
    GateReason,
    IdentityGate,
    LinkId,
    Partition,
    linked_user,
    user_only,
)
from consumer.core.offsets import PartitionOffsets
from consumer.core.records import Decided, Record
from consumer.settings import KafkaSettings, OrderingSettings
from consumer.shell.kafka.admin import LINKS_RETENTION_S, ensure_links_topic
from consumer.shell.kafka.client import Consumer, ProduceError, Producer
from consumer.shell.metrics import Metrics

log = logging.getLogger(__name__)
POLL_S = 0.05
RETRY_S = 1.0
REFRESH_S = 10.0  # how often the input topics' partitions are looked up again
# Our own progress heard back within this long: the links topic is being read.
HEARD_S = 5.0
PROBE_S = 0.1  # how often the end offsets of the partitions this pod reads are asked
PROBE_TIMEOUT_S = 2.0  # a probe not answered by then is given up (the links are read meanwhile)


def links_topic(kafka: KafkaSettings, ordering: OrderingSettings) -> str:
    return ordering.links_topic.replace("{group}", kafka.group_id)


def record_time(record: Record, read_at: float) -> float:
    """The record's time on the producers' clock (its Kafka timestamp), else when read."""
    return read_at if record.timestamp_ms is None else record.timestamp_ms / 1000


class IdentityLinks:
    """The gate of one pod: its links published, everyone's links read, its events held."""

    def __init__(self, kafka: KafkaSettings, ordering: OrderingSettings, metrics: Metrics) -> None:
        self.enforce = ordering.gate == "enforce"
        self._kafka = kafka
        self._topic = links_topic(kafka, ordering)
        self._metrics = metrics
        self._me = uuid.uuid4().hex
        self._gate: IdentityGate[Decided] = IdentityGate(
            self._me, ordering.hold_max, ordering.skew, horizon=LINKS_RETENTION_S
        )
        self._lock = threading.Lock()
        self._checks = {  # the counters' children, looked up once
            r: metrics.identity_gate_checks.labels(r)
            for r in ("pass", "wait", "follow", "would_wait")
        }
        self._producer = Producer(kafka)  # its own: dead letters never queue behind links
        self._mine: dict[tuple[PartitionOffsets, int], LinkId] = {}  # pending, by handle
        self._read_to: dict[Partition, float] = {}  # per partition read, the latest record time
        self._heard = 0.0  # when our own progress last came back
        self._probes = EndProbes()  # the broker's end offsets, as asked (under the lock)
        self._reading: frozenset[Partition] = frozenset()  # set by the Kafka thread
        self._unknown: frozenset[Partition] = frozenset()  # read nothing since assigned
        self._committed: dict[Partition, int] = {}  # of those, the group's committed offset
        self._probe_failed = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="identity-links", daemon=True)
        metrics.identity_links_pending.set_function(self._locked(self._gate.links_pending))
        metrics.identity_gated.set_function(self._locked(self._gate.__len__))
        metrics.identity_progress_age.set_function(
            self._locked(lambda: min(self._gate.progress_age(time.time()), 1e9))
        )

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10.0)
        self._producer.flush(2.0)

    # -- the Kafka thread ---------------------------------------------------------------------

    def read(self, decided: Decided) -> None:
        """A record was read: its partition's progress; a pending link if it links ids."""
        work, decision = decided
        record = work.record
        stamp = record.timestamp_ms
        moment = work.read_at if stamp is None else stamp / 1000  # `record_time`, inlined
        partition = (record.topic, record.partition)
        if moment > self._read_to.get(partition, -1.0):
            self._read_to[partition] = moment
        user = linked_user(decision.message, decision.identity_keys)
        if user is None or decision.action != "deliver":
            return
        link = (record.topic, record.partition, record.offset)
        self._mine[(work.handle, record.offset)] = link
        with self._lock:
            self._gate.pending(link, user, moment, self._me, time.time())
        self._send({"k": "p", "id": list(link), "u": user, "t": moment, "by": self._me}, "pending")

    def check(self, decided: Decided) -> bool:
        """Whether an event is held here (enforce: one to deliver); observe only watches it."""
        work, decision = decided
        user = user_only(decision.message, decision.identity_keys)
        # Held events are queued and released by this thread only: no lock to look at them.
        if user is None and (not self.enforce or not self._gate.follows(decision.identity_keys)):
            return False
        if decision.action != "deliver":
            return False
        record = work.record
        partition = (record.topic, record.partition)
        moment = record_time(record, work.read_at)
        now = time.time()
        with self._lock:
            if user is not None and not self.enforce:
                cause = self._gate.watch(user, partition, moment, now)
                self._checks["would_wait" if cause else "pass"].inc()
                if cause == "link":
                    self._metrics.identity_gate_would_wait.labels("link").inc()
                return False
            result = self._gate.hold(decided, decision.identity_keys, user, partition, moment, now)
        if user is not None:
            labels = "pass" if result is None else ("follow" if result == "follow" else "wait")
            self._checks[labels].inc()
        return result is not None

    def due(self, assigned: set[Partition]) -> list[Decided]:
        """The held events whose turn has come (observe: the watches that ended, counted)."""
        now = time.time()
        with self._lock:
            self._gate.set_mine(assigned, now)
            self._gate.available = now - self._heard < max(HEARD_S, self._gate.hold_max)
            if not self.enforce:
                for watched in self._gate.watch_over(now):
                    if watched.cause is not None:
                        self._metrics.identity_gate_would_wait.labels(watched.cause).inc()
                return []
            if not len(self._gate):
                return []
            return self._settle(self._gate.due(now))

    def release_all(self, reason: GateReason) -> list[Decided]:
        with self._lock:
            return self._settle(self._gate.release_all(time.time(), reason))

    def release_partitions(self, partitions: set[Partition], reason: GateReason) -> list[Decided]:
        with self._lock:
            return self._settle(self._gate.release_partitions(partitions, time.time(), reason))

    def forget(self, partitions: set[Partition]) -> None:
        with self._lock:
            self._gate.forget(partitions)
        for tp in partitions:
            self._read_to.pop(tp, None)
        with self._lock:
            self._probes.forget(partitions)
            for tp in partitions:
                self._committed.pop(tp, None)

    def publish_progress(self, positions: dict[Partition, int | None]) -> None:
        """How far each assigned partition (its position: the next offset to hand on; None
        if nothing was read since the assignment) has been read: the latest record time, and
        the latest moment the links thread asked the broker an end offset it has reached."""
        with self._lock:
            self._reading = frozenset(positions)
            self._unknown = frozenset(tp for tp, at in positions.items() if at is None)
            parts = [
                [
                    t,
                    p,
                    self._read_to.get((t, p)),
                    self._probes.caught_up_at(
                        (t, p), self._committed.get((t, p)) if at is None else at
                    ),
                ]
                for (t, p), at in sorted(positions.items())
            ]
        if parts:
            self._send({"k": "g", "by": self._me, "parts": parts}, "progress")

    def _settle(self, released: list[Any]) -> list[Decided]:
        out = []
        for one in released:
            self._metrics.identity_gate_hold_seconds.observe(one.held_s)
            if one.reason is not None:
                self._metrics.identity_gate_unguaranteed.labels(one.reason).inc()
            out.append(one.item)
        return out

    # -- the delivery loop --------------------------------------------------------------------

    def finished(self, handle: PartitionOffsets, offset: int) -> None:
        """A record is final: if it was one of our pending links, it is done."""
        link = self._mine.pop((handle, offset), None)
        if link is None:
            return
        with self._lock:
            self._gate.done(link, time.time())
        self._send({"k": "d", "id": list(link), "by": self._me}, "done")

    # -- the links thread ---------------------------------------------------------------------

    def _send(self, body: dict[str, Any], kind: str) -> None:
        def delivered(error: ProduceError | None) -> None:
            if error is None:
                self._metrics.identity_links_published.labels(kind).inc()
            else:
                self._metrics.identity_links_failed.inc()

        value = json.dumps(body, separators=(",", ":")).encode()
        if not self._producer.send(self._topic, None, value, (), delivered, partition=0):
            self._metrics.identity_links_failed.inc()

    def _serve(self) -> None:
        """Create the topic, then read it for good; any failure is logged and tried again."""
        reader: Consumer | None = None
        next_refresh = next_probe = 0.0
        while not self._stop.is_set():
            try:
                if reader is None:
                    reader = self._open()
                now = time.time()
                if now >= next_refresh:
                    self._refresh(reader)
                    next_refresh = now + REFRESH_S
                if now >= next_probe:
                    self._probe_or_log(reader)
                    next_probe = now + PROBE_S
                records = reader.consume(500, POLL_S)
                self._producer.poll(0)
                if records:
                    self._apply(records)
            except Exception as exc:  # librdkafka's own errors too: never let the thread die
                log.warning("identity links unavailable; tried again: %s", exc)
                if reader is not None:
                    reader.close()
                    reader = None
                self._stop.wait(RETRY_S)
        if reader is not None:
            reader.close()

    def _open(self) -> Consumer:
        ensure_links_topic(self._kafka, self._topic)
        # The group's own id, to look up its committed offsets; assigned, it never joins the
        # group, and it commits nothing.
        reader = Consumer(self._kafka, group_id=self._kafka.group_id)
        start_ms = int((time.time() - LINKS_RETENTION_S) * 1000)
        reader.assign({(self._topic, 0): reader.offsets_at(self._topic, [0], start_ms)[0]})
        return reader

    def _probe_or_log(self, reader: Consumer) -> None:
        """A probe that fails costs only its claims (events wait, `hold_max` at most): the
        reader is kept, not reopened (that would read the links topic again from its start)."""
        try:
            self._probe(reader)
            self._probe_failed = False
        except Exception as exc:  # librdkafka's own errors too
            if not self._probe_failed:
                log.warning("the end offsets of the partitions read could not be asked: %s", exc)
            self._probe_failed = True

    def _probe(self, reader: Consumer) -> None:
        """Ask the broker the end offsets of the partitions this pod reads (the moment taken
        before asking); for those it has read nothing of, the group's committed offsets."""
        reading, unknown = self._reading, self._unknown - self._committed.keys()
        if not reading:
            return
        at = time.time()
        ends = reader.end_offsets(sorted(reading), timeout_s=PROBE_TIMEOUT_S)
        committed = reader.committed(sorted(unknown), PROBE_TIMEOUT_S) if unknown else {}
        if unknown - committed.keys():  # nothing committed: read from the first (the reset)
            rest = sorted(unknown - committed.keys())
            first = reader.end_offsets(rest, beginning=True, timeout_s=PROBE_TIMEOUT_S)
            committed.update(first)
        with self._lock:
            for tp, end in ends.items():
                self._probes.asked(tp, at, end)
            for tp, offset in committed.items():
                if tp in self._reading:
                    self._committed[tp] = offset

    def _refresh(self, reader: Consumer) -> None:
        found = [(t, p) for t in self._kafka.topics for p in reader.partitions(t)]
        with self._lock:
            self._gate.set_partitions(found)
            self._gate.expire(time.time())

    def _apply(self, records: list[Record]) -> None:
        now = time.time()
        with self._lock:
            for record in records:
                try:
                    self._apply_one(json.loads(record.value or b""), now)
                except (ValueError, TypeError, KeyError, IndexError) as exc:
                    log.warning("an identity-links record is not understood: %s", exc)

    def _apply_one(self, body: dict[str, Any], now: float) -> None:
        gate, kind = self._gate, body["k"]
        if kind == "p":
            topic, partition, offset = body["id"]
            gate.pending((topic, partition, offset), body["u"], float(body["t"]), body["by"], now)
        elif kind == "d":
            topic, partition, offset = body["id"]
            gate.done((topic, partition, offset), now)
        elif kind == "g":
            if body["by"] == self._me:
                self._heard = now
            for topic, partition, read_to, caught_up_at in body["parts"]:
                gate.progress(
                    (topic, partition),
                    -1.0 if read_to is None else float(read_to),
                    None if caught_up_at is None else float(caught_up_at),
                )

    def _locked(self, read: Any) -> Any:
        def locked() -> float:
            with self._lock:
                return float(read())

        return locked
