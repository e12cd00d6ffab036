"""Order across partitions (consumer/core/event_time_order.py): merged by event time, log order
within a partition, and every wait bounded."""

from __future__ import annotations

import random
from collections import defaultdict

from hypothesis import given, settings
from hypothesis import strategies as st

from consumer.core.event_time_order import EventTimeMerge, Partitions, ReleaseReason, rank
from consumer.core.released import Released

P0, P1, P2 = ("t", 0), ("t", 1), ("t", 2)
ALL = frozenset({P0, P1, P2})


def items(released: list[Released[str, ReleaseReason]]) -> list[str]:
    return [r.item for r in released]


def test_the_earliest_head_goes_first_once_every_partition_is_past_it() -> None:
    merge: EventTimeMerge[str] = EventTimeMerge(window_s=10)
    merge.add(P1, 0, 20.0, 1, "b", now=0, step=1)
    merge.add(P0, 0, 10.0, 1, "a", now=0, step=1)
    merge.add(P2, 0, 30.0, 1, "c", now=0, step=1)
    assert items(merge.release(0, 1, Partitions(ALL))) == ["a"]
    # P0 is read only to 10: it could still hold something before b's 20.
    assert merge.release(0, 2, Partitions(ALL)) == []
    merge.read_to(P0, 25.0)
    assert items(merge.release(0, 2, Partitions(ALL))) == ["b"]
    out = merge.release(0, 3, Partitions(ALL, at_end=frozenset({P0, P1})))
    assert items(out) == ["c"] and out[0].reason is None and len(merge) == 0


def test_a_partition_not_yet_read_past_the_time_holds_the_record() -> None:
    merge: EventTimeMerge[str] = EventTimeMerge(window_s=10)
    merge.add(P1, 0, 20.0, 1, "track", now=0, step=1)
    assert merge.release(0.1, 1, Partitions(frozenset({P0, P1}))) == []
    merge.add(P0, 0, 10.0, 0, "identify", now=0.2, step=2)
    assert items(merge.release(0.2, 2, Partitions(frozenset({P0, P1})))) == ["identify"]
    # P0 is empty again, read only to 10: the track waits until P0 is read past 20 or seen at
    # its end in a step after the one that read the track.
    assert merge.release(0.3, 2, Partitions(frozenset({P0, P1}))) == []
    out = merge.release(0.4, 2, Partitions(frozenset({P0, P1}), at_end=frozenset({P0})))
    assert items(out) == ["track"] and out[0].reason is None and out[0].held_s == 0.4


def test_an_end_seen_in_the_step_that_read_the_record_does_not_count() -> None:
    """The end of a partition comes from its last fetch: in the same step, a record of another
    partition may have overtaken the fetch of an earlier one."""
    merge: EventTimeMerge[str] = EventTimeMerge(window_s=10)
    merge.add(P1, 0, 20.0, 1, "x", now=0, step=5)
    reading = Partitions(frozenset({P0, P1}), at_end=frozenset({P0}))
    assert merge.release(0, 5, reading) == []
    assert items(merge.release(0, 6, reading)) == ["x"]


def test_log_order_within_a_partition_wins_over_time() -> None:
    merge: EventTimeMerge[str] = EventTimeMerge(window_s=10)
    merge.add(P0, 0, 50.0, 1, "late", now=0, step=1)
    merge.add(P0, 1, 5.0, 1, "early", now=0, step=1)
    merge.add(P1, 0, 40.0, 1, "other", now=0, step=1)
    merge.read_to(P1, 60.0)
    merge.read_to(P2, 100.0)
    assert items(merge.release(0, 1, Partitions(ALL))) == ["other", "late", "early"]


def test_identify_goes_before_other_events_of_the_same_moment() -> None:
    merge: EventTimeMerge[str] = EventTimeMerge(window_s=10)
    merge.add(P0, 7, 10.0, rank("track"), "track", now=0, step=1)
    merge.add(P1, 3, 10.0, rank("identify"), "identify", now=0, step=1)
    assert rank("alias") == rank("identify") < rank("page")
    assert items(merge.release(0, 1, Partitions(frozenset({P0, P1})))) == ["identify", "track"]


def test_the_window_bounds_the_wait_and_says_so() -> None:
    merge: EventTimeMerge[str] = EventTimeMerge(window_s=2)
    merge.add(P0, 0, 10.0, 1, "a", now=100.0, step=1)
    waiting = Partitions(frozenset({P0, P1}))  # P1 is read but never past 10
    assert merge.release(101.9, 2, waiting) == []
    out = merge.release(102.0, 3, waiting)
    assert items(out) == ["a"] and out[0].reason == "window" and out[0].held_s == 2.0


def test_a_later_record_that_waited_longer_is_not_held_past_its_window() -> None:
    merge: EventTimeMerge[str] = EventTimeMerge(window_s=2)
    merge.add(P1, 0, 30.0, 1, "old arrival, later time", now=0.0, step=1)
    merge.add(P0, 0, 10.0, 1, "new arrival, earlier time", now=1.5, step=2)
    waiting = Partitions(ALL)  # P2 is never read past anything
    out = merge.release(2.0, 3, waiting)
    assert items(out) == ["old arrival, later time"] and out[0].reason == "window"
    assert items(merge.release(3.5, 4, waiting)) == ["new arrival, earlier time"]


def test_a_paused_partition_is_never_waited_for() -> None:
    merge: EventTimeMerge[str] = EventTimeMerge(window_s=60)
    merge.add(P0, 0, 10.0, 1, "a", now=0, step=1)
    out = merge.release(0, 1, Partitions(frozenset({P0}), idle=frozenset({P1})))
    assert items(out) == ["a"] and out[0].reason == "paused"
    # a paused partition read past the time was no reason to wait anyway
    merge.read_to(P1, 50.0)
    merge.add(P0, 1, 20.0, 1, "b", now=0, step=1)
    out = merge.release(0, 1, Partitions(frozenset({P0}), idle=frozenset({P1})))
    assert items(out) == ["b"] and out[0].reason is None


def test_everything_goes_when_every_partition_is_paused() -> None:
    merge: EventTimeMerge[str] = EventTimeMerge(window_s=60)
    merge.add(P0, 0, 30.0, 1, "a", now=0, step=1)
    merge.add(P1, 0, 10.0, 1, "b", now=0, step=1)
    out = merge.release(0, 1, Partitions(frozenset(), idle=frozenset({P0, P1, P2})))
    assert items(out) == ["b", "a"] and {r.reason for r in out} == {"paused"}


def test_revoked_partitions_are_handed_on_and_lost_ones_dropped() -> None:
    merge: EventTimeMerge[str] = EventTimeMerge(window_s=60)
    for offset in range(3):
        merge.add(P0, offset, 10.0 + offset, 1, f"p0-{offset}", now=0, step=1)
        merge.add(P1, offset, 5.0 + offset, 1, f"p1-{offset}", now=0, step=1)
    out = merge.release_partitions([P0], 1.0, "revoked")
    assert items(out) == ["p0-0", "p0-1", "p0-2"] and {r.reason for r in out} == {"revoked"}
    assert merge.forget([P1]) == 3 and len(merge) == 0
    assert merge.release(2.0, 2, Partitions(ALL)) == []


def test_release_all_empties_the_merge_in_order() -> None:
    merge: EventTimeMerge[str] = EventTimeMerge(window_s=60)
    merge.add(P0, 0, 30.0, 1, "c", now=0, step=1)
    merge.add(P1, 0, 10.0, 1, "a", now=0, step=1)
    merge.add(P1, 1, 20.0, 1, "b", now=0, step=1)
    out = merge.release_all(1.0, "full")
    assert items(out) == ["a", "b", "c"] and {r.reason for r in out} == {"full"}
    assert len(merge) == 0


# -- generated interleavings -------------------------------------------------------------------

Event = tuple[str, int, float]  # person, their sequence number, event time


@st.composite
def productions(draw: st.DrawFn) -> tuple[list[Event], dict[int, list[Event]], int]:
    """Several people's events in production order (times non-decreasing), spread over
    partitions by any keying, and a seed for the order the consumer reads them in."""
    people = draw(st.integers(1, 6))
    count = draw(st.integers(1, 60))
    partitions = draw(st.integers(1, 5))
    time = 0.0
    events: list[Event] = []
    sequence: dict[str, int] = defaultdict(int)
    placed: dict[int, list[Event]] = defaultdict(list)
    for _ in range(count):
        time += draw(st.sampled_from([0.0, 0.001, 0.5, 3.0]))
        person = f"p{draw(st.integers(0, people - 1))}"
        event = (person, sequence[person], time)
        sequence[person] += 1
        events.append(event)
        placed[draw(st.integers(0, partitions - 1))].append(event)
    return events, placed, draw(st.integers(0, 2**32))


def consume(
    placed: dict[int, list[Event]], seed: int, window_s: float, dt: float
) -> list[Released[Event, ReleaseReason]]:
    """Read the partitions in random chunks, one step at a time, releasing after each."""
    rng = random.Random(seed)
    merge: EventTimeMerge[Event] = EventTimeMerge(window_s)
    left = {("t", p): list(events) for p, events in placed.items()}
    offsets = {tp: 0 for tp in left}
    reading = frozenset(left)
    out: list[Released[Event, ReleaseReason]] = []
    now, step = 0.0, 0
    while any(left.values()) or len(merge):
        step += 1
        now += dt
        for tp in rng.sample(sorted(left), k=rng.randint(0, len(left))):
            for _ in range(rng.randint(0, 3)):
                if left[tp]:
                    event = left[tp].pop(0)
                    merge.add(tp, offsets[tp], event[2], 1, event, now=now, step=step)
                    offsets[tp] += 1
        at_end = frozenset(tp for tp in left if not left[tp])
        out += merge.release(now, step, Partitions(reading, at_end=at_end))
        assert step < 10_000, "the merge stalled"
    return out


@settings(max_examples=300, deadline=None)
@given(productions())
def test_each_person_starts_in_event_time_order_however_the_partitions_are_read(
    production: tuple[list[Event], dict[int, list[Event]], int],
) -> None:
    events, placed, seed = production
    released = consume(placed, seed, window_s=1e9, dt=0.01)
    assert sorted(r.item for r in released) == sorted(events)  # nothing lost or doubled
    assert all(r.reason is None for r in released)
    last: dict[str, float] = {}
    for person, _, time in (r.item for r in released):
        assert time >= last.get(person, time)
        last[person] = time


@settings(max_examples=200, deadline=None)
@given(productions(), st.sampled_from([0.0, 0.02, 0.1]))
def test_nothing_is_held_past_the_window(
    production: tuple[list[Event], dict[int, list[Event]], int], window_s: float
) -> None:
    events, placed, seed = production
    dt = 0.01
    released = consume(placed, seed, window_s, dt)
    assert sorted(r.item for r in released) == sorted(events)
    # A release is looked for once a step: at most one step past the window.
    assert max((r.held_s for r in released), default=0.0) <= window_s + dt + 1e-9
