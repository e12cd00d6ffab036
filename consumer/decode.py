"""Record value bytes -> Segment message (a dict), or `DecodeError` with a reason code.

Three encodings, chosen by `value_format`; a value whose first non-blank byte is `{` is read as
JSON in every mode (neither framing can start with it):
- `confluent`: magic byte 0, 4-byte big-endian schema id, Avro body; the writer schema comes from
  the schema registry (cached by id) or, with no registry, is the local schema for every id;
- `avro`: a bare Avro body written with the local schema;
- `json`: JSON only.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import fastavro
import orjson

from consumer import avro_codec
from consumer.errors import DecodeError
from consumer.settings import DEFAULT_MAX_MESSAGE_BYTES, ValueFormat

_BLANK = b" \t\r\n"

SchemaLookup = Callable[[int], str]
"""Returns the writer schema text for a schema id; raises `DecodeError` if the id is unknown and
`Unavailable` if the registry cannot be reached."""


class Decoder:
    """Decodes record values; parses each writer schema once and keeps it by id."""

    def __init__(
        self,
        *,
        value_format: ValueFormat = "confluent",
        lookup: SchemaLookup | None = None,
        local_schema: Any = None,
        schemas_by_id: dict[int, Any] | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ) -> None:
        self._format = value_format
        self._lookup = lookup
        self._local = local_schema if local_schema is not None else avro_codec.segment_schema()
        self._by_id: dict[int, Any] = dict(schemas_by_id or {})
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
        if value.lstrip(_BLANK)[:1] == b"{":
            return _json(value)
        if self._format == "json":
            raise DecodeError("decode.not_json", "The record value is not a JSON object.")
        if self._format == "avro":
            return _avro(memoryview(value), self._local)
        if value[0] != avro_codec.MAGIC_BYTE or len(value) < avro_codec.FRAME_HEADER.size:
            raise DecodeError(
                "decode.bad_magic_byte",
                f"The record value starts with byte {value[0]:#04x}, not the Confluent magic "
                "byte 0x00 (set kafka.value_format if the topic holds another encoding).",
            )
        _, schema_id = avro_codec.FRAME_HEADER.unpack_from(value)
        body = memoryview(value)[avro_codec.FRAME_HEADER.size :]
        return _avro(body, self._writer_schema(schema_id))

    def _writer_schema(self, schema_id: int) -> Any:
        schema = self._by_id.get(schema_id)
        if schema is None:
            if self._lookup is None:
                return self._local
            text = self._lookup(schema_id)
            try:
                schema = fastavro.parse_schema(json.loads(text))
            except Exception as exc:  # any parse failure means the same thing here
                raise DecodeError(
                    "decode.bad_schema", f"Schema id {schema_id} is not a usable Avro schema: {exc}"
                ) from exc
            self._by_id[schema_id] = schema
        return schema


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


# One decoder, made once: json.loads with any option builds a new one at every call.
_strict = json.JSONDecoder(parse_constant=_no_constant).decode
# Digits as "0", every other byte as "x": a run of 19 zeros is a number orjson may not read
# exactly (it reads integers past 64 bits as floats).
_DIGITS = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x78 for byte in range(256))
_LONG_NUMBER = b"0" * 19
_MAX_FAST_BRACKETS = 500  # nesting this deep cannot reach orjson's or our depth limit


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
        brackets = raw.count(b"[") + raw.count(b"{")
        if brackets < _MAX_FAST_BRACKETS and _LONG_NUMBER not in raw.translate(_DIGITS):
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


def _what(field: str) -> str:
    return f"The Avro field {field!r}" if field else "The record value"


def _json(value: bytes) -> Any:
    return parse_json(value)


def _avro(body: memoryview, schema: Any) -> Any:
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
