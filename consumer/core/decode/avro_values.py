"""Avro values -> the Segment JSON values their producers meant, for any writer schema.

fastavro reads logical types as Python objects (`datetime`, `date`, `time`, `Decimal`, `UUID`)
and `bytes`/`fixed` as `bytes`; both readers give a nested record every field, an absent one
as None. None of those is what Segment carries, so one conversion, built once per writer
schema, turns them into JSON values at every depth:

- `timestamp-millis`/`-micros`, `local-timestamp-*`: ISO-8601 text as Segment writes it,
  `2025-05-03T09:00:00.000Z` (milliseconds; microseconds only when a `-micros` value has
  them); a local timestamp has no zone and is written as if UTC;
- `date`: `2025-05-03`; `time-millis`/`-micros`: `09:30:00.000` (the same precision rule);
- `decimal`: a JSON number, an integer when its value is whole (exact at any size), else the
  nearest double, which keeps every written digit of up to 15 significant ones (money's) and
  is the number JavaScript, and so Segment's triggers, mappings and Signals, would read;
- `uuid`: its text; `bytes` and `fixed`: standard base64 text (RFC 4648, padded);
- enums (already their symbol), maps and records: text and objects; a null field of a nested
  record is left out (`omit`, Segment's JSON for producers whose schema gives every field a
  null), or kept (`keep`).

A schema whose values are all JSON already (the project's own: no logical type, no bytes, no
nested record) gets no conversion at all, so its readers stay as fast as they are.
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from consumer.settings import AvroNullFields as NullFields

Convert = Callable[[Any], Any]

_SCALARS = frozenset({"null", "boolean", "int", "long", "float", "double", "string", "enum"})


def _timestamp(value: dt.datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    spec = "microseconds" if value.microsecond % 1000 else "milliseconds"
    return value.isoformat(timespec=spec) + "Z"


def _time(value: dt.time) -> str:
    return value.isoformat(timespec="microseconds" if value.microsecond % 1000 else "milliseconds")


def _decimal(value: Decimal) -> int | float:
    whole = value.to_integral_value()
    return int(whole) if whole == value else float(value)


def _bytes(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


# By exact type: `datetime` is a subclass of `date`, so the order of tests would matter.
_LEAVES: dict[type, Convert] = {
    dt.datetime: _timestamp,
    dt.date: dt.date.isoformat,
    dt.time: _time,
    Decimal: _decimal,
    uuid.UUID: str,
    bytes: _bytes,
}


def json_value(value: Any) -> Any:
    """A scalar Avro value as JSON: a JSON value is returned as it is."""
    convert = _LEAVES.get(type(value))
    return value if convert is None else convert(value)


def message_converter(schema: Any, nulls: NullFields) -> Callable[[dict[str, Any]], Any] | None:
    """What turns a decoded message of the parsed record `schema` into JSON values (in place,
    at the top level), or None if its values are JSON already. The message's own top-level
    nulls are absent already (the readers skip them)."""
    if not isinstance(schema, dict) or schema.get("type") != "record":
        return None
    builder = _Builder(schema.get("__named_schemas", {}), nulls)
    fields = [
        (field["name"], convert)
        for field in schema["fields"]
        if (convert := builder.node(field["type"])) is not None
    ]
    if not fields:
        return None

    def convert_message(message: dict[str, Any]) -> Any:
        for name, convert in fields:
            value = message.get(name)
            if value is not None:
                message[name] = convert(value)
        return message

    return convert_message


class _Builder:
    """The conversion of each part of a schema; None where every value is JSON already."""

    def __init__(self, named: Mapping[str, Any], nulls: NullFields) -> None:
        self.named = named
        self.omit = nulls == "omit"
        # A named record being built, by name: a recursive one refers to itself through this.
        self.records: dict[str, Convert] = {}

    def node(self, schema: Any) -> Convert | None:
        if isinstance(schema, str):
            if schema in _SCALARS:
                return None
            if schema == "bytes":
                return json_value
            return self.node(self.named[schema])
        if isinstance(schema, list):
            return self.union(schema)
        kind = schema["type"]
        if not isinstance(kind, str):  # {"type": {"type": "array", ...}}
            return self.node(kind)
        if "logicalType" in schema or kind in ("bytes", "fixed"):
            return json_value
        if kind in _SCALARS:
            return None
        if kind == "array":
            return self.array(schema["items"])
        if kind == "map":
            return self.map(schema["values"])
        if kind == "record":
            return self.record(schema)
        return self.node(kind)  # {"type": "string"} and the like

    def array(self, items: Any) -> Convert | None:
        convert = self.node(items)
        if convert is None:
            return None
        return lambda value: [convert(item) for item in value] if type(value) is list else value

    def map(self, values: Any) -> Convert | None:
        convert = self.node(values)
        if convert is None:
            return None
        return lambda value: (
            {k: convert(v) for k, v in value.items()} if type(value) is dict else value
        )

    def record(self, schema: dict[str, Any]) -> Convert | None:
        name = schema.get("name", "")
        if name in self.records:
            return self.records[name]
        fields: list[tuple[str, Convert | None]] = []

        def convert(value: Any) -> Any:
            if type(value) is not dict:
                return value
            out: dict[str, Any] = {}
            for key, item in value.items():
                if item is None:
                    if not omit:
                        out[key] = None
                    continue
                field = converts.get(key)
                out[key] = item if field is None else field(item)
            return out

        omit = self.omit
        self.records[name] = convert
        for field in schema["fields"]:
            fields.append((field["name"], self.node(field["type"])))
        converts = {key: field for key, field in fields if field is not None}
        if not converts and not (omit and any(_nullable(f["type"]) for f in schema["fields"])):
            del self.records[name]
            return None
        return convert

    def union(self, branches: list[Any]) -> Convert | None:
        present = [branch for branch in branches if branch != "null"]
        converts = [self.node(branch) for branch in present]
        if not any(converts):
            return None
        if len(present) == 1:
            return converts[0]
        # Branches that both hold objects (a record and a map, two records) are told apart by
        # the keys a record has (both readers give every field); any other value converts by
        # its own type.
        records = [
            (frozenset(f["name"] for f in part["fields"]), self.node(branch))
            for branch in branches
            if (part := self.resolve(branch)).get("type") == "record"
        ]
        maps = [self.node(b) for b in branches if self.resolve(b).get("type") == "map"]
        arrays = [self.node(b) for b in branches if self.resolve(b).get("type") == "array"]
        a_map = maps[0] if maps else None
        an_array = arrays[0] if arrays else None

        def convert(value: Any) -> Any:
            kind = type(value)
            if kind is dict:
                keys = value.keys()
                for names, record in records:
                    if names == keys:
                        return value if record is None else record(value)
                return value if a_map is None else a_map(value)
            if kind is list:
                return value if an_array is None else an_array(value)
            return json_value(value)

        return convert

    def resolve(self, schema: Any) -> dict[str, Any]:
        """A schema as a dict ({"type": "int"} for a primitive name)."""
        if isinstance(schema, str):
            found = self.named.get(schema)
            return found if isinstance(found, dict) else {"type": schema}
        return schema if isinstance(schema, dict) else {"type": "union"}


def _nullable(schema: Any) -> bool:
    return schema == "null" or (isinstance(schema, list) and "null" in schema)
