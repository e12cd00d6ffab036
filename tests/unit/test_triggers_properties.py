"""Properties of the trigger language: evaluation never raises, parsing raises only our error."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from consumer.core.triggers import TriggerSyntaxError, parse

# One trigger per operator and reading rule, so every compiled test meets arbitrary data.
TRIGGERS = [
    parse(text)
    for text in [
        'type = "identify" or type = "track" or type = "page" or type = "screen" or type = "group"',
        'type = "track" and (properties.price >= 100 or contains(event, "Order"))',
        'event != "x" and name = "y" or userId != "z"',
        "userId = 123 or event = null or type != null or name = true",
        "properties.a = 1 or properties.a != 1 or properties.a < 1 or properties.a <= -1.5",
        "traits.a > 0 or traits.a >= 0 or context.a = 0",
        "properties.a = null or traits.a.b != null or context.a.b.c = null",
        "properties.a = true or traits.a = false or context.a != true or userId = false",
        'contains(properties.a, "x") or !contains(traits.a.b, "") or contains(name, "n")',
        'match(properties.a, "x*") or !match(context.a, "*y") or match(userId, "*")',
        "properties.a.length > 1 or properties.a.\\0.b = null or properties.a.\\1 != null",
        'properties.a\\ b.c = "d" and (traits.x = null or traits.x.y.z != 1)',
    ]
]
_FIELD_KEYS = st.sampled_from(
    ["type", "event", "name", "userId", "properties", "traits", "context"]
)
_KEYS = _FIELD_KEYS | st.sampled_from(["a", "b", "c", "x", "y", "z", "0", "1", "length", "a b"])
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats()
    | st.text(max_size=8)
    | st.sampled_from(["track", "identify", "x", "Order", "", "1", "123", "true", "null"])
)
JSON = st.recursive(
    _SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(_KEYS | st.text(max_size=4), children)
    ),
    max_leaves=25,
)
EVENTS = st.dictionaries(_KEYS | st.text(max_size=6), JSON, max_size=8)


@given(EVENTS)
def test_matches_never_raises_on_json_events(event: dict[str, Any]) -> None:
    for trigger in TRIGGERS:
        assert trigger.matches(event) in (True, False)


def _parses_or_says_where(text: str) -> None:
    try:
        parse(text)
    except TriggerSyntaxError as error:
        assert error.text == text
        assert 0 <= error.position <= len(text)
        assert str(error).startswith(f"at position {error.position}: ")


@given(st.text())
def test_parser_raises_only_trigger_syntax_error_on_any_text(text: str) -> None:
    _parses_or_says_where(text)


_PIECES = (
    st.sampled_from(
        ["type", "event", "name", "userId", "properties.a", "traits.b.c", "context.\\0"]
    )
    | st.sampled_from(
        ["contains", "match", "!", "and", "or", "AND", "(", ")", ",", "[0]", ".", "\\"]
    )
    | st.sampled_from(["=", "!=", "<", "<=", ">", ">=", "=="])
    | st.sampled_from(['"x"', '"*x"', '"x*"', "'x'", '"', "1", "-2.5", "1.", "true", "null"])
    | st.sampled_from([" ", " ", " ", "\t", "\n", "\r"])
)


@given(st.lists(_PIECES, max_size=20).map("".join))
def test_parser_raises_only_trigger_syntax_error_on_trigger_like_text(text: str) -> None:
    _parses_or_says_where(text)


_WORDS = st.text(st.sampled_from("abAB1 _-"), max_size=4)


class _Text(str):
    """Not JSON, but equal to its text: takes the one-condition-at-a-time path."""


@given(
    st.sampled_from(["type", "event", "name", "userId"]),
    st.lists(_WORDS, min_size=2, max_size=5),
    EVENTS,
    JSON | _WORDS | _WORDS.map(_Text),
)
def test_an_or_of_texts_on_one_field_is_any_of_its_equalities(
    field: str, texts: list[str], event: dict[str, Any], value: Any
) -> None:
    trigger = parse(" or ".join(f'{field} = "{text}"' for text in texts))
    event[field] = value
    assert trigger.matches(event) is any(text == event.get(field) for text in texts)
