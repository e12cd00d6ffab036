from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consumer.core.offsets import OffsetTracker, PartitionOffsets


def test_commits_only_below_the_lowest_unfinished_record() -> None:
    p = PartitionOffsets()
    for offset in (10, 11, 12):
        p.add(offset)
    assert p.committable() == 10
    p.finish(11)
    assert p.committable() == 10
    p.finish(10)
    assert p.committable() == 12
    p.finish(12)
    assert p.committable() == 13
    assert len(p) == 0


def test_reports_only_moves_of_what_the_broker_holds() -> None:
    p = PartitionOffsets()
    p.add(5)
    p.finish(5)
    assert p.committable() == 6
    p.mark_committed(6)
    assert p.committable() is None
    p.add(6)
    assert p.committable() is None
    p.mark_committed(3)  # an older commit was written last: the broker holds 3
    assert p.committable() == 6  # so 6 is to be sent again
    p.finish(6)
    assert p.committable() == 7


def test_gaps_in_offsets_are_fine() -> None:
    p = PartitionOffsets()
    p.add(3)
    p.add(9)
    p.finish(9)
    assert p.committable() == 3
    p.finish(3)
    assert p.committable() == 10


def test_misuse_is_refused() -> None:
    p = PartitionOffsets()
    p.add(4)
    with pytest.raises(ValueError, match="arrived after"):
        p.add(4)
    with pytest.raises(ValueError, match="not pending"):
        p.finish(7)
    p.finish(4)
    with pytest.raises(ValueError, match="not pending"):
        p.finish(4)


def test_tracker_per_partition_and_forget() -> None:
    t = OffsetTracker()
    t.add("t", 0, 0)
    p1 = t.add("t", 1, 0)
    t.add("t", 1, 1)
    t.finish(p1, 0)
    assert t.committable() == {("t", 0): 0, ("t", 1): 1}
    assert t.committable({("t", 1)}) == {("t", 1): 1}
    assert t.pending() == 2
    assert t.oldest_pending() == {("t", 0): (0, None), ("t", 1): (1, None)}
    t.forget({("t", 1)})
    assert t.pending() == 1
    t.finish(p1, 1)  # late finish of a revoked partition: changes nothing live
    assert t.pending() == 1
    assert t.committable() == {("t", 0): 0}
    t.mark_committed({("t", 0): 0})
    assert t.committable() == {}
    assert t.pending({("t", 0)}) == 1 and t.pending({("x", 9)}) == 0


def test_a_reassigned_partition_is_not_touched_by_the_old_handle() -> None:
    t = OffsetTracker()
    old = t.add("t", 0, 5)
    t.forget({("t", 0)})
    t.add("t", 0, 5)
    t.finish(old, 5)
    assert t.pending() == 1
    assert t.committable() == {("t", 0): 5}


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1, max_value=60), st.randoms(use_true_random=False))
def test_watermark_is_always_the_lowest_unfinished(count: int, rnd: random.Random) -> None:
    p = PartitionOffsets()
    for offset in range(count):
        p.add(offset)
    order = list(range(count))
    rnd.shuffle(order)
    finished: set[int] = set()
    for offset in order:
        p.finish(offset)
        finished.add(offset)
        lowest = min((o for o in range(count) if o not in finished), default=count)
        assert p.committable() == lowest


def test_the_oldest_pending_record_keeps_its_timestamp() -> None:
    p = PartitionOffsets()
    p.add(1, 100.0)
    p.add(2, 200.0)
    assert p.oldest_pending() == (1, 100.0)
    p.finish(1)
    assert p.oldest_pending() == (2, 200.0)
    p.finish(2)
    assert p.oldest_pending() is None


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(("add", "finish", "commit")), st.integers(1, 3), st.floats()),
        max_size=60,
    ),
    st.randoms(use_true_random=False),
)
def test_a_partition_answers_as_a_model_of_its_pending_records(
    steps: list[tuple[str, int, float]], rnd: random.Random
) -> None:
    """Adds (with gaps), finishes in any order and commits, interleaved: after each step the
    answers are the model's, in which the watermark is the smallest pending offset."""
    p = PartitionOffsets()
    pending: dict[int, float] = {}  # the model
    last, committed = -1, None
    for kind, size, stamp in steps:
        if kind == "add":
            last += size
            p.add(last, stamp)
            pending[last] = stamp
        elif kind == "finish" and pending:
            offset = rnd.choice(sorted(pending))
            p.finish(offset)
            del pending[offset]
        elif kind == "commit" and (position := p.committable()) is not None:
            p.mark_committed(position)
            committed = position
        lowest = min(pending, default=last + 1)
        assert len(p) == len(pending)
        assert p.oldest_pending() == (None if not pending else (lowest, pending[lowest]))
        moved = last >= 0 and (committed is None or lowest > committed)
        assert p.committable() == (lowest if moved else None)
