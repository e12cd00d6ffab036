"""Deciding is total: any bytes, any JSON, any Avro-framed value gives exactly one outcome.

Each generated record must end as a decision the shell can act on (deliver, filtered, or
invalid with a reason code), never an exception, and never `internal.error`: every kind of bad
input has a reason code of its own, so an `internal.error` here is a bug to name.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

import fastavro
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumer.core.decision import Decision, decide_message, decide_record
from consumer.core.decode import Decoder, avro_codec
from consumer.core.errors import INTERNAL_ERROR
from consumer.core.mapping import compile_mapping
from consumer.core.movableink import PRESET_DATA, Destination, Secret, Subscription
from consumer.core.triggers import parse
from tests.hostile import segment_like

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
URL = "http://127.0.0.1:1/behavioral/key"


def _destinations() -> tuple[Destination, ...]:
    """Two destinations whose triggers and mappings read the fields hostile input fills."""
    everything = Subscription("all", parse('type != "x"'), compile_mapping(PRESET_DATA))
    reads = Subscription(
        "reads",
        parse(
            'event = "Order Completed" or properties.total > 10 or contains(name, "a") '
            'or traits.email != null or match(context.page.url, "https*")'
        ),
        compile_mapping({"id": {"@path": "$.messageId"}, "props": {"@path": "$.properties"}}),
        compile_mapping(
            {"X-Event": {"@path": "$.event"}, "X-Total": {"@path": "$.properties.total"}}
        ),
    )
    return (
        Destination("a", URL, "u", Secret("p"), (everything,), signals="enforce"),
        Destination("b", URL, "u", Secret("p"), (reads,), signals="warn", max_event_age_s=3600),
    )


DESTINATIONS = _destinations()
DECODERS = {f: Decoder(value_format=f) for f in ("confluent", "avro", "json")}


def _refuse(constant: str) -> None:
    raise AssertionError(f"{constant} in a body")


def assert_one_outcome(decision: Decision) -> None:
    """Exactly one outcome, with a reason wherever something is not delivered, and bodies that
    strict JSON readers accept."""
    assert decision.action in ("deliver", "filtered", "invalid")
    assert decision.first_reason != INTERNAL_ERROR, decision.detail or decision.verdicts
    if decision.message is None:
        assert decision.reason and not decision.verdicts
        return
    assert len(decision.verdicts) == len(DESTINATIONS)
    for verdict in decision.verdicts:
        assert verdict.reason != INTERNAL_ERROR, verdict.warnings
        if verdict.action == "deliver":
            assert verdict.deliveries
            for delivery in verdict.deliveries:
                if delivery.content:  # empty: data resolved to nothing, sent with no body
                    json.loads(delivery.content, parse_constant=_refuse)
        else:
            assert verdict.reason and not verdict.deliveries


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(value=st.binary(max_size=300), value_format=st.sampled_from(sorted(DECODERS)))
def test_any_bytes(value: bytes, value_format: str) -> None:
    assert_one_outcome(decide_record(value, DECODERS[value_format], DESTINATIONS, now=NOW))


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(message=segment_like)
def test_any_json_in_any_segment_field(message: dict[str, Any]) -> None:
    value = json.dumps(message).encode()  # NaN and Infinity are written as Python writes them
    assert_one_outcome(decide_record(value, DECODERS["json"], DESTINATIONS, now=NOW))
    assert_one_outcome(decide_message(message, DESTINATIONS, now=NOW))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    message=segment_like,
    raw_fields=st.dictionaries(
        st.sampled_from(sorted(avro_codec.FREEFORM_FIELDS | {avro_codec.EXTRA_FIELD})),
        st.text(max_size=40) | st.sampled_from(["NaN", "[" * 3000, '{"a":', "null", "[1]"]),
        max_size=2,
    ),
)
def test_any_avro_framed_value(message: dict[str, Any], raw_fields: dict[str, str]) -> None:
    try:
        record = avro_codec.to_record(message)
    except ValueError:  # not a valid `type`: the JSON tests cover it
        return
    record.update(raw_fields)
    out = io.BytesIO()
    fastavro.schemaless_writer(out, avro_codec.segment_schema(), record)
    value = avro_codec.frame(1, out.getvalue())
    assert_one_outcome(decide_record(value, DECODERS["confluent"], DESTINATIONS, now=NOW))


@given(depth=st.integers(min_value=1, max_value=20_000), where=st.sampled_from(["[", '{"a":']))
@settings(max_examples=60)
def test_any_nesting_depth(depth: int, where: str) -> None:
    close = "]" if where == "[" else "}"
    text = f'{{"type":"track","userId":"u","properties":{{"x":{where * depth}1{close * depth}}}}}'
    assert_one_outcome(decide_record(text.encode(), DECODERS["json"], DESTINATIONS, now=NOW))


@given(text=st.text(max_size=2000), size=st.sampled_from([0, 1, 999_990, 1_000_000, 1_000_001]))
@settings(max_examples=40)
def test_huge_strings_up_to_and_over_the_size_bound(text: str, size: int) -> None:
    message: dict[str, Any] = {
        "type": "track",
        "userId": "u",
        "event": text,
        "properties": {"pad": ""},
    }
    overhead = len(json.dumps(message).encode())
    message["properties"]["pad"] = "x" * max(0, size - overhead)
    decision = decide_record(json.dumps(message).encode(), DECODERS["json"], DESTINATIONS, now=NOW)
    assert_one_outcome(decision)
