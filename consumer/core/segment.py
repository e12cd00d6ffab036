"""The Segment message: its checks, identity keys, messageId and the integrations rule."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, NamedTuple, Protocol

from consumer.core.errors import InvalidMessage

TYPES = frozenset({"identify", "track", "page", "screen", "group", "alias"})
# Names under which a message's `integrations` object addresses this destination.
DESTINATION_NAMES = ("Movable Ink (Actions)", "Movable Ink", "MovableInk")
_TEXT = ((str,), "text")
_ID = ((str, int, float), "text or a number")
_OBJECT = ((dict,), "an object")
# Segment's message fields and the JSON types its spec gives them (`messageId` is not here:
# an integer one is kept as its text, any other that is not text replaced by the derived id).
_FIELD_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "type": _TEXT, "event": _TEXT, "name": _TEXT, "category": _TEXT, "groupId": _ID,
    "userId": _ID, "anonymousId": _ID, "previousId": _ID,
    "timestamp": _TEXT, "sentAt": _TEXT, "receivedAt": _TEXT, "originalTimestamp": _TEXT,
    "properties": _OBJECT, "traits": _OBJECT, "context": _OBJECT, "integrations": _OBJECT,
}  # fmt: skip
# Per field, the exact types that surely fit (None: absent); any other type, a subclass or a
# bool included, is left to the field-by-field walk.
_FITTING_TYPES = {
    name: frozenset({type(None), *kinds}) for name, (kinds, _) in _FIELD_TYPES.items()
}

MAX_SHAPES = 256  # past this, the least recently seen shapes are forgotten


def _id(value: Any) -> str | None:
    """An identity value as text; numbers count (some sources send numeric ids), '' does not."""
    if type(value) is str:  # the usual case, first
        return value or None
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str | int | float):
        text = str(value)
        return text or None
    return None


def _field_error(message: dict[str, Any]) -> str | None:
    """The first Segment field whose JSON type is wrong, described; None if all fit.

    A field given as `null` counts as absent. Checked before anything reads the fields, so
    triggers, Signals and mappings only ever see the types Segment's spec gives them. Almost
    every message passes `_shape_fits`, a cheaper test; only the others are walked for the reason.
    """
    if _shape_fits((*message, *map(type, message.values()))):
        return None
    for name, (kinds, described) in _FIELD_TYPES.items():
        value = message.get(name)
        if value is not None and (not isinstance(value, kinds) or isinstance(value, bool)):
            return f"`{name}` must be {described}, not {_json_type(value)}"
    return None


@functools.lru_cache(maxsize=MAX_SHAPES)
def _shape_fits(shape: tuple[Any, ...]) -> bool:
    """Whether every Segment field of a message of this shape (its keys, then the exact types
    of their values) is absent or of a plain type its spec gives it. Kept per shape because a
    stream's messages come in few shapes: one tuple built and looked up in C per message,
    rather than a Python loop over its keys."""
    half = len(shape) // 2
    for name, kind in zip(shape[:half], shape[half:], strict=True):
        fitting = _FITTING_TYPES.get(name)
        if fitting is not None and kind not in fitting:
            return False
    return True


def _json_type(value: Any) -> str:
    names = {bool: "a boolean", dict: "an object", list: "an array", str: "text"}
    return names.get(type(value), "a number")


def check(message: Any) -> dict[str, Any]:
    """The message if Segment would accept it, else `InvalidMessage` with the reason code."""
    if not isinstance(message, dict):
        raise InvalidMessage("message.not_an_object", "The message is not a JSON object.")
    kind = message.get("type")
    if kind is None:
        raise InvalidMessage("message.missing_type", "The message has no `type`.")
    wrong = _field_error(message)
    if wrong is not None:
        raise InvalidMessage("message.invalid_field", f"The message's {wrong}.")
    if kind not in TYPES:
        raise InvalidMessage(
            "message.unknown_type", f"The message type {kind!r} is not a Segment type."
        )
    if kind == "alias":
        if _id(message.get("userId")) is None or _id(message.get("previousId")) is None:
            raise InvalidMessage(
                "message.missing_identity", "An alias message needs `userId` and `previousId`."
            )
    elif _id(message.get("anonymousId")) is None and _id(message.get("userId")) is None:
        raise InvalidMessage(
            "message.missing_identity", "The message has neither `anonymousId` nor `userId`."
        )
    return message


def identity_keys(message: Mapping[str, Any]) -> tuple[str, ...]:
    """The keys whose earlier events this one must wait for (spec section 6).

    `previousId` may be a former `userId` or `anonymousId`, so keys are not namespaced: an
    accidental clash between an anonymous and a known id only orders more, never less.
    """
    first = _id(message.get("previousId" if message.get("type") == "alias" else "anonymousId"))
    second = _id(message.get("userId"))
    if first is None:
        return () if second is None else (second,)
    return (first,) if second is None or second == first else (first, second)


def person_key(message: Mapping[str, Any]) -> str:
    """The stable partitioning key Kafka producers should use: `anonymousId`, else `userId`."""
    return identity_keys(message)[0]


class Located(Protocol):
    """Where a record is stored (a `Place`, or the Kafka record itself: the shell passes the
    record it read rather than build a place per record); its `fallback_id` is made from it."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...


class Place(NamedTuple):
    """A `Located` for what is not a Kafka record. `NOWHERE`: a message not read from Kafka."""

    topic: str = ""
    partition: int = -1
    offset: int = -1


NOWHERE = Place()


def fallback_id(topic: str, partition: int, offset: int) -> str:
    """A stable message id derived from where the record is stored."""
    return f"kafka-{topic}-{partition}-{offset}"


def message_id(message: Any, topic: str, partition: int, offset: int) -> str:
    """The message's `messageId` if it has one (any value, not only an object), else the
    `fallback_id`. Text is kept as it is, an integer (an Avro `int`/`long` id) as its digits;
    the decoder has already made a `uuid` or `fixed` id text."""
    given = message.get("messageId") if isinstance(message, dict) else None
    if isinstance(given, str) and given:
        return given
    if type(given) is int:
        return str(given)
    return fallback_id(topic, partition, offset)


def integration_enabled(message: Mapping[str, Any]) -> bool:
    """Segment's integrations rule for this destination (spec section 4).

    A key naming this destination wins over `All`; any value but `false` enables (an options
    object does); with several such keys, one enabled one is enough. No object: enabled.
    """
    integrations = message.get("integrations")
    if not isinstance(integrations, dict) or not integrations:  # most often none, or {}
        return True
    named = False
    for name in DESTINATION_NAMES:
        if name in integrations:
            if integrations[name] is not False:
                return True
            named = True
    return not named and integrations.get("All") is not False
