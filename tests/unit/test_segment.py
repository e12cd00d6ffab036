from __future__ import annotations

from typing import Any

import pytest

from consumer import segment
from consumer.errors import Rejected


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ([1], "message.not_an_object"),
        ({"userId": "u"}, "message.missing_type"),
        ({"type": "login", "userId": "u"}, "message.unknown_type"),
        ({"type": "Track", "userId": "u"}, "message.unknown_type"),
        ({"type": "track"}, "message.missing_identity"),
        ({"type": "track", "userId": "", "anonymousId": None}, "message.missing_identity"),
        ({"type": "track", "userId": True}, "message.invalid_field"),
        ({"type": ["track"], "userId": "u"}, "message.invalid_field"),
        ({"type": "track", "userId": "u", "event": ["E"]}, "message.invalid_field"),
        ({"type": "track", "userId": "u", "properties": "{}"}, "message.invalid_field"),
        ({"type": "track", "userId": {"id": 1}}, "message.invalid_field"),
        ({"type": "track", "userId": "u", "integrations": []}, "message.invalid_field"),
        ({"type": "alias", "userId": "u"}, "message.missing_identity"),
        ({"type": "alias", "previousId": "p", "anonymousId": "a"}, "message.missing_identity"),
    ],
)
def test_messages_segment_would_refuse(message: Any, reason: str) -> None:
    with pytest.raises(Rejected) as caught:
        segment.check(message)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("message", "keys"),
    [
        ({"type": "track", "anonymousId": "a"}, ("a",)),
        ({"type": "track", "userId": "u"}, ("u",)),
        ({"type": "identify", "anonymousId": "a", "userId": "u"}, ("a", "u")),
        ({"type": "identify", "anonymousId": "x", "userId": "x"}, ("x",)),
        ({"type": "alias", "previousId": "p", "userId": "u", "anonymousId": "a"}, ("p", "u")),
        ({"type": "page", "userId": 42}, ("42",)),
    ],
)
def test_identity_keys(message: dict[str, Any], keys: tuple[str, ...]) -> None:
    assert segment.identity_keys(message) == keys
    assert segment.person_key(message) == keys[0]


def test_message_id_is_kept_or_derived_from_the_record_position() -> None:
    assert segment.message_id({"messageId": "m"}, "t", 1, 2) == "m"
    assert segment.message_id({}, "t", 1, 2) == "kafka-t-1-2"
    assert segment.message_id({"messageId": ""}, "t", 1, 2) == "kafka-t-1-2"


@pytest.mark.parametrize(
    ("integrations", "enabled"),
    [
        (None, True),
        ({}, True),
        ({"All": True}, True),
        ({"All": False}, False),
        ({"All": False, "Movable Ink (Actions)": True}, True),
        ({"All": False, "Movable Ink": True}, True),
        ({"All": False, "MovableInk": {"option": 1}}, True),
        ({"All": True, "Movable Ink (Actions)": False}, False),
        ({"Movable Ink (Actions)": False}, False),
        ({"movable ink": False}, True),
        ({"All": False, "movableink": True}, False),
        ({"All": False, "Movable Ink": False, "MovableInk": True}, True),
        ({"Braze": False}, True),
        ("not an object", True),
    ],
)
def test_integrations_rule(integrations: Any, enabled: bool) -> None:
    message = {"type": "track", "userId": "u"}
    if integrations is not None:
        message["integrations"] = integrations
    assert segment.integration_enabled(message) is enabled
