"""Triggers: what we accept, Segment's destination-subscriptions parses and evaluates the same."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumer.triggers import TriggerSyntaxError, parse
from tests.differential.conftest import COMPARED, DIFFERENCES, Oracle
from tests.differential.grammar import events, triggers

EVENTS_PER_TRIGGER = 6


@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    text=triggers(),
    batch=st.lists(events(), min_size=EVENTS_PER_TRIGGER, max_size=EVENTS_PER_TRIGGER),
)
def test_triggers_read_and_evaluate_as_segment(
    oracle: Oracle, text: str, batch: list[dict[str, Any]]
) -> None:
    answer = oracle.ask({"op": "trigger", "subscribe": text, "events": batch})
    try:
        trigger = parse(text)
    except TriggerSyntaxError as error:
        # Refused: Segment cannot parse it either, or (our one deliberate difference) it
        # misreads it, which our message explains.
        assert "Segment" in str(error), str(error)
        COMPARED["refused triggers"] += 1
        if "error" not in answer:
            DIFFERENCES["triggers Segment misreads, refused"] += 1
        return
    assert "error" not in answer, f"we accept {text!r}; Segment cannot parse it: {answer}"
    ours = [trigger.matches(event) for event in batch]
    assert ours == answer["results"], f"{text!r}: ours {ours}, Segment {answer['results']}"
    COMPARED["trigger evaluations"] += len(batch)
