"""Triggers: what we accept, Segment's destination-subscriptions parses and evaluates the same."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumer.core.triggers import TriggerSyntaxError, parse
from tests.differential.grammar import condition_trees, events, triggers
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


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(tree=condition_trees(), data=st.data())
def test_what_generate_fql_writes_reads_and_evaluates_as_segment(
    oracle: Oracle, tree: dict[str, Any], data: st.DataObject
) -> None:
    """The text Segment's UI writes for a condition tree (`generateFql`, run from the package)
    is read as Segment reads it: escaped names such as `properties.products\\[0\\].sku`, numbers
    in contains(), values as generateFql quotes them."""
    written = oracle.ask({"op": "generate", "ast": tree})
    if "error" in written:
        return  # not a tree generateFql can write
    text = written["fql"]
    batch = data.draw(st.lists(events(), min_size=EVENTS_PER_TRIGGER, max_size=EVENTS_PER_TRIGGER))
    answer = oracle.ask({"op": "trigger", "subscribe": text, "events": batch})
    try:
        trigger = parse(text)
    except TriggerSyntaxError as error:
        assert "Segment" in str(error), str(error)
        COMPARED["refused generateFql texts"] += 1
        if "error" not in answer:
            DIFFERENCES["generateFql texts Segment misreads, refused"] += 1
        return
    assert "error" not in answer, f"we accept {text!r}; Segment cannot parse it: {answer}"
    ours = [trigger.matches(event) for event in batch]
    assert ours == answer["results"], f"{text!r}: ours {ours}, Segment {answer['results']}"
    COMPARED["generateFql evaluations"] += len(batch)
