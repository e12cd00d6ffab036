"""Real configurations: the preset triggers and default mappings of Segment's other destinations.

The corpus (tests/differential/corpus/*.json, data taken from segmentio/action-destinations)
runs through Segment's packages and through the consumer on the same Segment-spec events:
every trigger reads and evaluates as Segment's, every default mapping, used as Send Entire
Event data, sends what Segment sends. The only disagreements allowed are the deliberate ones
(docs/segment-second-pass.md), each counted in the suite's summary.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from consumer.core.decision import decide_message
from consumer.core.mapping import MappingError, compile_mapping
from consumer.core.movableink import Destination, Secret, Subscription
from consumer.core.triggers import TriggerSyntaxError, parse
from tests.differential.oracle_client import COMPARED, DIFFERENCES, Oracle

CORPUS = Path(__file__).resolve().parent / "corpus"
EVENTS: list[dict[str, Any]] = json.loads((CORPUS / "events.json").read_text("utf-8"))["events"]
TRIGGERS = json.loads((CORPUS / "triggers.json").read_text("utf-8"))["triggers"]
MAPPINGS = json.loads((CORPUS / "mappings.json").read_text("utf-8"))["mappings"]
URL = "https://collector.movableink-dmz.com/behavioral/KEY"
SETTINGS = {"username": "id", "password": "pw", "movable_ink_url": URL}


def test_the_corpus_is_there() -> None:
    assert len(TRIGGERS) > 150 and len(MAPPINGS) > 500 and len(EVENTS) > 10


def test_preset_triggers_read_and_evaluate_as_segment(oracle: Oracle) -> None:
    disagreements = []
    for entry in TRIGGERS:
        text = entry["subscribe"]
        answer = oracle.ask({"op": "trigger", "subscribe": text, "events": EVENTS})
        try:
            trigger = parse(text)
        except TriggerSyntaxError as error:
            # Refused: Segment cannot parse it, or misreads it as our message says.
            if "Segment" not in str(error):
                disagreements.append(f"{entry['source']}: {text!r} refused: {error}")
            COMPARED["corpus triggers refused"] += 1
            if "error" not in answer:
                DIFFERENCES["corpus triggers Segment misreads, refused"] += 1
            continue
        if "error" in answer:
            disagreements.append(f"{entry['source']}: we accept {text!r}; Segment: {answer}")
            continue
        ours = [trigger.matches(event) for event in EVENTS]
        if ours != answer["results"]:
            disagreements.append(f"{entry['source']}: {text!r}: {ours} vs {answer['results']}")
        COMPARED["corpus trigger evaluations"] += len(EVENTS)
    assert disagreements == []


@pytest.mark.parametrize("part", range(4))
def test_default_mappings_send_what_segment_sends(oracle: Oracle, part: int) -> None:
    disagreements = []
    for entry in MAPPINGS[part::4]:
        data = entry["data"]
        answers = oracle.ask(
            {"op": "send", "settings": SETTINGS, "mapping": {"data": data}, "events": EVENTS}
        )["results"]
        try:
            mapping = compile_mapping(data, name="data")
        except MappingError as error:
            sent = [a for a in answers if a["sent"]]
            if error.segment_accepts:
                DIFFERENCES["corpus mappings that fail wherever reached, refused"] += 1
            elif sent:
                disagreements.append(f"{entry['source']}: we refuse ({error}); Segment sends")
            COMPARED["corpus mappings refused"] += 1
            continue
        subscription = Subscription("m", parse('type = "track" or type != "track"'), mapping)
        # Movable Ink's own event checks (signals) are not Segment's: off here.
        destination = Destination("mi", URL, "id", Secret("pw"), (subscription,), signals="off")
        for event, theirs in zip(EVENTS, answers, strict=True):
            COMPARED["corpus requests"] += 1
            problem = _disagreement(decide_message(event, (destination,)), theirs)
            if problem:
                disagreements.append(f"{entry['source']} on {event['messageId']}: {problem}")
    assert disagreements == []


def _disagreement(decision: Any, theirs: dict[str, Any]) -> str | None:
    """What differs between our decision on one event and Segment's request, if anything."""
    deliveries = decision.deliveries
    if not deliveries:
        if theirs["sent"]:
            return f"we do not send ({decision.first_reason}); Segment does"
        return None
    if not theirs["sent"]:
        return f"we send; Segment does not: {theirs.get('error')}"
    (delivery,) = deliveries
    sent = theirs["request"]
    if delivery.request.body is None:
        return None if sent["body"] is None else f"we send no body; Segment sends {sent['body']}"
    if json.loads(sent["body"]) != json.loads(delivery.content):
        return f"bodies differ: ours {delivery.content!r}, Segment {sent['body']!r}"
    return None
