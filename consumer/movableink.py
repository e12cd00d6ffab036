"""The Movable Ink destination: its settings, the default preset, and Send Entire Event.

Everything Movable Ink specific lives here, as declarations plus one function that turns an
event into the request Segment's "Send Entire Event" action would make.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from consumer.mapping import FieldMapping
from consumer.signals import SignalsPolicy
from consumer.triggers import Trigger

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
class BatchSettings:
    """Batch mode (off by default): `{"events": [...]}` requests (RudderStack's shape)."""

    enabled: bool = False
    max_events: int = 1000
    max_bytes: int = 1_000_000
    linger_s: float = 0.05


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


@dataclass(frozen=True)
class Request:
    """What would be POSTed: the body is the JSON value, serialised by the delivery stage."""

    url: str
    headers: dict[str, str]
    body: Any


_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def body_bytes(body: Any) -> bytes:
    """The exact bytes POSTed for a mapped body (raises ValueError for NaN or infinity)."""
    return _encode(body).encode()


def mask_url(url: str) -> str:
    """The URL with its last path segment (the customer key) replaced by `***`, and no
    query, fragment or credentials."""
    parts = urlsplit(url)
    head, _, last = parts.path.rstrip("/").rpartition("/")
    path = f"{head}/***" if last else parts.path
    host = parts.netloc.rpartition("@")[2]  # credentials never shown
    return urlunsplit((parts.scheme, host, path, "", ""))


class HeaderError(ValueError):
    """A mapped header value that cannot be sent (not ASCII, not text)."""


def _header_value(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict | list):
        raise HeaderError(f"header {name!r} maps to a {type(value).__name__}, not text")
    if isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = value if isinstance(value, str) else str(value)
    if not text.isascii():
        raise HeaderError(f"header {name!r} has a non-ASCII value")
    if any(c in text for c in "\r\n\0"):  # HTTP cannot carry them (and must not: splitting)
        raise HeaderError(f"header {name!r} has a line break or NUL in its value")
    return text


def custom_headers(mapped: Any) -> dict[str, str]:
    """The mapped `headers` field as HTTP headers, reserved names dropped."""
    if not isinstance(mapped, Mapping):
        return {}
    headers: dict[str, str] = {}
    for name, value in mapped.items():
        if str(name).lower() in RESERVED_HEADERS:
            continue
        text = _header_value(str(name), value)
        if text is not None:
            headers[str(name)] = text
    return headers


def send_entire_event(
    destination: Destination, subscription: Subscription, event: dict[str, Any]
) -> Request:
    """The request for one event and one matching mapping; raises `HeaderError`."""
    body = subscription.data.apply(event)
    headers = {
        "Authorization": destination.authorization.reveal(),
        "Content-Type": "application/json",
    }
    if subscription.headers is not None:
        headers |= custom_headers(subscription.headers.apply(event))
    return Request(destination.movable_ink_url, headers, {} if body is None else body)
