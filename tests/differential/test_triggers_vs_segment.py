"""Triggers: what we accept, Segment's destination-subscriptions parses and evaluates the same."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumer.core.triggers import TriggerSyntaxError, parse
from tests.differential.grammar import events, triggers
from tests.differential.oracle_client import COMPARED, DIFFERENCES, Oracle

EVENTS_PER_TRIGGER = 8


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=triggers(), data=st.data())
def test_triggers_read_and_evaluate_as_segment(
    oracle: Oracle, text: str, data: st.DataObject
) -> None:
    try:
        trigger = parse(text)
    except TriggerSyntaxError as error:
        # Refused: Segment cannot parse it either, or (our one deliberate difference) it
        # misreads it, which our message explains.
        assert "Segment" in str(error), str(error)
        COMPARED["refused triggers"] += 1
        if "error" not in oracle.ask({"op": "trigger", "subscribe": text, "events": []}):
            DIFFERENCES["triggers Segment misreads, refused"] += 1
        return
    batch = data.draw(st.lists(events(), min_size=EVENTS_PER_TRIGGER, max_size=EVENTS_PER_TRIGGER))
    answer = oracle.ask({"op": "trigger", "subscribe": text, "events": batch})
    assert "error" not in answer, f"we accept {text!r}; Segment cannot parse it: {answer}"
    ours = [trigger.matches(event) for event in batch]
    assert ours == answer["results"], f"{text!r}: ours {ours}, Segment {answer['results']}"
    COMPARED["trigger evaluations"] += len(batch)
