"""The Kafka source in-process, over a fake consumer and a sink the test finishes by hand:
commit watermarks, revoke mid-flight, shutdown draining, back-pressure and a paused partition.
No broker; each test takes milliseconds to a second."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from consumer.core.decision import Decision, Verdict
from consumer.core.envelope import Envelope
from consumer.core.errors import Unavailable
from consumer.core.offsets import OffsetTracker
from consumer.core.records import Record
from consumer.settings import DeliverySettings, OrderingSettings
from consumer.shell.kafka import source
from consumer.shell.kafka.client import TopicPartition
from consumer.shell.kafka.readers import GroupReader, RangeReader
from consumer.shell.kafka.source import KafkaSource
from consumer.shell.metrics import Metrics
from consumer.shell.status import Health

P0: TopicPartition = ("in", 0)
P1: TopicPartition = ("in", 1)


class FakeConsumer:
    """Hands out the records put in `waiting`, honouring pause and seek; records commits."""

    def __init__(self) -> None:
        self.waiting: dict[TopicPartition, list[Record]] = {}
        self.paused: set[TopicPartition] = set()
        self.commits: list[dict[TopicPartition, int]] = []
        self.seeks: list[tuple[TopicPartition, int]] = []
        self.closed = False
        self.brokers_reachable = True
        self.lock = threading.Lock()
        self.positions: dict[TopicPartition, int] = {}
        self.asked: list[tuple[int, float]] = []  # (max_records, timeout_s) of each consume
        self.answering = True
        self.answered: dict[TopicPartition, int] = {}
        self.held: dict[TopicPartition, int] = {}  # what the broker holds, as it was written
        # Older commits to be written (and answered) last, at the next `confirmed` or `settle`.
        self.late: dict[TopicPartition, int] = {}
        self.late_on_settle: dict[TopicPartition, int] = {}
        self.lows: dict[TopicPartition, int] = {}  # log starts: records below were deleted

    def put(self, tp: TopicPartition, *offsets: int) -> None:
        with self.lock:
            for offset in offsets:
                record = Record(tp[0], tp[1], offset, None, b"{}", [], None)
                self.waiting.setdefault(tp, []).append(record)

    def subscribe(
        self, topics: tuple[str, ...], on_assign: Any, on_revoke: Any, on_lost: Any
    ) -> None:
        on_assign([P0, P1])

    def assign(self, starts: dict[TopicPartition, int]) -> None:
        self.positions.update(starts)

    def consume(self, max_records: int, timeout_s: float) -> list[Record]:
        self.asked.append((max_records, timeout_s))
        with self.lock:
            out: list[Record] = []
            for tp, records in self.waiting.items():
                if tp in self.paused:
                    continue
                taken = records[: max_records - len(out)]
                del records[: len(taken)]
                if taken:
                    out += taken
                    self.positions[tp] = taken[-1].offset + 1
        if not out:
            time.sleep(0.005)
        return out

    def commit(self, offsets: dict[TopicPartition, int]) -> None:
        """Sent; the broker's answer comes to `confirmed` (none while `answering` is off:
        the commit failed, as with the coordinator away)."""
        self.commits.append(dict(offsets))
        if self.answering:
            self.answered.update(offsets)
            self.held.update(offsets)

    def write_late(self, offsets: dict[TopicPartition, int]) -> None:
        """A commit librdkafka retried is written after the newer ones, and answered."""
        self.answered.update(offsets)
        self.held.update(offsets)

    def confirmed(self) -> dict[TopicPartition, int]:
        with self.lock:
            self.write_late(self.late)
            self.late = {}
        found, self.answered = self.answered, {}
        return found

    def settle(self, timeout_s: float) -> bool:
        self.write_late(self.late_on_settle)
        self.late_on_settle = {}
        return True

    def seek(self, topic: str, partition: int, offset: int) -> None:
        self.seeks.append(((topic, partition), offset))

    def pause(self, partitions: list[TopicPartition]) -> None:
        self.paused.update(partitions)

    def resume(self, partitions: list[TopicPartition]) -> None:
        self.paused.difference_update(partitions)

    def watermarks(self, topic: str, partition: int) -> tuple[int, int]:
        return self.lows.get((topic, partition), 0), 0

    def position(self, topic: str, partition: int) -> int | None:
        return self.positions.get((topic, partition))

    def close(self) -> None:
        self.closed = True

    def committed(self, tp: TopicPartition) -> int | None:
        """The last offset committed for `tp`."""
        return next((c[tp] for c in reversed(self.commits) if tp in c), None)


class FakeProducer:
    def poll(self, timeout_s: float = 0.0) -> None:
        time.sleep(min(timeout_s, 0.005))

    def flush(self, timeout_s: float) -> int:
        return 0


class Sink:
    """Keeps what it is given; the test finishes records with `finish`."""

    def __init__(self, tracker: OffsetTracker, refuse: Callable[[Record], bool] = lambda r: False):
        self.tracker = tracker
        self.refuse = refuse
        self.works: dict[tuple[TopicPartition, int], Envelope] = {}
        # Records with an event time here are delivered (so held for order when that is on).
        self.times: dict[tuple[TopicPartition, int], float] = {}
        self.order: list[tuple[TopicPartition, int]] = []  # in the order handed over
        self.handed: list[int] = []  # the size of each batch accepted
        self.abandoned: list[set[TopicPartition]] = []

    def decide(self, record: Record) -> Decision:
        if self.refuse(record):
            raise Unavailable("the schema registry is down")
        moment = self.times.get(((record.topic, record.partition), record.offset))
        if moment is None:
            return Decision(str(record.offset), {}, ())
        verdict = Verdict("mi", "deliver")
        return Decision(str(record.offset), {"type": "track"}, (verdict,), event_time=moment)

    def accept(self, batch: list[Envelope]) -> None:
        self.handed.append(len(batch))
        for work in batch:
            where = ((work.record.topic, work.record.partition), work.record.offset)
            self.works[where] = work
            self.order.append(where)

    def abandon(self, partitions: set[TopicPartition]) -> None:
        self.abandoned.append(partitions)

    def ahead(self) -> int:
        return self.queued

    queued = 0  # jobs at the least busy healthy destination, as the test sets them

    def finish(self, tp: TopicPartition, *offsets: int) -> None:
        for offset in offsets:
            work = self.works[(tp, offset)]
            self.tracker.finish(work.handle, offset)


class Running:
    """A source running on its own thread, as in the consumer."""

    def __init__(
        self,
        reader: Any = None,
        refuse: Callable[[Record], bool] = lambda r: False,
        ordering: OrderingSettings | None = None,
        **settings: Any,
    ):
        self.consumer = FakeConsumer()
        self.tracker = OffsetTracker()
        self.sink = Sink(self.tracker, refuse)
        self.stop = threading.Event()
        defaults: dict[str, Any] = {
            "commit_interval": 0.01,
            "revoke_timeout": 1.0,
            "shutdown_grace": 1.0,
        }
        self.source = KafkaSource(
            reader or GroupReader(("in",)),
            DeliverySettings(**{**defaults, **settings}),
            self.consumer,  # type: ignore[arg-type]
            FakeProducer(),  # type: ignore[arg-type]
            self.tracker,
            Metrics(CollectorRegistry()),
            sink=self.sink,
            stop=self.stop,
            health=Health(),
            ordering=ordering,
        )
        self.thread = threading.Thread(target=self.source.run)
        self.thread.start()

    def until(self, what: Callable[[], bool], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not what():
            assert time.monotonic() < deadline, "timed out"
            time.sleep(0.005)

    def read(self, tp: TopicPartition, *offsets: int) -> None:
        """Offer records and wait until the sink has them."""
        self.consumer.put(tp, *offsets)
        self.until(lambda: all((tp, o) in self.sink.works for o in offsets))

    def end(self) -> None:
        self.stop.set()
        self.thread.join(10)
        assert not self.thread.is_alive()

    def __enter__(self) -> Running:
        return self

    def __exit__(self, *_: object) -> None:
        self.end()


def test_commits_stop_below_the_first_unfinished_record() -> None:
    with Running() as run:
        run.read(P0, 0, 1, 2, 3, 4)
        run.sink.finish(P0, 0, 1, 3)
        run.until(lambda: run.consumer.committed(P0) == 2)
        time.sleep(0.05)
        assert run.consumer.committed(P0) == 2  # 3 is finished, but 2 is not
        run.sink.finish(P0, 2)
        run.until(lambda: run.consumer.committed(P0) == 4)
        run.sink.finish(P0, 4)
        run.until(lambda: run.consumer.committed(P0) == 5)


def test_a_commit_the_broker_did_not_confirm_is_sent_again_until_it_is() -> None:
    """Commits are sent without waiting for the answer (the coordinator can hold it for 45 s);
    an offset counts as committed only once confirmed, so a failed commit is sent again."""
    with Running() as run:
        run.consumer.answering = False
        run.read(P0, 0, 1)
        run.sink.finish(P0, 0, 1)
        run.until(lambda: run.consumer.committed(P0) == 2)
        sent = len(run.consumer.commits)
        run.read(P0, 2)  # the Kafka thread goes on reading meanwhile
        run.consumer.answering = True
        run.until(lambda: len(run.consumer.commits) > sent and run.consumer.answered == {})
        assert run.consumer.commits[-1].get(P0) == 2  # sent again, and now confirmed
        run.sink.finish(P0, 2)
        run.until(lambda: run.consumer.committed(P0) == 3)


def test_an_older_commit_written_after_a_newer_one_is_undone_by_sending_the_newer_again() -> None:
    """After the group coordinator was killed, a commit librdkafka had retried was written
    after a newer one (offset 127 after 420 on the three-broker cluster): the group's offset
    went back while the consumer took 420 as committed, and never sent it again."""
    with Running() as run:
        run.read(P0, 0, 1, 2, 3, 4)
        run.sink.finish(P0, 0, 1, 2, 3, 4)
        run.until(lambda: run.consumer.held.get(P0) == 5)
        time.sleep(0.05)
        with run.consumer.lock:
            run.consumer.late = {P0: 2}
        run.until(lambda: not run.consumer.late)  # written: the broker held 2 for a moment
        run.until(lambda: run.consumer.held.get(P0) == 5)


def test_an_older_commit_answered_while_leaving_is_undone_before_closing() -> None:
    run = Running(shutdown_grace=5.0)
    run.read(P0, 0, 1, 2)
    run.sink.finish(P0, 0, 1, 2)
    run.until(lambda: run.consumer.held.get(P0) == 3)
    run.consumer.late_on_settle = {P0: 1}
    run.end()
    assert run.consumer.held[P0] == 3
    assert run.consumer.closed


def test_a_revoke_waits_for_work_under_way_then_commits_and_lets_go() -> None:
    with Running(revoke_timeout=0.3) as run:
        run.read(P0, 0, 1)
        run.read(P1, 0)
        run.sink.finish(P0, 0)
        started = time.monotonic()
        run.source.on_revoke([P0])  # as librdkafka calls it, inside consume
        waited = time.monotonic() - started
        assert 0.25 < waited < 2.0  # waited for offset 1, bounded by revoke_timeout
        assert run.consumer.committed(P0) == 1  # what was finished, and no further
        assert run.sink.abandoned == [{P0}]  # unstarted jobs of P0 are dropped
        assert run.tracker.pending({P0}) == 0  # forgotten: its new owner redelivers it
        assert P0 not in run.source.assigned and P1 in run.source.assigned


def test_a_revoke_does_not_wait_once_every_record_is_finished() -> None:
    with Running(revoke_timeout=5.0) as run:
        run.read(P0, 0, 1)
        threading.Timer(0.1, run.sink.finish, (P0, 0, 1)).start()
        started = time.monotonic()
        run.source.on_revoke([P0])
        assert time.monotonic() - started < 2.0
        assert run.consumer.committed(P0) == 2


def test_shutdown_drains_what_was_read_then_commits_and_closes() -> None:
    run = Running(shutdown_grace=5.0)
    run.read(P0, 0, 1, 2)
    threading.Timer(0.2, run.sink.finish, (P0, 0, 1, 2)).start()
    run.end()
    assert run.consumer.committed(P0) == 3
    assert run.consumer.closed
    assert P0 in run.consumer.paused  # nothing more was fetched while draining


def test_past_the_grace_period_the_rest_is_left_for_redelivery() -> None:
    run = Running(shutdown_grace=0.2)
    run.read(P0, 0, 1, 2)
    run.sink.finish(P0, 0)
    started = time.monotonic()
    run.end()
    assert time.monotonic() - started < 3.0
    assert run.consumer.committed(P0) == 1
    assert run.consumer.closed


def test_intake_pauses_at_the_buffer_bound_and_resumes_at_half() -> None:
    with Running(max_buffered=4) as run:
        run.read(P0, 0, 1, 2, 3)
        run.until(lambda: {P0, P1} <= run.consumer.paused)
        run.sink.finish(P0, 0)
        time.sleep(0.05)
        assert {P0, P1} <= run.consumer.paused  # 3 pending: above half
        run.sink.finish(P0, 1)
        run.until(lambda: not run.consumer.paused)


def test_intake_pauses_while_the_least_busy_healthy_destination_has_enough_queued(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With a destination down, records wait for it up to max_buffered; reading that many as
    fast as Kafka gives them starved the healthy one. Intake also follows its queue."""
    monkeypatch.setattr(source, "READ_AHEAD", 4)
    with Running(max_buffered=100) as run:
        run.read(P0, 0, 1)
        run.sink.queued = 4  # the healthy destination has READ_AHEAD jobs
        run.until(lambda: {P0, P1} <= run.consumer.paused)
        run.sink.queued = 3
        time.sleep(0.05)
        assert {P0, P1} <= run.consumer.paused  # above half
        run.sink.queued = 2
        run.until(lambda: not run.consumer.paused)


def test_the_read_ahead_bound_lets_go_at_its_own_half_though_the_buffer_is_half_full(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A down destination's records keep the buffer over half full: intake paused by the
    read-ahead bound must still resume once the healthy destination's queue is at half."""
    monkeypatch.setattr(source, "READ_AHEAD", 4)
    with Running(max_buffered=10) as run:
        run.read(P0, *range(6))  # never finished: 6 of 10 buffered, above half
        run.sink.queued = 4
        run.until(lambda: {P0, P1} <= run.consumer.paused)
        run.sink.queued = 2
        run.until(lambda: not run.consumer.paused)


def test_only_the_first_record_is_waited_for_and_batches_go_over_in_chunks() -> None:
    """librdkafka's consume(n, timeout) waits until n records have arrived: asked for 500, a
    record read at a moderate rate waited up to the whole poll timeout for a batch to fill."""
    with Running() as run:
        run.read(P0, *range(120))
        assert all(n == 1 or timeout == 0 for n, timeout in run.consumer.asked)
        assert run.sink.handed == [source.HANDOVER, source.HANDOVER, 120 - 2 * source.HANDOVER]


def test_an_unavailable_dependency_rewinds_and_pauses_only_its_partition() -> None:
    down = threading.Event()
    down.set()
    with Running(refuse=lambda r: r.partition == 0 and down.is_set()) as run:
        run.consumer.put(P0, 0, 1)
        run.read(P1, 0)
        run.until(lambda: (P0, 0) in run.consumer.seeks)
        assert P0 in run.consumer.paused and P1 not in run.consumer.paused
        assert (P0, 0) not in run.sink.works  # not decided, not counted: read again later


def test_a_range_reader_ends_by_itself_and_keeps_what_it_reached() -> None:
    reader = RangeReader({P0: (0, 3), P1: (5, 5)})
    run = Running(reader=reader)
    run.read(P0, 0, 1, 2)
    run.consumer.put(P0, 3)  # past the end of the range: not taken
    run.sink.finish(P0, 0, 1, 2)
    run.thread.join(5)
    assert not run.thread.is_alive()  # finished without a stop
    assert (P0, 3) not in run.sink.works
    assert run.consumer.commits == []  # no group: nothing committed
    assert reader.resume_offsets() == {0: 3, 1: 5}


def test_a_range_reader_ends_when_the_rest_of_its_range_was_deleted_unread() -> None:
    """Retention deleted records 2-4 before they were read: waiting for them would never end."""
    reader = RangeReader({P0: (0, 5), P1: (3, 3)}, {P1: 3})  # P1's 3 were gone at the start
    run = Running(reader=reader)
    try:
        run.read(P0, 0, 1)
        run.sink.finish(P0, 0, 1)
        time.sleep(0.1)
        assert run.thread.is_alive()  # records 2-4 of P0 are still to come
        run.consumer.lows[P0] = 7  # the log start passed them: they never will
        run.thread.join(5)
        assert not run.thread.is_alive()
        assert reader.deleted() == {P0: 3, P1: 3}
    finally:
        run.stop.set()
        run.thread.join(5)


# -- order across partitions ([ordering] window) --------------------------------------------


def timed(run: Running, tp: TopicPartition, offset: int, moment: float) -> None:
    """Offer one record to deliver with this event time."""
    run.sink.times[(tp, offset)] = moment
    run.consumer.put(tp, offset)


def early(run: Running, reason: str) -> float:
    return run.source._metrics.order_released_early.labels("mi", reason).value


def test_records_of_two_partitions_are_handed_on_in_event_time_order() -> None:
    with Running(ordering=OrderingSettings(window=30.0)) as run:
        timed(run, P1, 0, 20.0)  # read first; P0 has not been read past 20 yet
        time.sleep(0.1)
        assert run.sink.order == []
        timed(run, P0, 0, 10.0)
        timed(run, P0, 1, 25.0)  # P0 is now read past 20
        # P1's record goes once P0 is read past 20; P0's second once P1, read to its end
        # (the fake's high watermark is 0), is seen so in a later step.
        run.until(lambda: len(run.sink.order) == 3)
        assert run.sink.order == [(P0, 0), (P1, 0), (P0, 1)]
        assert early(run, "window") == 0


def test_a_record_waits_no_longer_than_the_window() -> None:
    with Running(ordering=OrderingSettings(window=0.3)) as run:
        started = time.monotonic()
        timed(run, P1, 0, 20.0)  # P0 is never read: only the window lets it go
        run.until(lambda: run.sink.order == [(P1, 0)])
        assert 0.25 < time.monotonic() - started < 3.0
        assert early(run, "window") == 1


def test_paused_intake_never_keeps_a_record_waiting() -> None:
    with Running(ordering=OrderingSettings(window=60.0)) as run:
        timed(run, P1, 0, 20.0)
        time.sleep(0.1)
        assert run.sink.order == []
        run.sink.queued = 10**6  # the destination has enough queued: intake pauses
        run.until(lambda: run.sink.order == [(P1, 0)])
        assert early(run, "paused") == 1


def test_a_full_buffer_hands_on_what_it_holds() -> None:
    with Running(ordering=OrderingSettings(window=60.0), max_buffered=2) as run:
        timed(run, P1, 0, 20.0)
        timed(run, P1, 1, 21.0)
        run.until(lambda: run.sink.order == [(P1, 0), (P1, 1)])
        assert early(run, "full") == 2


def test_a_revoked_partition_hands_on_what_it_holds_before_letting_go() -> None:
    with Running(ordering=OrderingSettings(window=60.0), revoke_timeout=2.0) as run:
        timed(run, P1, 0, 20.0)
        time.sleep(0.1)
        assert run.sink.order == []
        finisher = threading.Timer(0.2, lambda: run.sink.finish(P1, 0))
        finisher.start()
        started = time.monotonic()
        run.source.on_revoke([P1])  # as librdkafka calls it: the held record is handed on
        assert run.sink.order == [(P1, 0)]
        assert time.monotonic() - started < 1.5  # it finished: no wait for the timeout
        assert run.consumer.committed(P1) == 1
        assert early(run, "revoked") == 1
