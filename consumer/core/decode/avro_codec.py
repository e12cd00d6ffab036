"""Segment messages <-> Avro records of `schemas/segment-message.avsc`, and Confluent framing.

The envelope is typed; `properties`, `traits`, `context`, `integrations` and `extra` are JSON
text, so any JSON value (big integers, floats, nulls, unicode, nesting) comes back exactly.
`extra` carries every other top-level key, and any envelope key whose value is not of its typed
form (an explicit `null`, a numeric `userId`), so `from_record(to_record(m)) == m` for every
JSON object `m` with a valid `type`.
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Callable, Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import fastavro

SCHEMA_NAME = "segment-message.avsc"


def _schema_path() -> Path:
    """Installed, `schemas/` is the package `consumer.schemas`; in the source tree (where
    `consumer` is imported from its folder) it is the top-level `schemas/` folder."""
    try:
        return Path(str(resources.files("consumer.schemas") / SCHEMA_NAME))
    except ModuleNotFoundError:
        return Path(__file__).resolve().parents[3] / "schemas" / SCHEMA_NAME


SCHEMA_PATH = _schema_path()
MAGIC_BYTE = 0
FRAME_HEADER = struct.Struct(">bI")
FREEFORM_FIELDS = frozenset({"properties", "traits", "context", "integrations"})
EXTRA_FIELD = "extra"
_STRING_FIELDS = frozenset(
    {
        "messageId", "userId", "anonymousId", "event", "name", "category", "groupId",
        "previousId", "timestamp", "sentAt", "receivedAt", "originalTimestamp", "channel",
    }
)  # fmt: skip
_TYPES = frozenset({"identify", "track", "page", "screen", "group", "alias"})
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1
_compact = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


@cache
def segment_schema(path: Path = SCHEMA_PATH) -> Any:
    """The parsed Segment schema (parsed once: fastavro parsing is costly)."""
    return fastavro.parse_schema(json.loads(path.read_text()))


def _typed(key: str, value: Any) -> bool:
    """Whether `value` fits the envelope field `key` (else it travels in `extra`)."""
    if key in _STRING_FIELDS:
        return isinstance(value, str)
    if key in FREEFORM_FIELDS:
        return isinstance(value, dict)
    if key == "version":
        return type(value) is int and _LONG_MIN <= value <= _LONG_MAX
    return key == "type" and isinstance(value, str) and value in _TYPES


def to_record(message: Mapping[str, Any]) -> dict[str, Any]:
    """The Avro record for a Segment message; raises ValueError without a valid `type`."""
    if not _typed("type", message.get("type")):
        raise ValueError(f"type must be one of {sorted(_TYPES)}, not {message.get('type')!r}")
    record: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in message.items():
        if not _typed(key, value):
            extra[key] = value
        elif key in FREEFORM_FIELDS:
            record[key] = _compact(value)
        else:
            record[key] = value
    if extra:
        record[EXTRA_FIELD] = _compact(extra)
    return record


def _parse_field(text: str, _field: str) -> Any:
    """Python's own JSON reader, for records this module wrote itself."""
    return json.loads(text)


def from_record(
    record: Mapping[str, Any], parse: Callable[[str, str], Any] = _parse_field
) -> dict[str, Any]:
    """The Segment message for a decoded record (ours, or any record shaped like one).

    `parse(text, field)` reads the JSON-text fields; the decoder passes its strict reader, so
    a field that is not JSON is that record's error, not the process's.
    """
    message: dict[str, Any] = {}
    extra: Any = None
    for key, value in record.items():
        if value is None:
            continue
        if key == EXTRA_FIELD and isinstance(value, str):
            extra = parse(value, key)
        elif key in FREEFORM_FIELDS and isinstance(value, str):
            message[key] = parse(value, key)
        else:
            message[key] = value
    if isinstance(extra, dict):
        message.update(extra)
    return message


def encode(message: Mapping[str, Any], schema: Any = None) -> bytes:
    """Avro body (no framing) of a Segment message."""
    out = io.BytesIO()
    fastavro.schemaless_writer(out, schema or segment_schema(), to_record(message))
    return out.getvalue()


def frame(schema_id: int, body: bytes) -> bytes:
    """Confluent wire format: magic byte 0, 4-byte big-endian schema id, Avro body."""
    return FRAME_HEADER.pack(MAGIC_BYTE, schema_id) + body
