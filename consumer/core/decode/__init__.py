"""Record value bytes -> Segment message (a dict), or `DecodeError` with a reason code.

Three encodings, chosen by `value_format`; a value whose first non-blank byte is `{` is read as
JSON in every mode (neither framing can start with it):
- `confluent`: magic byte 0, 4-byte big-endian schema id, Avro body; the writer schema comes from
  the schema registry (cached by id) or, with no registry, is the local schema for every id;
- `avro`: a bare Avro body written with the local schema;
- `json`: JSON only.

Whichever reader reads an Avro body, its values become JSON values (`avro_values`: logical
types, bytes, nested records' nulls), so what leaves the decoder is JSON only.
"""

from __future__ import annotations

import functools
import io
import json
from collections.abc import Callable
from typing import Any

import fastavro
import orjson

from consumer.core.decode import avro_codec, avro_reader, avro_values
from consumer.core.errors import DecodeError
from consumer.settings import DEFAULT_MAX_MESSAGE_BYTES, AvroNullFields, ValueFormat

_BLANK = b" \t\r\n"
_OPEN_BRACE = ord("{")
_MAGIC_BYTE = avro_codec.MAGIC_BYTE
_HEADER = avro_codec.FRAME_HEADER
_HEADER_SIZE = _HEADER.size

SchemaLookup = Callable[[int], str]
"""Returns the writer schema text for a schema id; raises `DecodeError` if the id is unknown and
`Unavailable` if the registry cannot be reached."""


def _reader(schema: Any, nulls: AvroNullFields = "omit") -> avro_reader.Reader:
    """The reader of bodies written with `schema`: compiled when it can be (fastavro is the
    fallback), else fastavro; then, if the schema has values JSON does not (a logical type,
    bytes, a nested record), the conversion to JSON values, whichever of the two read it."""
    slow = functools.partial(_fastavro, schema)
    read = avro_reader.compile_reader(schema, slow) or slow
    convert = avro_values.message_converter(schema, nulls)
    if convert is None:
        return read

    def read_json(value: bytes, start: int, loads: avro_reader.Loads) -> Any:
        return convert(read(value, start, loads))

    return read_json


class Decoder:
    """Decodes record values; parses each writer schema once and keeps its reader by id."""

    def __init__(
        self,
        *,
        value_format: ValueFormat = "confluent",
        lookup: SchemaLookup | None = None,
        local_schema: Any = None,
        schemas_by_id: dict[int, Any] | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        avro_null_fields: AvroNullFields = "omit",
    ) -> None:
        self._format = value_format
        self._lookup = lookup
        self._nulls = avro_null_fields
        self._local = _reader(
            local_schema if local_schema is not None else avro_codec.segment_schema(),
            avro_null_fields,
        )
        self._by_id = {
            key: _reader(schema, avro_null_fields) for key, schema in (schemas_by_id or {}).items()
        }
        # The reader of an id not in `_by_id`, if it is known without asking (no registry).
        self._unlisted = self._local if lookup is None else None
        self._max = max_message_bytes

    def decode(self, value: bytes | None) -> Any:
        """The decoded JSON-like value (usually a dict; the message checks come next)."""
        if not value:
            raise DecodeError("decode.empty", "The record has no value.")
        if len(value) > self._max:
            raise DecodeError(
                "decode.too_large",
                f"The record value has {len(value)} bytes, over max_message_bytes={self._max}.",
            )
        first = value[0]
        # A Confluent frame first, the usual value: it starts neither with `{` nor a blank.
        if first == _MAGIC_BYTE and self._format == "confluent" and len(value) >= _HEADER_SIZE:
            _, schema_id = _HEADER.unpack_from(value)
            read = self._by_id.get(schema_id, self._unlisted) or self._new_reader(schema_id)
            return read(value, _HEADER_SIZE, _field_loads(value))
        if first == _OPEN_BRACE or (first in _BLANK and value.lstrip(_BLANK)[:1] == b"{"):
            return _json(value)
        if self._format == "json":
            raise DecodeError("decode.not_json", "The record value is not a JSON object.")
        if self._format == "avro":
            return self._local(value, 0, _field_loads(value))
        raise DecodeError(
            "decode.bad_magic_byte",
            f"The record value starts with byte {first:#04x}, not the Confluent magic "
            "byte 0x00 (set kafka.value_format if the topic holds another encoding).",
        )

    def _new_reader(self, schema_id: int) -> avro_reader.Reader:
        """The reader of a schema id not seen yet: the registry's schema's, or the local one."""
        if self._lookup is None:
            return self._local
        text = self._lookup(schema_id)
        try:
            read = _reader(fastavro.parse_schema(json.loads(text)), self._nulls)
        except Exception as exc:  # any parse failure means the same thing here
            raise DecodeError(
                "decode.bad_schema", f"Schema id {schema_id} is not a usable Avro schema: {exc}"
            ) from exc
        self._by_id[schema_id] = read
        return read


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


# One decoder, made once: json.loads with any option builds a new one at every call.
_strict = json.JSONDecoder(parse_constant=_no_constant).decode
# Digits as "0", every other byte as "x": a run of 19 zeros is a number orjson may not read
# exactly (it reads integers past 64 bits as floats).
_DIGITS = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x78 for byte in range(256))
_LONG_DIGITS = 19
_LONG_NUMBER = b"0" * _LONG_DIGITS
_MAX_FAST_BRACKETS = 500  # nesting this deep cannot reach orjson's or our depth limit
_MAX_FAST_VALUE = 2 * _MAX_FAST_BRACKETS  # JSON in a shorter value is nested less deeply


def parse_json(text: str | bytes, field: str = "") -> Any:
    """Strict JSON (UTF-8): NaN and Infinity (which Python's reader takes) are refused, as is
    nesting deeper than the interpreter can walk, each as a `DecodeError` with its own reason
    code. `field` names the Avro field the text came from ('' for the record value).

    orjson reads it when it can only read it as the standard library does (about twice as
    fast): no number of 19 digits or more, fewer than 500 brackets. Whatever orjson refuses
    (a lone surrogate escape, `1e400`, bad JSON) the standard library reads or refuses, and
    says why.
    """
    try:
        raw = text.encode() if isinstance(text, str) else text
        size = len(raw)  # each test is skipped when the text is too short to fail it
        if (
            size < _MAX_FAST_BRACKETS or raw.count(b"[") + raw.count(b"{") < _MAX_FAST_BRACKETS
        ) and (size < _LONG_DIGITS or raw.translate(_DIGITS).find(_LONG_NUMBER) < 0):
            return orjson.loads(raw)
    except (UnicodeEncodeError, orjson.JSONDecodeError):
        pass
    try:
        return _strict(text if isinstance(text, str) else text.decode())
    except RecursionError as exc:
        raise DecodeError(
            "decode.too_deep", f"{_what(field)} is nested too deeply to read."
        ) from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise DecodeError(
            "decode.invalid_json", f"{_what(field)} is not valid JSON: {exc}"
        ) from exc


def _field_loads(value: bytes) -> avro_reader.Loads:
    """What reads the JSON-text fields of an Avro record value for the compiled reader: orjson,
    when the value (and so each field) has no run of 19 digits and is too short to hold JSON
    nested 500 deep, as orjson then reads whatever it accepts as `parse_json` would; else
    `parse_json`. One test for the value instead of one a field; an error is never the
    record's, as the fallback then reads the body again."""
    if len(value) < _MAX_FAST_VALUE and value.translate(_DIGITS).find(_LONG_NUMBER) < 0:
        return orjson.loads
    return parse_json


def _what(field: str) -> str:
    return f"The Avro field {field!r}" if field else "The record value"


def _json(value: bytes) -> Any:
    return parse_json(value)


def _fastavro(schema: Any, value: bytes, start: int, _loads: avro_reader.Loads) -> Any:
    """The message in the Avro body from `start` on, read by fastavro and `from_record`, and
    the JSON-text fields by `parse_json`, whose error names the field."""
    body = memoryview(value)[start:]
    stream = io.BytesIO(body)
    try:
        record = fastavro.schemaless_reader(stream, schema, None)
    except (EOFError, StopIteration) as exc:
        raise DecodeError("decode.truncated", "The Avro body ends before the record does.") from exc
    except Exception as exc:  # fastavro signals bad bytes with assorted built-in errors
        raise DecodeError("decode.malformed_avro", f"The Avro body is malformed: {exc!r}") from exc
    if stream.tell() != len(body):
        raise DecodeError(
            "decode.malformed_avro",
            f"The Avro body has {len(body) - stream.tell()} bytes after the record.",
        )
    if not isinstance(record, dict):
        raise DecodeError("decode.not_an_object", "The Avro value is not a record.")
    return avro_codec.from_record(record, parse_json)
