"""The Segment message: its checks, identity keys, messageId and the integrations rule."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from consumer.errors import Rejected

TYPES = frozenset({"identify", "track", "page", "screen", "group", "alias"})
# Names under which a message's `integrations` object addresses this destination.
DESTINATION_NAMES = ("Movable Ink (Actions)", "Movable Ink", "MovableInk")


def _id(value: Any) -> str | None:
    """An identity value as text; numbers count (some sources send numeric ids), '' does not."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str | int | float):
        text = str(value)
        return text or None
    return None


def check(message: Any) -> dict[str, Any]:
    """The message if Segment would accept it, else `Rejected` with the reason code."""
    if not isinstance(message, dict):
        raise Rejected("message.not_an_object", "The message is not a JSON object.")
    kind = message.get("type")
    if kind is None:
        raise Rejected("message.missing_type", "The message has no `type`.")
    if kind not in TYPES:
        raise Rejected("message.unknown_type", f"The message type {kind!r} is not a Segment type.")
    if kind == "alias":
        if _id(message.get("userId")) is None or _id(message.get("previousId")) is None:
            raise Rejected(
                "message.missing_identity", "An alias message needs `userId` and `previousId`."
            )
    elif _id(message.get("anonymousId")) is None and _id(message.get("userId")) is None:
        raise Rejected(
            "message.missing_identity", "The message has neither `anonymousId` nor `userId`."
        )
    return message


def identity_keys(message: Mapping[str, Any]) -> tuple[str, ...]:
    """The keys whose earlier events this one must wait for (spec section 6).

    `previousId` may be a former `userId` or `anonymousId`, so keys are not namespaced: an
    accidental clash between an anonymous and a known id only orders more, never less.
    """
    first = message.get("previousId" if message.get("type") == "alias" else "anonymousId")
    keys = (_id(first), _id(message.get("userId")))
    return tuple(dict.fromkeys(k for k in keys if k is not None))


def person_key(message: Mapping[str, Any]) -> str:
    """The stable partitioning key Kafka producers should use: `anonymousId`, else `userId`."""
    return identity_keys(message)[0]


def message_id(message: Mapping[str, Any], topic: str, partition: int, offset: int) -> str:
    """The message's `messageId`, or a stable one derived from where the record is stored."""
    given = message.get("messageId")
    if isinstance(given, str) and given:
        return given
    return f"kafka-{topic}-{partition}-{offset}"


def integration_enabled(message: Mapping[str, Any]) -> bool:
    """Segment's integrations rule for this destination (spec section 4).

    A key naming this destination wins over `All`; any value but `false` enables (an options
    object does); with several such keys, one enabled one is enough. No object: enabled.
    """
    integrations = message.get("integrations")
    if not isinstance(integrations, dict):
        return True
    specific = [integrations[n] for n in DESTINATION_NAMES if n in integrations]
    if specific:
        return any(value is not False for value in specific)
    return integrations.get("All") is not False
