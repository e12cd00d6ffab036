"""The Movable Ink destination: its settings, the default preset, and Send Entire Event.

Everything Movable Ink specific lives here, as declarations plus one function that turns an
event into the request Segment's "Send Entire Event" action would make.
"""

from __future__ import annotations

import base64
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple
from urllib.parse import urlsplit, urlunsplit

import orjson

from consumer.core.jsvalues import (
    UNDEFINED,
    escape_lone_surrogates,
    js_entries,
    js_string,
    json_stringify,
)
from consumer.core.mapping import FieldMapping, MappingFailure, kind
from consumer.core.signals import SignalsPolicy
from consumer.core.triggers import Trigger
from consumer.core.tuples import record
from consumer.settings import BatchSettings

ACTION = "Send Entire Event"
PRESET_NAME = "Send Entire Event"
PRESET_SUBSCRIBE = (
    'type = "identify" or type = "track" or type = "page" or type = "screen" or type = "group"'
)
PRESET_DATA: dict[str, Any] = {"@path": "$."}
MAX_MAPPINGS = 50
# Headers a mapping may not set: auth and body framing belong to the request itself.
RESERVED_HEADERS = frozenset(
    {"authorization", "content-type", "content-length", "host", "transfer-encoding"}
)
DeadLetterPolicy = Literal["continue", "hold"]


class Secret:
    """A credential that prints as `***` everywhere; only `reveal()` gives the text."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class Subscription:
    """One mapping: a trigger, and the fields of the Send Entire Event action."""

    name: str
    trigger: Trigger
    data: FieldMapping
    headers: FieldMapping | None = None


@dataclass(frozen=True)
class Destination:
    """One Movable Ink destination instance, isolated from the others."""

    name: str
    movable_ink_url: str
    username: str
    password: Secret
    subscriptions: tuple[Subscription, ...]
    signals: SignalsPolicy = "enforce"
    max_event_age_s: float | None = None
    on_dead_letter: DeadLetterPolicy = "continue"
    batch: BatchSettings = BatchSettings()
    max_requests_per_second: float = 0.0
    adaptive_concurrency: bool = True
    authorization: Secret = field(init=False, repr=False)

    def __post_init__(self) -> None:
        pair = f"{self.username}:{self.password.reveal()}"
        token = base64.b64encode(pair.encode()).decode()
        object.__setattr__(self, "authorization", Secret(f"Basic {token}"))

    @property
    def masked_url(self) -> str:
        return mask_url(self.movable_ink_url)


class Request(NamedTuple):
    """What would be POSTed: the body is the JSON value (None: no body), serialised later.
    A named tuple: one is built per event, by `tuples.record`."""

    url: str
    headers: dict[str, str]
    body: Any


_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def body_bytes(body: Any) -> bytes:
    """The exact bytes POSTed for a mapped body, empty for none; raises ValueError for NaN.

    As JSON.stringify writes them: a number a mapping made infinite (`@json` decoding `1e400`)
    is null, and a lone UTF-16 surrogate (JavaScript splits strings into them, as in `@merge`
    of a string) is a `\\udXXX` escape. NaN never comes from a mapping: it is bad input.

    orjson writes the body (~6x faster than the standard library: this is every event's
    largest cost after the HTTP request). Its bytes are the standard library's compact form,
    but for numbers under 1e-4 in size, written in another form of the same number (`2.5e-7`,
    `0.00001`; the standard library writes `2.5e-07`, `1e-05`). What orjson cannot write as we
    must (a lone surrogate, an integer past 64 bits, nesting past 255) it refuses, and the
    standard library writes it; NaN, which orjson writes as null, is looked for only when the
    body has a null.
    """
    if body is None:
        return b""
    try:
        content = orjson.dumps(body)
    except TypeError:  # orjson.JSONEncodeError is one
        return _stdlib_body_bytes(body)
    if content.find(b"null") != -1 and _has_nan(body):  # `in` first tries an int: dearer
        raise ValueError("NaN is not a JSON number")
    return content


def _stdlib_body_bytes(body: Any) -> bytes:
    try:
        text = _encode(body)
    except ValueError:
        if _has_nan(body):
            raise
        text = json_stringify(body) or "null"
    try:
        return text.encode()
    except UnicodeEncodeError:
        return escape_lone_surrogates(text).encode()


def _has_nan(value: Any) -> bool:
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, dict | list):
        return any(
            _has_nan(item) for item in (value.values() if isinstance(value, dict) else value)
        )
    return False


def mask_url(url: str) -> str:
    """The URL with its last path segment (the customer key) replaced by `***`, and no
    query, fragment or credentials."""
    parts = urlsplit(url)
    head, _, last = parts.path.rstrip("/").rpartition("/")
    path = f"{head}/***" if last else parts.path
    host = parts.netloc.rpartition("@")[2]  # credentials never shown
    return urlunsplit((parts.scheme, host, path, "", ""))


class InvalidRequest(ValueError):
    """Segment would not send this event: `.reason` is the reason code, the message says why."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


# node-fetch's header rules (what actions-core sends with): a token for the name; for the
# value no control character but tab, and nothing past Latin-1. For the values we send we keep
# the spec's stricter ASCII-only rule; a reserved header, dropped anyway, gets node-fetch's.
_HEADER_NAME = re.compile(r"[\^_`a-zA-Z\-0-9!#$%&'*+.|~]+")
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e]*")
_FETCH_HEADER_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")
_NOTHING = (UNDEFINED, None, "")  # actions-core's removeEmptyValues drops these fields
_UNMAPPED: Any = object()  # `send_entire_event` was given no mapped data


def custom_headers(mapped: Any) -> dict[str, str]:
    """The mapped `headers` field as actions-core sends it; raises `InvalidRequest`.

    Values are written with JavaScript's String(...); a value "undefined" drops its header;
    names differing only in case are joined with ", "; reserved names are dropped.
    """
    if mapped in _NOTHING:
        return {}
    if not isinstance(mapped, dict):
        raise InvalidRequest(
            "mapping.invalid_header", f"Headers must be an object but it was {kind(mapped)}"
        )
    joined: dict[str, tuple[str, str]] = {}
    for name, value in js_entries(mapped):
        text = js_string(value)
        problem = header_problem(name, text)
        if problem is not None:
            raise InvalidRequest("mapping.invalid_header", problem)
        key = name.lower()
        if key in joined:
            joined[key] = (joined[key][0], f"{joined[key][1]}, {text}")
        else:
            joined[key] = (name, text)
    return {
        name: text
        for key, (name, text) in joined.items()
        if key not in RESERVED_HEADERS and text != "undefined"
    }


def header_problem(name: str, text: str) -> str | None:
    """Why a header cannot be sent (None if it can)."""
    if not _HEADER_NAME.fullmatch(name):
        return f"{name!r} is not a legal header name"
    sent = name.lower() not in RESERVED_HEADERS
    if not (_HEADER_VALUE if sent else _FETCH_HEADER_VALUE).fullmatch(text):
        return (
            f"header {name!r} has a value with a line break, a control character or non-ASCII text"
        )
    return None


def send_entire_event(
    destination: Destination,
    subscription: Subscription,
    event: dict[str, Any],
    data: Any = _UNMAPPED,
) -> Request:
    """The request Segment's action makes for one event and one matching mapping.

    Raises `InvalidRequest` where Segment would not send the event: its mapping fails
    (`mapping.failed`), `data` is not an object (`mapping.data_not_object`) or a header cannot
    be sent (`mapping.invalid_header`). `data` resolving to nothing, null or "" is sent with
    no body and no Content-Type, as Segment does. `data`, when given, is what the mapping
    `subscription.data` gave this event (a mapping shared by several subscriptions is applied
    once per event).
    """
    try:
        body = subscription.data.apply(event) if data is _UNMAPPED else data
        mapped_headers = None if subscription.headers is None else subscription.headers.apply(event)
    except MappingFailure as exc:
        raise InvalidRequest("mapping.failed", f"mapping {subscription.name!r}: {exc}") from exc
    headers = {"Authorization": destination.authorization.reveal()}
    if isinstance(body, dict):  # the usual case, first: no dict is in _NOTHING
        headers["Content-Type"] = "application/json"
    elif body in _NOTHING:
        body = None
    else:
        raise InvalidRequest(
            "mapping.data_not_object",
            f"mapping {subscription.name!r}: Data must be an object but it was {kind(body)}",
        )
    if mapped_headers is not None:
        headers |= custom_headers(mapped_headers)
    return record(Request, (destination.movable_ink_url, headers, body))
