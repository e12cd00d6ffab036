from __future__ import annotations

import functools
import io
import json
from collections.abc import Callable
from typing import Any

import fastavro
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consumer.core import decode
from consumer.core.decode import Decoder, avro_codec
from consumer.core.errors import DecodeError, Rejected, Unavailable
from tests.strategies import damaged, json_values, segment_messages

MESSAGE: dict[str, Any] = {"type": "track", "messageId": "m", "userId": "u", "event": "E"}
SCHEMA_TEXT = avro_codec.SCHEMA_PATH.read_text()


def framed(schema_id: int = 1, message: dict[str, Any] = MESSAGE) -> bytes:
    return avro_codec.frame(schema_id, avro_codec.encode(message))


def reason(decoder: Decoder, value: bytes | None) -> str:
    with pytest.raises(Rejected) as caught:
        decoder.decode(value)
    return caught.value.reason


def test_confluent_framing_with_a_registry_lookup_parses_each_schema_once() -> None:
    calls: list[int] = []

    def lookup(schema_id: int) -> str:
        calls.append(schema_id)
        return SCHEMA_TEXT

    decoder = Decoder(lookup=lookup)
    assert decoder.decode(framed(5)) == MESSAGE
    assert decoder.decode(framed(5)) == MESSAGE
    assert calls == [5]


def test_confluent_framing_without_a_registry_uses_the_local_schema() -> None:
    assert Decoder().decode(framed(99)) == MESSAGE


def test_raw_avro_with_the_local_schema() -> None:
    assert Decoder(value_format="avro").decode(avro_codec.encode(MESSAGE)) == MESSAGE


@pytest.mark.parametrize("value_format", ["confluent", "avro", "json"])
def test_json_is_recognised_in_every_mode(value_format: Any) -> None:
    value = b"  \n" + json.dumps(MESSAGE).encode()
    assert Decoder(value_format=value_format).decode(value) == MESSAGE


def test_unknown_schema_id_is_the_lookups_rejection() -> None:
    def lookup(schema_id: int) -> str:
        raise Rejected("decode.unknown_schema_id", "no such id")

    assert reason(Decoder(lookup=lookup), framed(3)) == "decode.unknown_schema_id"


def test_registry_outage_is_not_a_rejection() -> None:
    def lookup(schema_id: int) -> str:
        raise Unavailable("down")

    with pytest.raises(Unavailable):
        Decoder(lookup=lookup).decode(framed(3))


def test_a_schema_that_does_not_parse_is_rejected() -> None:
    assert reason(Decoder(lookup=lambda _: '{"type": "nope"}'), framed()) == "decode.bad_schema"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "decode.empty"),
        (b"", "decode.empty"),
        (b"\x01\x00\x00\x00\x01abc", "decode.bad_magic_byte"),
        (b"garbage bytes", "decode.bad_magic_byte"),
        (b"\x00\x00\x01", "decode.bad_magic_byte"),
        (framed()[:-3], "decode.truncated"),
        (framed() + b"\x00", "decode.malformed_avro"),
        (b"\x00\x00\x00\x00\x01\x40\x40", "decode.malformed_avro"),
        (b"{not json", "decode.invalid_json"),
        (b'{"a": "\xff"}', "decode.invalid_json"),
    ],
)
def test_bad_values_are_rejected_with_a_reason(value: bytes | None, expected: str) -> None:
    assert reason(Decoder(), value) == expected


def test_json_mode_rejects_binary() -> None:
    assert reason(Decoder(value_format="json"), framed()) == "decode.not_json"


def test_oversized_values_are_rejected() -> None:
    assert reason(Decoder(max_message_bytes=10), framed()) == "decode.too_large"


def test_avro_that_is_not_a_record_is_rejected() -> None:
    decoder = Decoder(schemas_by_id={1: fastavro.parse_schema("string")})
    assert reason(decoder, avro_codec.frame(1, b"\x02a")) == "decode.not_an_object"


def test_other_writer_schemas_with_typed_free_form_parts_decode() -> None:
    schema = {
        "type": "record",
        "name": "Other",
        "fields": [
            {"name": "type", "type": "string"},
            {"name": "userId", "type": "string"},
            {"name": "properties", "type": {"type": "map", "values": "long"}},
        ],
    }
    writer = fastavro.parse_schema(schema)
    body = io.BytesIO()
    record = {"type": "track", "userId": "u", "properties": {"n": 1}}
    fastavro.schemaless_writer(body, writer, record)
    decoder = Decoder(schemas_by_id={9: writer})
    assert decoder.decode(avro_codec.frame(9, body.getvalue())) == record


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b'{"type":"track","userId":"u","n":NaN}', "decode.invalid_json"),
        (b'{"type":"track","userId":"u","n":-Infinity}', "decode.invalid_json"),
        (b'{"type":"track","userId":"\xff"}', "decode.invalid_json"),
        (b'{"a":' + b"[" * 50_000 + b"]" * 50_000 + b"}", "decode.too_deep"),
    ],
)
def test_json_python_reads_but_segment_cannot_carry(value: bytes, expected: str) -> None:
    assert reason(Decoder(value_format="json"), value) == expected


@pytest.mark.parametrize(
    ("field", "text", "expected"),
    [
        ("properties", "{not json", "decode.invalid_json"),
        ("context", "NaN", "decode.invalid_json"),
        ("extra", "[" * 50_000, "decode.too_deep"),
    ],
)
def test_an_avro_json_text_field_that_is_not_json(field: str, text: str, expected: str) -> None:
    record = avro_codec.to_record({**MESSAGE, "properties": {}, "context": {}})
    record[field] = text
    out = io.BytesIO()
    fastavro.schemaless_writer(out, avro_codec.segment_schema(), record)
    assert reason(Decoder(), avro_codec.frame(1, out.getvalue())) == expected


# -- the compiled Avro reader against fastavro + from_record, the reader before it ----------


def _outcome(read: Callable[[], Any]) -> tuple[str, str]:
    """A value (its repr tells 1 from 1.0 and True, and shows key order) or a reason code."""
    try:
        return "value", repr(read())
    except Rejected as exc:
        return "reason", exc.reason


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_segment_records_decode_as_fastavro_and_from_record_read_them(data: st.DataObject) -> None:
    schema = avro_codec.segment_schema()
    body = avro_codec.encode(data.draw(segment_messages()))
    before = _outcome(lambda: decode._fastavro(schema, body, 0, decode.parse_json))
    assert _outcome(lambda: Decoder(value_format="avro").decode(body)) == before
    value = data.draw(damaged(avro_codec.frame(1, body)))
    before = _outcome(lambda: decode._fastavro(schema, value, 5, decode.parse_json))
    assert _outcome(lambda: Decoder().decode(value)) == before


# -- the fast reader (orjson) against the standard library's, the reader before it ---------


def _old(text: str | bytes) -> tuple[str, Any]:
    """What the strict standard-library reader alone made of `text`: a value or a reason."""
    try:
        return "value", decode._strict(text if isinstance(text, str) else text.decode())
    except RecursionError:
        return "reason", "decode.too_deep"
    except (UnicodeDecodeError, ValueError):
        return "reason", "decode.invalid_json"


def _new(text: str | bytes) -> tuple[str, Any]:
    try:
        return "value", decode.parse_json(text)
    except Rejected as exc:
        return "reason", exc.reason


def _same(text: str | bytes) -> None:
    old, new = _old(text), _new(text)
    # json.dumps tells 1 from 1.0, -0.0 from 0.0 and shows lone surrogates: an exact match.
    assert (old[0], json.dumps(old[1])) == (new[0], json.dumps(new[1])), text


@settings(max_examples=500, deadline=None)
@given(json_values, st.sampled_from([{}, {"separators": (",", ":")}, {"indent": 1}]))
def test_the_fast_reader_reads_json_as_the_standard_library_does(
    value: Any, options: dict[str, Any]
) -> None:
    for ascii_only in (True, False):
        text = json.dumps(value, ensure_ascii=ascii_only, **options)
        _same(text)
        if ascii_only or "\\ud" not in json.dumps(value):  # lone surrogates cannot be UTF-8
            _same(text.encode())


@settings(max_examples=500, deadline=None)
@given(
    st.text(alphabet='{}[],:"\\ u0123456789eE.-+tfnrlsaN\t\n\x00\x1f\x7f\xe9\ud800', max_size=30)
)
def test_the_fast_reader_refuses_what_the_standard_library_refuses(text: str) -> None:
    _same(text)


@pytest.mark.parametrize(
    "text",
    [
        "12345678901234567890123",  # past 64 bits: orjson would read a float
        "-9223372036854775809",
        "18446744073709551615",
        '{"a":[1e400, 1e-400, -0, -0.0, 1E2]}',
        '"\\ud800"',
        '"\\ud83d\\ude00"',
        "\ufeff{}",
        b'{"a":"\xff"}',
        b'{"a":"\xed\xa0\x80"}',  # a surrogate written as UTF-8
        "[" * 900 + "]" * 900,  # deep: the standard library decides
        "[" * 5000 + "]" * 5000,
        '{"a":1,"a":2}',
        "NaN",
        "[Infinity]",
        "",
        " ",
    ],
)
def test_the_fast_reader_on_edge_cases(text: str | bytes) -> None:
    _same(text)


def _decode_as_before(decoder: Decoder, value: bytes | None) -> Any:
    """`Decoder.decode` before a Confluent frame was tested for first, over the same readers.
    The empty and too-large checks come before the dispatch and did not change: the decoder's."""
    if not value or len(value) > decoder._max:
        return decoder.decode(value)
    first = value[0]
    if first == ord("{") or (first in b" \t\r\n" and value.lstrip(b" \t\r\n")[:1] == b"{"):
        return decode.parse_json(value)
    if decoder._format == "json":
        raise DecodeError("decode.not_json", "The record value is not a JSON object.")
    if decoder._format == "avro":
        return decoder._local(value, 0, decode._field_loads(value))
    if first != 0 or len(value) < 5:
        raise DecodeError(
            "decode.bad_magic_byte",
            f"The record value starts with byte {first:#04x}, not the Confluent magic "
            "byte 0x00 (set kafka.value_format if the topic holds another encoding).",
        )
    schema_id = int.from_bytes(value[1:5])
    read = decoder._by_id.get(schema_id) or decoder._new_reader(schema_id)
    return read(value, 5, decode._field_loads(value))


def _known_ids(schema_id: int) -> str:
    if schema_id > 2:
        raise Rejected("decode.unknown_schema_id", "no such id")
    return SCHEMA_TEXT


def _either(read: Callable[[], Any]) -> tuple[str, str]:
    try:
        return "value", repr(read())
    except Rejected as exc:
        return exc.reason, str(exc)


@st.composite
def _values(draw: st.DrawFn) -> bytes | None:
    """Values of every kind the dispatch tells apart: frames (of ids 0-3), bare Avro, JSON,
    blanks, other first bytes, short and damaged ones."""
    message = draw(segment_messages())
    body = avro_codec.encode(message)
    whole = draw(
        st.sampled_from(
            [
                avro_codec.frame(draw(st.integers(0, 3)), body),
                body,
                b" \n" + json.dumps(message).encode(),
                json.dumps(message).encode(),
            ]
        )
    )
    return draw(
        st.one_of(
            st.just(whole),
            damaged(whole),
            st.none(),
            st.binary(max_size=8),
            st.sampled_from([b"\x00", b"\x00\x00\x00\x00", b" ", b"\t{", b"{"]),
        )
    )


@functools.cache
def _decoders(value_format: Any, registry: bool, listed: bool, max_bytes: int) -> list[Decoder]:
    """Two alike (one for each side), built once: building one compiles its readers."""
    return [
        Decoder(
            value_format=value_format,
            lookup=_known_ids if registry else None,
            schemas_by_id={1: avro_codec.segment_schema()} if listed else None,
            max_message_bytes=max_bytes,
        )
        for _ in range(2)
    ]


@settings(max_examples=200, deadline=None)
@given(
    _values(),
    st.sampled_from(["confluent", "avro", "json"]),
    st.booleans(),
    st.booleans(),
    st.sampled_from([40, 1_000_000]),
)
def test_values_are_decoded_as_before(
    value: bytes | None, value_format: Any, registry: bool, listed: bool, max_bytes: int
) -> None:
    now, before = _decoders(value_format, registry, listed, max_bytes)
    assert _either(lambda: now.decode(value)) == _either(lambda: _decode_as_before(before, value))
