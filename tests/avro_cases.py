"""Writer schemas as other people write them, and Segment events to fill them, each with the
JSON its producer meant (shared by the unit and the integration tests of `avro_values`).

`events()` draws a schema (records nested to several levels, unions with null in any
position, every logical type fastavro writes, enums, maps, arrays, namespaces, aliases,
defaults) and events written with it: each event as the Avro datum a producer hands its
serializer, and as the Segment JSON message the consumer must make of it (`keep`: with the
nulls of nested records kept). The expected JSON is written here without the consumer's code.
"""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

UTC = dt.UTC
ABSENT = object()  # a record field the expected JSON leaves out (a null, under `omit`)
_names = itertools.count()


@dataclass(frozen=True)
class Pair:
    """A value as the producer writes it, and as JSON: omitting nulls, and keeping them."""

    avro: Any
    omit: Any
    keep: Any


@dataclass(frozen=True)
class Node:
    schema: Any
    values: st.SearchStrategy[Pair]
    nullable: bool = False
    kind: str = ""  # "object", "array", "text" (values JSON reads as text) or ""


def _same(avro: Any, json: Any) -> Pair:
    return Pair(avro, json, json)


def _name(prefix: str) -> str:
    return f"{prefix}{next(_names)}"


# -- leaves ------------------------------------------------------------------------------------

MOMENTS = st.datetimes(dt.datetime(1900, 1, 1), dt.datetime(2200, 12, 31))


def _stamp(moment: dt.datetime, micros: bool) -> str:
    """ISO-8601 as Segment writes it (`strftime`, not the consumer's `isoformat`)."""
    fraction = moment.microsecond
    digits = f"{fraction:06d}" if micros and fraction % 1000 else f"{fraction // 1000:03d}"
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{digits}Z"


def _timestamp(micros: bool, local: bool) -> st.SearchStrategy[Pair]:
    def pair(moment: dt.datetime) -> Pair:
        if not micros:
            moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
        written = moment if local else moment.replace(tzinfo=UTC)
        return _same(written, _stamp(moment, micros))

    return MOMENTS.map(pair)


def _time(micros: bool) -> st.SearchStrategy[Pair]:
    def pair(moment: dt.time) -> Pair:
        if not micros:
            moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
        fraction = moment.microsecond
        digits = f"{fraction:06d}" if fraction % 1000 else f"{fraction // 1000:03d}"
        return _same(moment, moment.strftime("%H:%M:%S") + f".{digits}")

    return st.times().map(pair)


def decimal_json(unscaled: int, scale: int) -> int | float:
    """A decimal as the JSON number JavaScript reads from its text (an integer if whole)."""
    if unscaled % 10**scale == 0:
        return unscaled // 10**scale
    return float(f"{unscaled}e-{scale}")


def _decimal(precision: int, scale: int) -> st.SearchStrategy[Pair]:
    top = 10**precision - 1
    return st.integers(-top, top).map(
        lambda n: _same(Decimal(n).scaleb(-scale), decimal_json(n, scale))
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@st.composite
def leaves(draw: st.DrawFn) -> Node:
    """A primitive, an enum, a fixed or a logical type, and its values."""
    choice = draw(
        st.sampled_from(
            [
                "string", "long", "int", "double", "boolean", "bytes", "fixed", "enum",
                "timestamp-millis", "timestamp-micros", "local-timestamp-millis",
                "local-timestamp-micros", "date", "time-millis", "time-micros",
                "decimal-bytes", "decimal-fixed", "uuid",
            ]
        )
    )  # fmt: skip
    if choice == "string":
        return Node("string", st.text(max_size=12).map(lambda s: _same(s, s)), kind="text")
    if choice == "long":
        return Node("long", st.integers(-(2**63), 2**63 - 1).map(lambda n: _same(n, n)))
    if choice == "int":
        return Node({"type": "int"}, st.integers(-(2**31), 2**31 - 1).map(lambda n: _same(n, n)))
    if choice == "double":
        finite = st.floats(allow_nan=False, allow_infinity=False)
        return Node("double", finite.map(lambda x: _same(x, x)))
    if choice == "boolean":
        return Node("boolean", st.booleans().map(lambda b: _same(b, b)))
    if choice == "bytes":
        return Node("bytes", st.binary(max_size=12).map(lambda b: _same(b, _b64(b))))
    if choice == "fixed":
        size = draw(st.integers(1, 8))
        schema = {"type": "fixed", "name": _name("F"), "size": size}
        return Node(
            schema, st.binary(min_size=size, max_size=size).map(lambda b: _same(b, _b64(b)))
        )
    if choice == "enum":
        symbols = draw(
            st.lists(
                st.from_regex(r"[A-Z][A-Za-z0-9_]{0,6}", fullmatch=True),
                min_size=1,
                max_size=4,
                unique=True,
            )
        )
        schema = {"type": "enum", "name": _name("E"), "symbols": symbols}
        if draw(st.booleans()):
            schema["default"] = symbols[0]
        return Node(schema, st.sampled_from(symbols).map(lambda s: _same(s, s)), kind="text")
    if choice.startswith(("timestamp", "local-timestamp")):
        micros = choice.endswith("micros")
        schema = {"type": "long", "logicalType": choice}
        return Node(schema, _timestamp(micros, choice.startswith("local")), kind="text")
    if choice == "date":
        dates = st.dates(dt.date(1900, 1, 1), dt.date(2200, 12, 31))
        return Node(
            {"type": "int", "logicalType": "date"},
            dates.map(lambda d: _same(d, d.strftime("%Y-%m-%d"))),
            kind="text",
        )
    if choice.startswith("time"):
        micros = choice.endswith("micros")
        schema = {"type": "long" if micros else "int", "logicalType": choice}
        return Node(schema, _time(micros), kind="text")
    if choice.startswith("decimal"):
        precision = draw(st.integers(1, 30))
        scale = draw(st.integers(0, min(precision, 6)))
        schema: dict[str, Any] = {"logicalType": "decimal", "precision": precision, "scale": scale}
        if choice == "decimal-fixed":
            schema |= {"type": "fixed", "name": _name("D"), "size": 16}
        else:
            schema["type"] = "bytes"
        return Node(schema, _decimal(precision, scale))
    schema = {"type": "string", "logicalType": "uuid"}
    return Node(schema, st.uuids().map(lambda u: _same(u, str(u))), kind="text")


# -- composites --------------------------------------------------------------------------------

FIELD_NAMES = st.from_regex(r"[a-z][A-Za-z0-9_]{0,8}", fullmatch=True)


def nullable(inner: Node, position: int, draw: st.DrawFn) -> Node:
    """`inner` in a union with null: first, last, or between it and `string`."""
    branches: list[Any]
    values = inner.values
    if position == 2 and inner.kind == "":  # [inner, null, string]: text goes to string
        branches = [inner.schema, "null", "string"]
        values = values | st.text(max_size=6).map(lambda s: _same(s, s))
    else:
        branches = ["null", inner.schema] if position == 0 else [inner.schema, "null"]
    nulls = st.just(Pair(None, ABSENT, None))
    return Node(branches, nulls | values, nullable=True)


@st.composite
def nodes(draw: st.DrawFn, depth: int) -> Node:
    """A schema of at most `depth` levels of records, arrays and maps, and its values."""
    kind = draw(
        st.sampled_from(["leaf", "leaf", "record", "array", "map"]) if depth else st.just("leaf")
    )
    if kind == "leaf":
        node = draw(leaves())
    elif kind == "record":
        node = draw(records(depth - 1))
    else:
        inner = draw(nodes(depth - 1))
        if kind == "array":
            schema = {"type": "array", "items": inner.schema}
            pairs = st.lists(inner.values, max_size=3).map(
                lambda items: Pair(
                    [p.avro for p in items],
                    [None if p.omit is ABSENT else p.omit for p in items],
                    [p.keep for p in items],
                )
            )
        else:
            schema = {"type": "map", "values": inner.schema}
            pairs = st.dictionaries(st.text(max_size=4), inner.values, max_size=3).map(
                lambda items: Pair(
                    {k: p.avro for k, p in items.items()},
                    {k: None if p.omit is ABSENT else p.omit for k, p in items.items()},
                    {k: p.keep for k, p in items.items()},
                )
            )
        node = Node(schema, pairs, kind=kind)
    if draw(st.integers(0, 2)) == 0:
        return nullable(node, draw(st.integers(0, 2)), draw)
    return node


@st.composite
def records(draw: st.DrawFn, depth: int, names: tuple[str, ...] = ()) -> Node:
    """A record (namespaced or not, with aliases and defaults) whose fields are `names` (if
    given) or drawn; its values are dicts of every field."""
    field_names = names or tuple(draw(st.lists(FIELD_NAMES, min_size=1, max_size=4, unique=True)))
    fields, values = [], {}
    for name in field_names:
        node = draw(nodes(depth))
        field: dict[str, Any] = {"name": name, "type": node.schema}
        if node.nullable and node.schema[0] == "null":
            field["default"] = None
        if draw(st.integers(0, 4)) == 0:
            field["aliases"] = [f"old_{name}"]
        fields.append(field)
        values[name] = node.values
    schema: dict[str, Any] = {"type": "record", "name": _name("R"), "fields": fields}
    if draw(st.booleans()):
        schema["namespace"] = draw(st.sampled_from(["com.acme.events", "io.example", "x"]))
    if draw(st.integers(0, 3)) == 0:
        schema["aliases"] = [_name("Old")]

    def pair(items: dict[str, Pair]) -> Pair:
        return Pair(
            {k: p.avro for k, p in items.items()},
            {k: p.omit for k, p in items.items() if p.omit is not ABSENT},
            {k: p.keep for k, p in items.items()},
        )

    return Node(schema, st.fixed_dictionaries(values).map(pair), kind="object")


# -- Segment events ----------------------------------------------------------------------------

_ID_TYPES: dict[str, Any] = {
    "string": "string",
    "uuid": {"type": "string", "logicalType": "uuid"},
    "fixed": {"type": "fixed", "name": "MessageId", "size": 16},
    "long": "long",
}


def _message_ids(kind: str) -> st.SearchStrategy[tuple[Any, Any, str]]:
    """(as written, as JSON, as the message id the consumer keeps)."""
    if kind == "uuid":
        return st.uuids().map(lambda u: (u, str(u), str(u)))
    if kind == "fixed":
        return st.binary(min_size=16, max_size=16).map(lambda b: (b, _b64(b), _b64(b)))
    if kind == "long":
        return st.integers(0, 2**63 - 1).map(lambda n: (n, n, str(n)))
    return st.uuids().map(lambda u: (f"m-{u}", f"m-{u}", f"m-{u}"))


@dataclass(frozen=True)
class Event:
    """An event as the producer's datum, as JSON (nested nulls omitted, and kept), and the
    message id the consumer must keep."""

    datum: dict[str, Any]
    omit: dict[str, Any]
    keep: dict[str, Any]
    message_id: str


@dataclass(frozen=True)
class Case:
    """A writer schema (unparsed) and events written with it."""

    schema: dict[str, Any]
    events: list[Event]


@st.composite
def cases(draw: st.DrawFn, max_events: int = 4) -> Case:
    """A Segment event schema of another producer's making, and events for it."""
    kind = draw(st.sampled_from(["track", "identify", "page"]))
    type_enum = draw(st.booleans())
    id_kind = draw(st.sampled_from(sorted(_ID_TYPES)))
    stamp_kind = draw(st.sampled_from(["timestamp-millis", "timestamp-micros", "string"]))
    payload = {"track": "properties", "identify": "traits", "page": "properties"}[kind]
    body = draw(records(3))
    context = draw(records(2, ("ip", "locale")))
    fields: list[dict[str, Any]] = [
        {
            "name": "type",
            "type": {
                "type": "enum",
                "name": "SegmentType",
                "symbols": ["track", "identify", "page"],
            }
            if type_enum
            else "string",
        },
        {"name": "messageId", "type": _ID_TYPES[id_kind]},
        {"name": "anonymousId", "type": ["null", "string"], "default": None},
        {"name": "userId", "type": "string"},
        {
            "name": "timestamp",
            "type": "string"
            if stamp_kind == "string"
            else {"type": "long", "logicalType": stamp_kind},
        },
        {"name": payload, "type": body.schema},
        {"name": "context", "type": ["null", context.schema], "default": None},
    ]
    if kind == "track":
        fields.insert(3, {"name": "event", "type": "string"})
    schema = {
        "type": "record",
        "name": _name("SegmentEvent"),
        "namespace": "com.acme",
        "fields": fields,
    }
    events = []
    for _ in range(draw(st.integers(1, max_events))):
        written, as_json, text = draw(_message_ids(id_kind))
        moment = draw(_timestamp(stamp_kind.endswith("micros"), False))
        stamp = moment.omit if stamp_kind == "string" else moment.avro
        user = draw(st.text(min_size=1, max_size=8))
        anonymous = draw(st.none() | st.text(min_size=1, max_size=8))
        content = draw(body.values)
        around = draw(st.none() | context.values)
        datum: dict[str, Any] = {
            "type": kind, "messageId": written, "anonymousId": anonymous, "userId": user,
            "timestamp": stamp, payload: content.avro, "context": None if around is None else around.avro,
        }  # fmt: skip
        omit: dict[str, Any] = {
            "type": kind, "messageId": as_json, "userId": user, "timestamp": moment.omit,
            payload: content.omit,
        }  # fmt: skip
        if kind == "track":
            datum["event"] = omit["event"] = draw(st.sampled_from(["Signed Up", "Viewed", "x"]))
        if anonymous is not None:
            omit["anonymousId"] = anonymous
        keep = {**omit, payload: content.keep}
        if around is not None:
            omit["context"], keep["context"] = around.omit, around.keep
        events.append(Event(datum, omit, keep, text))
    return Case(schema, events)


def is_json(value: Any) -> bool:
    """Whether `value` is made of JSON types only (exactly: no subclass)."""
    kind = type(value)
    if kind is dict:
        return all(type(k) is str and is_json(v) for k, v in value.items())
    if kind is list:
        return all(is_json(v) for v in value)
    return kind in (str, int, float, bool, type(None))


# -- fixed cases -------------------------------------------------------------------------------


def _optional(name: str, kind: Any = "string") -> dict[str, Any]:
    return {"name": name, "type": ["null", kind], "default": None}


def _record_of(name: str, *fields: dict[str, Any]) -> dict[str, Any]:
    return {"type": "record", "name": name, "fields": list(fields)}


# RudderStack's Kafka destination serializes each event with the Avro schema its user registers,
# converting the event's JSON with every field of the schema present (an absent one as null).
# This schema has a RudderStack event's fields (`rudderId`, `request_ip`, `channel`, ...),
# nested records for `context` and `properties`, each field optional, with record names where
# a nested record needs one: the shape the issue reports, where a page's `properties` carries
# 12 null keys.
RUDDERSTACK_SCHEMA: dict[str, Any] = {
    "type": "record",
    "name": "RudderEvent",
    "namespace": "com.rudderstack.kafka",
    "fields": [
        _optional("anonymousId"),
        _optional("channel"),
        _optional(
            "context",
            _record_of(
                "Context",
                _optional("app", _record_of("App", *map(_optional, ("build", "name", "namespace", "version")))),
                _optional("library", _record_of("Library", _optional("name"), _optional("version"))),
                _optional("locale"),
                _optional("os", _record_of("Os", _optional("name"), _optional("version"))),
                _optional("screen", _record_of("Screen", _optional("density", "double"))),
                _optional("traits", _record_of("ContextTraits", _optional("email"), _optional("name"))),
                _optional("userAgent"),
                _optional("ip"),
            ),
        ),
        _optional("event"),
        _optional("integrations", _record_of("Integrations", _optional("All", "boolean"))),
        _optional("messageId"),
        _optional("name"),
        _optional("originalTimestamp"),
        _optional(
            "properties",
            _record_of(
                "Properties",
                *map(
                    _optional,
                    (
                        "category", "name", "path", "referrer", "referring_domain", "search",
                        "tab_url", "title", "url", "initial_referrer", "initial_referring_domain",
                    ),
                ),
                _optional("revenue", "double"),
            ),
        ),
        _optional("receivedAt"),
        _optional("request_ip"),
        _optional("rudderId"),
        _optional("sentAt"),
        _optional("timestamp"),
        _optional("type"),
        _optional("userId"),
    ],
}  # fmt: skip

# Typed Avro: enums, a `uuid` messageId, `timestamp-millis` times, maps.
TYPED_SCHEMA: dict[str, Any] = {
    "type": "record",
    "name": "TrackEvent",
    "namespace": "com.acme.analytics",
    "fields": [
        {"name": "type", "type": {"type": "enum", "name": "EventType", "symbols": ["track", "page"]}},
        {"name": "messageId", "type": {"type": "string", "logicalType": "uuid"}},
        {"name": "userId", "type": "string"},
        {"name": "event", "type": ["null", "string"], "default": None},
        {"name": "timestamp", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "sentAt", "type": ["null", {"type": "long", "logicalType": "timestamp-millis"}], "default": None},
        {"name": "properties", "type": {"type": "map", "values": ["null", "string", "double", "boolean"]}},
        {
            "name": "context",
            "type": _record_of(
                "Context",
                {"name": "channel", "type": {"type": "enum", "name": "Channel", "symbols": ["web", "server", "mobile"]}},
                {"name": "tags", "type": {"type": "map", "values": "string"}},
            ),
        },
    ],
}  # fmt: skip

_MONEY = {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2}

# Money and dates: `decimal` totals and prices, `date` and `timestamp-millis` traits.
MONEY_SCHEMA: dict[str, Any] = {
    "type": "record",
    "name": "CommerceEvent",
    "namespace": "com.acme.shop",
    "fields": [
        {"name": "type", "type": "string"},
        {"name": "messageId", "type": "string"},
        {"name": "userId", "type": "string"},
        {"name": "event", "type": ["null", "string"], "default": None},
        {"name": "timestamp", "type": "string"},
        {
            "name": "traits",
            "type": [
                "null",
                _record_of(
                    "Traits",
                    _optional("email"),
                    _optional("birthday", {"type": "int", "logicalType": "date"}),
                    _optional("createdAt", {"type": "long", "logicalType": "timestamp-millis"}),
                    _optional("lifetimeValue", _MONEY),
                ),
            ],
            "default": None,
        },
        {
            "name": "properties",
            "type": [
                "null",
                _record_of(
                    "Order",
                    _optional("order_id"),
                    _optional("total", _MONEY),
                    _optional("currency"),
                    {
                        "name": "products",
                        "type": [
                            "null",
                            {
                                "type": "array",
                                "items": _record_of(
                                    "Product", _optional("sku"), _optional("price", _MONEY), _optional("quantity", "int")
                                ),
                            },
                        ],
                        "default": None,
                    },
                ),
            ],
            "default": None,
        },
    ],
}  # fmt: skip


def rudderstack_page(n: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """A page event as RudderStack writes it (every absent field null), and its Segment JSON."""
    props = dict.fromkeys(RUDDERSTACK_PROPERTIES, None)
    props |= {"path": f"/p/{n}", "title": "Home", "url": f"https://example.com/p/{n}"}
    datum: dict[str, Any] = dict.fromkeys((f["name"] for f in RUDDERSTACK_SCHEMA["fields"]), None)
    datum |= {
        "anonymousId": f"anon-{n}", "channel": "web", "messageId": f"rs-{n}", "name": "Home",
        "type": "page", "timestamp": "2025-05-03T09:00:00.000Z", "properties": props,
        "context": {
            "app": None, "library": {"name": "RudderLabs JavaScript SDK", "version": None},
            "locale": "en-US", "os": None, "screen": {"density": 2.0}, "traits": None,
            "userAgent": "Mozilla/5.0", "ip": None,
        },
    }  # fmt: skip
    expected = {
        "anonymousId": f"anon-{n}", "channel": "web", "messageId": f"rs-{n}", "name": "Home",
        "type": "page", "timestamp": "2025-05-03T09:00:00.000Z",
        "properties": {"path": f"/p/{n}", "title": "Home", "url": f"https://example.com/p/{n}"},
        "context": {
            "library": {"name": "RudderLabs JavaScript SDK"}, "locale": "en-US",
            "screen": {"density": 2.0}, "userAgent": "Mozilla/5.0",
        },
    }  # fmt: skip
    return datum, expected


RUDDERSTACK_PROPERTIES = next(
    [f["name"] for f in field["type"][1]["fields"]]
    for field in RUDDERSTACK_SCHEMA["fields"]
    if field["name"] == "properties"
)  # the page's 12 properties


def typed_track(n: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """A track event in the typed schema, and its Segment JSON."""
    message_id = uuid.UUID(int=0x1234 + n)
    moment = dt.datetime(2025, 5, 3, 9, 0, n % 60, 250_000, tzinfo=UTC)
    datum = {
        "type": "track", "messageId": message_id, "userId": f"u-{n}", "event": "Signed Up",
        "timestamp": moment, "sentAt": None,
        "properties": {"plan": "pro", "seats": 3.0, "trial": True, "coupon": None},
        "context": {"channel": "server", "tags": {"team": "growth"}},
    }  # fmt: skip
    expected = {
        "type": "track", "messageId": str(message_id), "userId": f"u-{n}", "event": "Signed Up",
        "timestamp": f"2025-05-03T09:00:{n % 60:02d}.250Z",
        "properties": {"plan": "pro", "seats": 3.0, "trial": True, "coupon": None},
        "context": {"channel": "server", "tags": {"team": "growth"}},
    }  # fmt: skip
    return datum, expected


def money_events(n: int) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """An identify with `date`/`timestamp-millis`/`decimal` traits and an `Order Completed`
    with decimal total and prices, and their Segment JSON."""
    identify = {
        "type": "identify", "messageId": f"id-{n}", "userId": f"u-{n}", "event": None,
        "timestamp": "2025-05-03T09:00:00.000Z", "properties": None,
        "traits": {
            "email": f"u{n}@example.com", "birthday": dt.date(1990, 2, 28),
            "createdAt": dt.datetime(2025, 5, 3, 9, 0, tzinfo=UTC),
            "lifetimeValue": Decimal("1234.50"),
        },
    }  # fmt: skip
    order = {
        "type": "track", "messageId": f"oc-{n}", "userId": f"u-{n}", "event": "Order Completed",
        "timestamp": "2025-05-03T09:05:00.000Z", "traits": None,
        "properties": {
            "order_id": f"o-{n}", "total": Decimal("19.99"), "currency": "USD",
            "products": [{"sku": "sku-1", "price": Decimal("9.90"), "quantity": 2},
                         {"sku": "sku-2", "price": Decimal("0.19"), "quantity": None}],
        },
    }  # fmt: skip
    return [
        (
            identify,
            {
                "type": "identify", "messageId": f"id-{n}", "userId": f"u-{n}",
                "timestamp": "2025-05-03T09:00:00.000Z",
                "traits": {
                    "email": f"u{n}@example.com", "birthday": "1990-02-28",
                    "createdAt": "2025-05-03T09:00:00.000Z", "lifetimeValue": 1234.5,
                },
            },
        ),
        (
            order,
            {
                "type": "track", "messageId": f"oc-{n}", "userId": f"u-{n}",
                "event": "Order Completed", "timestamp": "2025-05-03T09:05:00.000Z",
                "properties": {
                    "order_id": f"o-{n}", "total": 19.99, "currency": "USD",
                    "products": [{"sku": "sku-1", "price": 9.9, "quantity": 2},
                                 {"sku": "sku-2", "price": 0.19}],
                },
            },
        ),
    ]  # fmt: skip
