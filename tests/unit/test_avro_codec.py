from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings

from consumer.core.decode import Decoder, avro_codec
from tests.strategies import segment_messages


def _roundtrip(message: dict[str, Any]) -> Any:
    return Decoder(value_format="avro").decode(avro_codec.encode(message))


@settings(max_examples=300, deadline=None)
@given(segment_messages())
def test_any_json_in_any_field_round_trips_exactly(message: dict[str, Any]) -> None:
    decoded = _roundtrip(message)
    assert decoded == message
    assert json.dumps(decoded, sort_keys=True) == json.dumps(message, sort_keys=True)


def test_typed_fields_travel_in_the_envelope_and_odd_ones_in_extra() -> None:
    record = avro_codec.to_record(
        {"type": "track", "userId": 7, "anonymousId": None, "event": "E", "writeKey": "w"}
    )
    assert record["event"] == "E"
    assert "userId" not in record and "anonymousId" not in record
    assert json.loads(record["extra"]) == {"userId": 7, "anonymousId": None, "writeKey": "w"}


def test_free_form_parts_are_json_text() -> None:
    record = avro_codec.to_record({"type": "identify", "traits": {"a": [1, None, 1.0]}})
    assert record["traits"] == '{"a":[1,null,1.0]}'


def test_a_message_without_a_valid_type_cannot_be_encoded() -> None:
    with pytest.raises(ValueError, match="type must be one of"):
        avro_codec.to_record({"type": "login"})


def test_confluent_frame_is_magic_byte_then_big_endian_id() -> None:
    assert avro_codec.frame(258, b"body") == b"\x00\x00\x00\x01\x02body"
