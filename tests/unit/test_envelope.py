"""The envelope: what the stages after the decision read of a record, computed once."""

from __future__ import annotations

from consumer.core.decision import Decision, decide_message
from consumer.core.envelope import ROUTED, Timing, envelope, kafka_seconds
from consumer.core.offsets import OffsetTracker
from consumer.core.records import Record
from consumer.core.segment import Place
from consumer.shell.kafka.identity_links import record_time
from consumer.shell.kafka.time_order import ordering_time


def test_an_envelope_holds_the_decisions_ids_keys_and_times() -> None:
    message = {"type": "track", "userId": "u1", "timestamp": "2026-01-01T00:00:00Z"}
    decision = decide_message(message, (), Place("in", 2, 7))
    record = Record("in", 2, 7, b"k", b"{}", (), 1_767_225_600_500)
    handle = OffsetTracker().add("in", 2, 7, None)
    one = envelope(record, decision, handle, kafka_seconds(record.timestamp_ms), 5.0)
    assert one.message_id == decision.message_id == "kafka-in-2-7"
    assert one.identity_keys == ("u1",)
    assert one.event_time == 1_767_225_600.0
    assert one.appended_at == 1_767_225_600.5
    assert (one.read_at, one.handle, one.decision) == (5.0, handle, decision)


def test_a_routed_envelope_lets_its_decision_go_and_keeps_what_finishing_needs() -> None:
    decision = Decision("m1", {"type": "track"}, (), identity_keys=("u1",), event_time=3.0)
    one = envelope(Record("in", 0, 0, None, b"{}", ()), decision, None, None)  # type: ignore[arg-type]
    one.routed()
    assert one.decision is ROUTED
    assert (one.message_id, one.identity_keys, one.event_time) == ("m1", ("u1",), 3.0)


def test_the_order_and_the_gate_take_their_times_from_the_envelope() -> None:
    record = Record("in", 0, 0, None, b"{}", (), 2_000)
    timed = Decision("m1", {}, (), event_time=1.0)
    untimed = Decision("m2", {}, ())
    for decision, appended, read_at, order, gate in [
        (timed, 2.0, 3.0, 1.0, 2.0),
        (untimed, 2.0, 3.0, 2.0, 2.0),
        (untimed, None, 3.0, 3.0, 3.0),
    ]:
        one = envelope(record, decision, None, appended, read_at)  # type: ignore[arg-type]
        assert (ordering_time(one), record_time(one)) == (order, gate)


def test_kafka_seconds_and_a_fresh_timing() -> None:
    assert kafka_seconds(None) is None and kafka_seconds(1500) == 1.5
    timing = Timing()
    assert timing.queued_at > 0 and timing.started_at == 0.0
