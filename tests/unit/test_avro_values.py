"""Avro as other people write it: every value the decoder returns is the Segment JSON the
producer meant, whatever the writer schema (generated ones, RudderStack's, typed ones), and
the decision on it never an `internal.error`."""

from __future__ import annotations

import datetime as dt
import io
import uuid
from decimal import Decimal
from typing import Any

import fastavro
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumer.core.decision import decide_message
from consumer.core.decode import Decoder, avro_codec, avro_reader, avro_values
from consumer.core.errors import INTERNAL_ERROR
from consumer.settings import AvroNullFields
from tests.avro_cases import (
    MONEY_SCHEMA,
    RUDDERSTACK_PROPERTIES,
    RUDDERSTACK_SCHEMA,
    TYPED_SCHEMA,
    Case,
    cases,
    decimal_json,
    is_json,
    money_events,
    rudderstack_page,
    typed_track,
)
from tests.unit.test_decision import dest


def decode(schema: Any, datum: dict[str, Any], nulls: AvroNullFields = "omit") -> Any:
    parsed = fastavro.parse_schema(schema)
    body = io.BytesIO()
    fastavro.schemaless_writer(body, parsed, datum)
    decoder = Decoder(schemas_by_id={1: parsed}, avro_null_fields=nulls)
    return decoder.decode(avro_codec.frame(1, body.getvalue()))


def delivered_body(message: Any, signals: str = "enforce") -> dict[str, Any]:
    """The body the preset mapping sends for `message`; fails unless it is delivered."""
    decision = decide_message(message, (dest(signals=signals),))  # type: ignore[arg-type]
    assert decision.action == "deliver", (decision.first_reason, decision.detail)
    (delivery,) = decision.deliveries
    body: dict[str, Any] = orjson.loads(delivery.content)
    return body


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(), st.sampled_from(["omit", "keep"]))
def test_generated_schemas_decode_to_the_json_their_producers_meant(
    case: Case, nulls: AvroNullFields
) -> None:
    for event in case.events:
        message = decode(case.schema, event.datum, nulls)
        assert is_json(message)
        assert message == (event.omit if nulls == "omit" else event.keep)
        decision = decide_message(message, (dest(signals="off"),))
        assert decision.first_reason != INTERNAL_ERROR, decision
        assert decision.message_id == event.message_id
        if decision.action == "deliver":
            (delivery,) = decision.deliveries
            sent = orjson.loads(delivery.content)
            assert sent == {**message, "messageId": event.message_id}


LOGICAL_EXAMPLES = [
    ({"type": "long", "logicalType": "timestamp-millis"},
     dt.datetime(2025, 5, 3, 9, 0, tzinfo=dt.UTC), "2025-05-03T09:00:00.000Z"),
    ({"type": "long", "logicalType": "timestamp-micros"},
     dt.datetime(2025, 5, 3, 9, 0, 0, 123456, tzinfo=dt.UTC), "2025-05-03T09:00:00.123456Z"),
    ({"type": "long", "logicalType": "timestamp-micros"},
     dt.datetime(2025, 5, 3, 9, 0, 0, 123000, tzinfo=dt.UTC), "2025-05-03T09:00:00.123Z"),
    ({"type": "long", "logicalType": "local-timestamp-millis"},
     dt.datetime(2025, 5, 3, 9, 0), "2025-05-03T09:00:00.000Z"),
    ({"type": "long", "logicalType": "local-timestamp-micros"},
     dt.datetime(2025, 5, 3, 9, 0, 0, 5), "2025-05-03T09:00:00.000005Z"),
    ({"type": "int", "logicalType": "date"}, dt.date(2025, 5, 3), "2025-05-03"),
    ({"type": "int", "logicalType": "time-millis"}, dt.time(9, 30, 0, 250000), "09:30:00.250"),
    ({"type": "long", "logicalType": "time-micros"}, dt.time(9, 30, 0, 1), "09:30:00.000001"),
    ({"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2},
     Decimal("19.99"), 19.99),
    ({"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2},
     Decimal("20.00"), 20),
    ({"type": "fixed", "name": "Big", "size": 16, "logicalType": "decimal", "precision": 38,
      "scale": 0}, Decimal("12345678901234567890123456789"), 12345678901234567890123456789),
    ({"type": "string", "logicalType": "uuid"},
     uuid.UUID("6f1b0d9e-0c4a-4b8e-9a57-3f1d2a9c7e10"), "6f1b0d9e-0c4a-4b8e-9a57-3f1d2a9c7e10"),
    ("bytes", b"\x00\xffhi", "AP9oaQ=="),
    ({"type": "fixed", "name": "Four", "size": 4}, b"\x01\x02\x03\x04", "AQIDBA=="),
    ({"type": "enum", "name": "Plan", "symbols": ["free", "pro"]}, "pro", "pro"),
    ({"type": "map", "values": {"type": "int", "logicalType": "date"}},
     {"d": dt.date(2025, 1, 2)}, {"d": "2025-01-02"}),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "written", "expected"), LOGICAL_EXAMPLES)
def test_each_avro_type_becomes_its_documented_json(kind: Any, written: Any, expected: Any) -> None:
    inner = {"type": "record", "name": "P", "fields": [{"name": "value", "type": kind}]}
    schema = {
        "type": "record",
        "name": "E",
        "fields": [{"name": "type", "type": "string"}, {"name": "properties", "type": inner}],
    }
    message = decode(schema, {"type": "track", "properties": {"value": written}})
    got = message["properties"]["value"]
    assert (got, type(got)) == (expected, type(expected))


@given(st.integers(-(10**15) + 1, 10**15 - 1), st.integers(0, 15))
def test_a_decimal_of_up_to_15_digits_keeps_every_written_digit(unscaled: int, scale: int) -> None:
    written = Decimal(unscaled).scaleb(-scale)
    number = avro_values.json_value(written)
    assert number == decimal_json(unscaled, scale)
    assert Decimal(orjson.dumps(number).decode()) == written


def test_the_projects_own_schema_gets_no_conversion() -> None:
    """Its readers stay as they were: the conversion is decided once per schema."""
    assert avro_values.message_converter(avro_codec.segment_schema(), "omit") is None
    assert avro_values.message_converter(avro_codec.segment_schema(), "keep") is None


def test_rudderstacks_nulls_are_left_out_by_default_and_kept_on_request() -> None:
    datum, expected = rudderstack_page(1)
    message = decode(RUDDERSTACK_SCHEMA, datum)
    assert message == expected and is_json(message)
    assert delivered_body(message) == expected
    kept = decode(RUDDERSTACK_SCHEMA, datum, "keep")
    assert len(kept["properties"]) == len(RUDDERSTACK_PROPERTIES) == 12
    assert kept["properties"]["referrer"] is None


def test_enums_a_uuid_message_id_timestamps_and_maps_are_segments_json() -> None:
    datum, expected = typed_track(7)
    message = decode(TYPED_SCHEMA, datum)
    assert message == expected and is_json(message)
    assert delivered_body(message) == expected  # the producer's messageId, not kafka-…


def test_decimal_money_and_date_traits_pass_signals_as_numbers_and_segment_text() -> None:
    for datum, expected in money_events(3):
        message = decode(MONEY_SCHEMA, datum)
        assert message == expected and is_json(message)
        assert delivered_body(message, signals="enforce") == expected


def test_a_recursive_named_record_converts_at_every_depth() -> None:
    node = {
        "type": "record",
        "name": "Node",
        "fields": [
            {"name": "at", "type": {"type": "int", "logicalType": "date"}},
            {"name": "next", "type": ["null", "Node"], "default": None},
        ],
    }
    schema = {
        "type": "record",
        "name": "E",
        "fields": [{"name": "type", "type": "string"}, {"name": "properties", "type": node}],
    }
    chain = {"at": dt.date(2025, 1, 1), "next": {"at": dt.date(2025, 1, 2), "next": None}}
    message = decode(schema, {"type": "track", "properties": chain})
    assert message["properties"] == {"at": "2025-01-01", "next": {"at": "2025-01-02"}}


def test_a_union_of_a_record_and_a_map_keeps_the_maps_nulls() -> None:
    fields = [{"name": "a", "type": "bytes"}, {"name": "z", "type": ["null", "string"]}]
    record = {"type": "record", "name": "R", "fields": fields}
    both = ["null", record, {"type": "map", "values": ["null", "bytes"]}]
    schema = {
        "type": "record",
        "name": "E",
        "fields": [{"name": "type", "type": "string"}, {"name": "properties", "type": both}],
    }
    as_record = decode(schema, {"type": "track", "properties": {"a": b"\x02", "z": None}})
    as_map = decode(schema, {"type": "track", "properties": {"b": None, "c": b"\x01"}})
    assert as_record["properties"] == {"a": "Ag=="}
    assert as_map["properties"] == {"b": None, "c": "AQ=="}


def test_a_schema_the_compiled_reader_reads_is_converted_too() -> None:
    """No logical type: the compiled reader reads it (bytes, nested nulls), then the conversion."""
    inner = {
        "type": "record",
        "name": "P",
        "fields": [{"name": "raw", "type": "bytes"}, {"name": "gone", "type": ["null", "long"]}],
    }
    schema = fastavro.parse_schema(
        {
            "type": "record",
            "name": "E",
            "fields": [{"name": "type", "type": "string"}, {"name": "properties", "type": inner}],
        }
    )
    assert avro_reader.compile_reader(schema, lambda *_: None) is not None
    message = decode(schema, {"type": "track", "properties": {"raw": b"\xfb", "gone": None}})
    assert message == {"type": "track", "properties": {"raw": "+w=="}}
