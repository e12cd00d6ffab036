from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consumer.core.ordering import Scheduler


def test_events_of_one_key_run_one_after_another() -> None:
    s: Scheduler[int] = Scheduler()
    assert s.add(1, ["a"]) is True
    assert s.add(2, ["a"]) is False
    assert s.add(3, ["a"]) is False
    assert s.finish(1) == [2]
    assert s.finish(2) == [3]
    assert s.finish(3) == []
    assert len(s) == 0 and s.keys() == 0


def test_other_people_are_never_held_back() -> None:
    s: Scheduler[int] = Scheduler()
    assert s.add(1, ["a"]) is True
    assert s.add(2, ["b"]) is True
    assert s.add(3, ["a"]) is False
    assert s.add(4, ["c"]) is True


def test_an_identify_joining_two_keys_waits_for_both_and_holds_both() -> None:
    s: Scheduler[str] = Scheduler()
    assert s.add("a1", ["A"]) is True
    assert s.add("u1", ["U"]) is True
    assert s.add("identify", ["A", "U"]) is False
    assert s.add("a2", ["A"]) is False
    assert s.add("u2", ["U"]) is False
    assert s.finish("a1") == []  # still waits for u1
    assert s.finish("u1") == ["identify"]
    assert sorted(s.finish("identify")) == ["a2", "u2"]


def test_waiting_behind_counts_the_held_back_events() -> None:
    s: Scheduler[int] = Scheduler()
    for i in range(4):
        s.add(i, ["hot"])
    assert s.waiting_behind("hot") == 3
    assert s.waiting_behind("cold") == 0


def test_misuse_is_refused() -> None:
    s: Scheduler[int] = Scheduler()
    s.add(1, ["a"])
    s.add(2, ["a"])
    with pytest.raises(ValueError, match="already scheduled"):
        s.add(1, ["b"])
    with pytest.raises(ValueError, match="not ready"):
        s.finish(2)
    assert s.finish(1) == [2]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.lists(st.sampled_from("ABCDEF"), min_size=1, max_size=3), min_size=1, max_size=40),
    st.randoms(use_true_random=False),
)
def test_any_schedule_respects_per_key_order_and_finishes_everything(
    keysets: list[list[str]], rnd: random.Random
) -> None:
    s: Scheduler[int] = Scheduler()
    running: list[int] = []
    for item, keys in enumerate(keysets):
        if s.add(item, keys):
            running.append(item)
    finished: list[int] = []
    while running:
        item = running.pop(rnd.randrange(len(running)))
        finished.append(item)
        running.extend(s.finish(item))
    assert sorted(finished) == list(range(len(keysets)))
    for key in "ABCDEF":
        order = [i for i in finished if key in keysets[i]]
        assert order == sorted(order)
    assert len(s) == 0


def test_removing_a_waiting_item_releases_those_behind_it() -> None:
    s: Scheduler[int] = Scheduler()
    s.add(1, ["a"])
    s.add(2, ["a", "b"])
    assert s.add(3, ["b"]) is False  # 2 heads b
    assert s.remove(2) == [3]
    assert s.finish(1) == []
    assert s.finish(3) == []
    assert len(s) == 0 and s.keys() == 0
