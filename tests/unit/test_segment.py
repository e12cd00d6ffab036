from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consumer.core import segment
from consumer.core.errors import Rejected
from tests.strategies import json_values

_IDS: st.SearchStrategy[object] = st.sampled_from(
    ["a", "b", "", "1", 1, 1.0, 0, True, None, [], {}]
)
_FIELDS = st.sampled_from([*segment._FIELD_TYPES, "messageId", "version", "other"])
# Messages whose Segment fields hold any JSON value, identity fields often equal ones.
_MESSAGES = st.dictionaries(_FIELDS, json_values | _IDS, max_size=8)


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


def _fields_fit(message: dict[str, Any]) -> bool:
    def fits(value: Any, kinds: tuple[type, ...]) -> bool:
        return value is None or (isinstance(value, kinds) and not isinstance(value, bool))

    return all(fits(message.get(n), k) for n, (k, _) in segment._FIELD_TYPES.items())


@given(_MESSAGES)
def test_the_one_pass_field_check_agrees_with_the_field_walk(message: dict[str, Any]) -> None:
    expected = _fields_fit(message)
    assert segment._shape_fits((*message, *map(type, message.values()))) is expected
    assert (segment._field_error(message) is None) is expected


# Few keys and values of every JSON type: many messages of one shape, with other values.
_SHAPED = st.dictionaries(
    st.sampled_from(["type", "userId", "properties", "other"]),
    st.sampled_from(["a", "", 0, 1.5, True, None, {}, {"k": 1}, [], [1]]),
    max_size=3,
)


@given(st.lists(_SHAPED, max_size=40))
def test_the_answer_kept_per_message_shape_is_each_messages_own(
    messages: list[dict[str, Any]],
) -> None:
    """Kept per shape (keys, exact value types), at most MAX_SHAPES of them."""
    segment._shape_fits.cache_clear()
    for message in messages:
        assert (segment._field_error(message) is None) is _fields_fit(message)
    assert segment._shape_fits.cache_info().currsize <= segment.MAX_SHAPES


@given(st.sampled_from(["track", "alias"]), _IDS | json_values, _IDS | json_values)
def test_identity_keys_are_the_ids_in_order_without_repeats(
    kind: str, first: Any, user: Any
) -> None:
    message = {
        "type": kind,
        "previousId" if kind == "alias" else "anonymousId": first,
        "userId": user,
    }
    ids = (segment._id(first), segment._id(user))
    expected = tuple(dict.fromkeys(k for k in ids if k is not None))
    assert segment.identity_keys(message) == expected


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


_INTEGRATION_KEYS = st.sampled_from([*segment.DESTINATION_NAMES, "All", "Braze", "movableink"])


@given(st.dictionaries(_INTEGRATION_KEYS, st.booleans() | json_values, max_size=5))
def test_integrations_rule_on_any_object(integrations: dict[str, Any]) -> None:
    specific = [integrations[n] for n in segment.DESTINATION_NAMES if n in integrations]
    if specific:
        expected = any(value is not False for value in specific)
    else:
        expected = integrations.get("All") is not False
    message = {"type": "track", "userId": "u", "integrations": integrations}
    assert segment.integration_enabled(message) is expected


def test_an_integer_message_id_is_kept_as_its_text() -> None:
    """An Avro `long` messageId; a boolean or a float is not an id."""
    assert (
        segment.message_id({"messageId": 12345678901234567890}, "t", 1, 2) == "12345678901234567890"
    )
    assert segment.message_id({"messageId": True}, "t", 1, 2) == "kafka-t-1-2"
    assert segment.message_id({"messageId": 1.5}, "t", 1, 2) == "kafka-t-1-2"
