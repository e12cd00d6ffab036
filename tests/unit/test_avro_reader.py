"""The compiled Avro reader against fastavro + `from_record`, the reader it stands in for.

Two properties, on generated schemas and values of the compiled subset, written by fastavro and
then mutated: the compiled reader returns exactly (types and key order too) what fastavro and
`from_record` return, or hands the body to its fallback; and the decoder's outcome (value or
reason code) is fastavro's, its value converted to JSON values (`avro_values`).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import fastavro
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from consumer.core import decode
from consumer.core.decode import Decoder, avro_codec, avro_reader, avro_values
from consumer.core.errors import Rejected
from tests.strategies import damaged, json_values, segment_messages

FALLBACK = "fallback"
FIELD_NAMES = ("type", "userId", "a", "b", "n", "properties", "context", "extra")
PRIMITIVES = ("null", "boolean", "int", "long", "float", "double", "bytes", "string")
SYMBOLS = ("null", "true", "track", "a", "b", "c")  # the first two read as JSON too
JSON_FIELDS = avro_codec.FREEFORM_FIELDS | {avro_codec.EXTRA_FIELD}


def outcome(read: Callable[[], Any]) -> tuple[str, str]:
    """A value (its repr tells 1 from 1.0 and True, -0.0 from 0.0, and shows key order) or a
    reason code."""
    try:
        return "value", repr(read())
    except Rejected as exc:
        return "reason", exc.reason


class Refused(Exception):
    """Raised by the compiled reader's fallback in these tests."""


def refuse(value: bytes, start: int, loads: avro_reader.Loads) -> Any:
    raise Refused


def compiled(schema: Any, value: bytes) -> tuple[str, str]:
    """The compiled reader's outcome, or FALLBACK if it handed the body on."""
    reader = avro_reader.compile_reader(schema, refuse)
    assert reader is not None
    try:
        return outcome(lambda: reader(value, 5, decode._field_loads(value)))
    except Refused:
        return FALLBACK, ""


def reference(schema: Any, value: bytes) -> tuple[str, str]:
    """fastavro and `from_record`: what the decoder did before it had compiled readers."""
    return outcome(lambda: decode._fastavro(schema, value, 5, decode.parse_json))


def converted(schema: Any, value: bytes) -> tuple[str, str]:
    """`reference`, then the conversion to JSON values: what the decoder returns."""
    convert = avro_values.message_converter(schema, "omit") or (lambda message: message)
    return outcome(lambda: convert(decode._fastavro(schema, value, 5, decode.parse_json)))


# -- schemas of the compiled subset, and values for them --------------------------------------

item_types = st.sampled_from([p for p in PRIMITIVES if p != "null"]) | st.builds(
    lambda symbols: {"type": "enum", "symbols": symbols},
    st.lists(st.sampled_from(SYMBOLS), min_size=1, unique=True),
)


def _unions(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[list[Any]]:
    """A null and another type, in either order, or primitives of different types."""
    nullable = inner.filter(lambda t: not isinstance(t, list) and t != "null")
    return st.builds(
        lambda t, first: ["null", t] if first else [t, "null"], nullable, st.booleans()
    )


def _extend(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    fields = st.lists(st.tuples(st.sampled_from(FIELD_NAMES), inner), unique_by=lambda f: f[0])
    return (
        st.builds(lambda fs: {"type": "record", "fields": fs}, fields)
        | st.builds(lambda t: {"type": "array", "items": t}, item_types)
        | st.builds(lambda t: {"type": "map", "values": t}, item_types)
        | _unions(inner)
        | st.lists(st.sampled_from(PRIMITIVES), min_size=2, max_size=4, unique=True)
    )


types = st.recursive(st.sampled_from(PRIMITIVES) | item_types, _extend, max_leaves=8)
top_fields = st.lists(st.tuples(st.sampled_from(FIELD_NAMES), types), unique_by=lambda f: f[0])


def _named(schema: Any, names: list[int]) -> Any:
    """The schema in Avro's own form: records and enums named (R1, E2, ...), fields as dicts."""
    if isinstance(schema, list):
        return [_named(branch, names) for branch in schema]
    if not isinstance(schema, dict):
        return schema
    names.append(len(names) + 1)
    number = names[-1]
    if schema["type"] == "record":
        fields = [{"name": name, "type": _named(t, names)} for name, t in schema["fields"]]
        return {"type": "record", "name": f"R{number}", "fields": fields}
    if schema["type"] == "enum":
        return {**schema, "name": f"E{number}"}
    return {key: _named(value, names) for key, value in schema.items()}


json_texts = json_values.map(json.dumps) | st.sampled_from(["{", "NaN", "[1] x", '"\\ud800"'])


def values_for(schema: Any, field: str = "") -> st.SearchStrategy[Any]:
    """Values fastavro writes with `schema`; a JSON-text field's strings are mostly JSON."""
    if isinstance(schema, list):
        return st.one_of([values_for(branch, field) for branch in schema])
    kind = schema if isinstance(schema, str) else schema["type"]
    simple: dict[str, st.SearchStrategy[Any]] = {
        "null": st.none(),
        "boolean": st.booleans(),
        "int": st.integers(-(2**31), 2**31 - 1),
        "long": st.integers(-(2**63), 2**63 - 1),
        "float": st.floats(width=32),
        "double": st.floats(),
        "bytes": st.binary(max_size=80),
        "string": json_texts | st.text() if field else st.text(max_size=80),
    }
    if kind in simple:
        return simple[kind]
    if kind == "enum":
        return st.sampled_from(schema["symbols"])
    if kind == "array":
        return st.lists(values_for(schema["items"]), max_size=3)
    if kind == "map":
        return st.dictionaries(st.text(max_size=5), values_for(schema["values"]), max_size=3)
    fields = {f["name"]: values_for(f["type"]) for f in schema["fields"]}
    return st.fixed_dictionaries(fields)


@st.composite
def written(draw: st.DrawFn) -> tuple[Any, bytes]:
    """A parsed schema of the compiled subset, and a Confluent-framed value written with it."""
    schema = _named({"type": "record", "fields": draw(top_fields)}, [])
    fields = {
        f["name"]: values_for(f["type"], f["name"] if f["name"] in JSON_FIELDS else "")
        for f in schema["fields"]
    }
    record = draw(st.fixed_dictionaries(fields))
    parsed = fastavro.parse_schema(schema)
    body = io.BytesIO()
    try:
        fastavro.schemaless_writer(body, parsed, record)
    except (ValueError, TypeError, OverflowError):  # a union's branches can refuse a value
        assume(False)
    return parsed, avro_codec.frame(1, body.getvalue())


# -- the properties ---------------------------------------------------------------------------

PROPERTY = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(written())
def test_the_compiled_reader_reads_what_fastavro_wrote_as_fastavro_does(
    case: tuple[Any, bytes],
) -> None:
    schema, value = case
    expected, got = reference(schema, value), compiled(schema, value)
    # Only a JSON text orjson refuses (not JSON, or a lone surrogate) is handed on.
    has_json_text = any(f["name"] in JSON_FIELDS for f in schema["fields"])
    assert got == expected or (got == (FALLBACK, "") and has_json_text), value
    assert outcome(lambda: Decoder(schemas_by_id={1: schema}).decode(value)) == converted(
        schema, value
    )


@PROPERTY
@given(segment_messages())
def test_segment_messages_are_read_without_fastavro(message: dict[str, Any]) -> None:
    schema = avro_codec.segment_schema()
    value = avro_codec.frame(1, avro_codec.encode(message))
    assert compiled(schema, value) == reference(schema, value)


@PROPERTY
@given(st.data())
def test_on_damaged_bodies_both_agree_or_the_fallback_decides(data: st.DataObject) -> None:
    schema, value = data.draw(written())
    value = data.draw(damaged(value))
    expected, got = reference(schema, value), compiled(schema, value)
    assert got in (expected, (FALLBACK, "")), value
    assert outcome(lambda: Decoder(schemas_by_id={1: schema}).decode(value)) == converted(
        schema, value
    )


def _record(*fields: tuple[str, Any]) -> dict[str, Any]:
    return {"type": "record", "name": "R", "fields": [{"name": n, "type": t} for n, t in fields]}


def _nested_arrays(depth: int) -> Any:
    return "long" if depth == 0 else {"type": "array", "items": _nested_arrays(depth - 1)}


ENUM = {"type": "enum", "name": "E", "symbols": ["x", "y"]}


@pytest.mark.parametrize(
    ("schema", "body"),
    [
        ("string", b"\x02s"),  # not a record: decode.not_an_object, as before
        (_record(("a", {"type": "fixed", "name": "X", "size": 2})), b"ab"),
        (_record(("a", {"type": "long", "logicalType": "timestamp-millis"})), b"\x02"),
        (_record(("a", ENUM), ("b", "E")), b"\x00\x02"),  # a named reference
        (_record(("a", "long"), ("a", ["null", "long"])), b"\x06\x00"),  # the null wins
        (_record(("a", _nested_arrays(12))), b"\x02" * 12 + b"\x00" * 13),  # past Python's limits
    ],
    ids=["not-a-record", "fixed", "logical-type", "named-reference", "duplicate-field", "deep"],
)
def test_a_schema_outside_the_subset_is_read_by_fastavro(schema: Any, body: bytes) -> None:
    parsed = fastavro.parse_schema(schema)
    assert avro_reader.compile_reader(parsed, refuse) is None
    value = avro_codec.frame(1, body)
    decoded = outcome(lambda: Decoder(schemas_by_id={1: parsed}).decode(value))
    assert decoded == converted(parsed, value)
    assert decoded[0] == ("reason" if schema == "string" else "value")


@pytest.mark.parametrize(
    ("fields", "body"),
    [
        ((("b", "boolean"),), b"\x02"),  # any byte but 0 is true
        ((("s", "string"),), b"\x81\x00"),  # a length of -1: fastavro reads to the end
        ((("s", "string"), ("n", "long")), b"\x01\x04"),
        ((("n", "long"),), b"\x80\x00"),  # a varint in more bytes than needed
        ((("n", "long"), ("m", "long"), ("k", "long")), b"\x80\x80\x01\x02"),  # 3 bytes
        ((("n", "long"),), b"\x80" * 9 + b"\x02"),  # 65 bits: fastavro drops the top one
        ((("n", "long"),), b"\xff" * 10 + b"\x01"),  # 11 bytes
        ((("u", ["null", "long"]),), b"\x80\x00"),  # a union index in two bytes
        ((("u", ["null", "long"]),), b"\x01\x04"),  # -1: fastavro takes the last branch
        ((("e", ENUM),), b"\x01"),  # -1: the last symbol, in fastavro and here
        ((("e", ENUM),), b"\x04"),  # past the symbols
        ((("a", {"type": "array", "items": "null"}),), b"\x06\x00"),  # 3 nulls in no bytes
        ((("a", {"type": "array", "items": "long"}),), b"\x05\x06\x02\x04\x06\x00"),  # -3 + size
        ((("m", {"type": "map", "values": "long"}),), b"\x02\x02k\x02\x02\x02k\x04\x00"),  # k twice
        ((("properties", ["null", "string"]),), b"\x02\x06\xff\xfe{"),  # not UTF-8
        ((("properties", ["null", "string"]),), b'\x02\x10"\\ud800"'),  # orjson refuses it
        ((("properties", "string"),), b"\x28" + b"1" * 20),  # 20 digits: the standard library
    ],
)
def test_bodies_fastavro_reads_its_own_way_decode_as_before(
    fields: tuple[tuple[str, Any], ...], body: bytes
) -> None:
    schema = fastavro.parse_schema(_record(*fields))
    value = avro_codec.frame(1, body)
    decoded = outcome(lambda: Decoder(schemas_by_id={1: schema}).decode(value))
    assert decoded == converted(schema, value)
    assert compiled(schema, value) in (reference(schema, value), (FALLBACK, ""))
