"""The trigger language: Segment's reading of each form, its quirks, and what we refuse."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from consumer.core.triggers import Trigger, TriggerSyntaxError, parse

PRESET = 'type = "identify" or type = "track" or type = "page" or type = "screen" or type = "group"'


def matches(trigger: str, event: dict[str, Any]) -> bool:
    return parse(trigger).matches(event)


# --- the API ---------------------------------------------------------------------------------


def test_parse_returns_a_frozen_trigger_that_keeps_its_text() -> None:
    trigger = parse(PRESET)
    assert isinstance(trigger, Trigger)
    assert trigger.text == PRESET
    assert trigger == parse(PRESET)
    assert PRESET in repr(trigger)
    with pytest.raises(dataclasses.FrozenInstanceError):
        trigger.text = "x"  # type: ignore[misc]


def test_syntax_error_is_a_value_error_with_position_and_text() -> None:
    text = 'type = "track" AND event = "x"'
    with pytest.raises(TriggerSyntaxError) as caught:
        parse(text)
    error = caught.value
    assert isinstance(error, ValueError)
    assert error.position == 15
    assert error.text == text
    assert str(error).startswith("at position 15: ")
    assert str(error).endswith(".") and "\n" not in str(error)


@pytest.mark.parametrize("kind", ["identify", "track", "page", "screen", "group"])
def test_default_preset_matches_the_five_message_types(kind: str) -> None:
    assert matches(PRESET, {"type": kind})


@pytest.mark.parametrize("event", [{"type": "alias"}, {"type": "Track"}, {}, {"type": None}])
def test_default_preset_skips_alias_and_anything_else(event: dict[str, Any]) -> None:
    assert not matches(PRESET, event)


def test_blanks_tabs_and_newlines_separate_tokens() -> None:
    assert matches('\ttype = "track"\nand\n  event = "A"  ', {"type": "track", "event": "A"})


# --- comparisons -----------------------------------------------------------------------------


def test_equals_compares_exact_case_sensitive_text() -> None:
    assert matches('event = "Order Completed"', {"event": "Order Completed"})
    assert not matches('event = "Order Completed"', {"event": "order completed"})
    assert not matches('properties.sku = "123"', {"properties": {"sku": 123}})
    assert matches('properties.sku = "123"', {"properties": {"sku": "123"}})


def test_not_equals_text_is_true_when_the_field_is_missing() -> None:
    assert matches('event != "Order Completed"', {"type": "identify"})
    assert matches('properties.plan != "pro"', {})
    assert matches('properties.plan != "pro"', {"properties": {"plan": None}})
    assert not matches('properties.plan != "pro"', {"properties": {"plan": "pro"}})


def test_number_equals_needs_a_json_number() -> None:
    assert matches("properties.qty = 3", {"properties": {"qty": 3}})
    assert matches("properties.qty = 3", {"properties": {"qty": 3.0}})
    assert matches("properties.qty = 007", {"properties": {"qty": 7}})
    assert not matches("properties.qty = 3", {"properties": {"qty": "3"}})
    assert not matches("properties.qty = 1", {"properties": {"qty": True}})


def test_number_not_equals_is_false_when_missing_or_not_a_number() -> None:
    trigger = "properties.x != 456"
    assert matches(trigger, {"properties": {"x": 455}})
    assert not matches(trigger, {"properties": {"x": 456}})
    assert not matches(trigger, {})
    assert not matches(trigger, {"properties": {"x": "455"}})
    assert not matches(trigger, {"properties": {"x": None}})


@pytest.mark.parametrize(
    ("trigger", "hits", "misses"),
    [
        ("properties.price > 10", [11, 10.5], [10, 9, "11", None, True]),
        ("properties.price >= 10", [10, 11], [9.99, "10"]),
        ("properties.price < 10", [9, -1.5], [10, "9", False]),
        ("properties.price <= -1.5", [-1.5, -2], [0, "-2"]),
    ],
)
def test_orderings_need_a_json_number(trigger: str, hits: list[Any], misses: list[Any]) -> None:
    for value in hits:
        assert matches(trigger, {"properties": {"price": value}}), value
    for value in misses:
        assert not matches(trigger, {"properties": {"price": value}}), value
    assert not matches(trigger, {})


def test_orderings_work_on_plain_fields_too() -> None:
    assert matches("userId < 5", {"userId": 4})
    assert not matches("userId < 5", {"userId": "4"})


def test_large_integers_compare_as_javascript_doubles() -> None:
    assert matches("properties.n = 9007199254740992", {"properties": {"n": 2**53 + 1}})
    assert matches("properties.n > 1", {"properties": {"n": 10**400}})


def test_a_number_on_a_plain_field_is_compared_as_text() -> None:
    assert matches("userId = 123", {"userId": "123"})
    assert not matches("userId = 123", {"userId": 123})
    assert matches("event = -2.5", {"event": "-2.5"})
    assert matches("userId != 123", {"userId": 123})


# --- null, true and false --------------------------------------------------------------------


@pytest.mark.parametrize("field", ["name", "userId", "properties.a", "traits.a", "context.a"])
def test_null_means_missing_or_null_on_name_userid_and_paths(field: str) -> None:
    root, _, key = field.partition(".")

    def event(value: Any) -> dict[str, Any]:
        return {root: {key: value}} if key else {root: value}

    assert matches(f"{field} = null", {})
    assert matches(f"{field} = null", event(None))
    assert not matches(f"{field} = null", event(""))
    assert matches(f"{field} != null", event(0))
    assert not matches(f"{field} != null", event(None))
    assert not matches(f"{field} != null", {})


@pytest.mark.parametrize("field", ["type", "event"])
def test_null_is_the_text_null_for_type_and_event(field: str) -> None:
    assert matches(f"{field} != null", {})
    assert matches(f"{field} != null", {field: None})
    assert not matches(f"{field} != null", {field: "null"})
    assert matches(f"{field} = null", {field: "null"})
    assert not matches(f"{field} = null", {})


def test_equals_true_and_false_need_real_booleans() -> None:
    assert matches("properties.vip = true", {"properties": {"vip": True}})
    assert not matches("properties.vip = true", {"properties": {"vip": "true"}})
    assert not matches("properties.vip = true", {"properties": {"vip": 1}})
    assert matches("traits.vip = false", {"traits": {"vip": False}})
    assert not matches("traits.vip = false", {"traits": {"vip": 0}})
    assert not matches("traits.vip = false", {})
    assert matches("userId = true", {"userId": True})


def test_not_equals_true_compares_with_the_text_true() -> None:
    assert matches("properties.vip != true", {"properties": {"vip": True}})
    assert not matches("properties.vip != true", {"properties": {"vip": "true"}})
    assert matches("properties.vip != false", {})
    assert not matches("context.x != false", {"context": {"x": "false"}})


def test_true_is_the_text_true_on_type_event_and_name() -> None:
    assert matches("name = true", {"name": "true"})
    assert not matches("name = true", {"name": True})
    assert matches("event = false", {"event": "false"})


def test_quoted_true_is_text() -> None:
    assert matches('traits.vip = "true"', {"traits": {"vip": "true"}})
    assert not matches('traits.vip = "true"', {"traits": {"vip": True}})


# --- reading paths ---------------------------------------------------------------------------


def test_nested_paths() -> None:
    event = {"properties": {"cart": {"owner": {"plan": "pro"}}}}
    assert matches('properties.cart.owner.plan = "pro"', event)
    assert matches("properties.cart.owner.seats = null", event)


@pytest.mark.parametrize("falsy", [0, "", False, None, 0.0])
def test_reading_through_a_falsy_value_returns_that_value(falsy: Any) -> None:
    event = {"properties": {"discount": falsy}}
    present = falsy is not None
    assert matches("properties.discount.code != null", event) is present
    assert matches("properties.discount.code = null", event) is not present


@pytest.mark.parametrize("truthy", [{}, [], 5, True, "x"])
def test_reading_through_a_truthy_non_object_is_missing(truthy: Any) -> None:
    assert matches("properties.discount.code = null", {"properties": {"discount": truthy}})


def test_reading_through_zero_yields_the_zero() -> None:
    assert matches("properties.discount.code = 0", {"properties": {"discount": 0}})


def test_traits_reads_top_level_traits_only() -> None:
    event = {"type": "track", "context": {"traits": {"plan": "pro"}}}
    assert not matches('traits.plan = "pro"', event)
    assert matches("traits.plan = null", event)
    assert matches('context.traits.plan = "pro"', event)


def test_a_backslash_escapes_a_space_in_a_name() -> None:
    assert matches('properties.property\\ 1 = "x"', {"properties": {"property 1": "x"}})
    assert matches('properties.first-name = "Ann"', {"properties": {"first-name": "Ann"}})
    assert matches("properties.\\1st = 1", {"properties": {"1st": 1}})


def test_an_escaped_keyword_is_a_plain_name() -> None:
    assert matches('properties.\\and = "x"', {"properties": {"and": "x"}})
    assert matches('properties.a.\\null = "x"', {"properties": {"a": {"null": "x"}}})


def test_escaped_index_reads_an_array_item() -> None:
    event = {"properties": {"products": [{"sku": "A"}, {"sku": "B"}]}}
    assert matches('properties.products.\\1.sku = "B"', event)
    assert matches("properties.products.\\2.sku = null", event)
    assert matches("properties.products.\\01 = null", event)


def test_escaped_dots_and_brackets_split_the_path_as_in_segment() -> None:
    # What generateFql writes for a condition on `products[0].sku` (oracle-confirmed).
    event = {"properties": {"products": [{"sku": "A"}], "a": {"b": 1}, "a.b": 2}}
    assert matches('properties.products\\[0\\].sku = "A"', event)
    assert matches("properties.a\\.b = 1", event)  # the key "a.b" cannot be reached
    assert not matches("properties.a\\.b = 2", event)


def test_bare_words_are_the_text_segment_compares_with() -> None:
    assert matches("type = track or type = page", {"type": "page"})
    assert matches("event = Infinity", {"event": "Infinity"})
    assert matches("properties.state = undefined", {"properties": {"state": "undefined"}})
    assert not matches("properties.state = undefined", {"properties": {}})
    assert matches("event != a\\ b", {"event": "a  b"})
    assert matches("properties.n < Infinity", {"properties": {"n": 5}})


def test_numbers_with_trailing_zeros_are_the_text_javascript_writes() -> None:
    assert matches("event = 1.50", {"event": "1.5"})
    assert not matches("event = 1.50", {"event": "1.50"})
    assert matches("userId = 2.0", {"userId": "2"})


def test_a_number_in_contains_is_its_javascript_text() -> None:
    assert matches("contains(properties.a, 5)", {"properties": {"a": "x5"}})
    assert matches("contains(event, 1.50)", {"event": "v1.5"})
    assert not matches("contains(properties.a, 5)", {"properties": {"a": 5}})


def test_length_of_arrays_and_strings() -> None:
    assert matches("properties.products.length >= 2", {"properties": {"products": [1, 2]}})
    assert matches("properties.sku.length = 3", {"properties": {"sku": "abc"}})
    assert matches("properties.sku.length = 2", {"properties": {"sku": "\U0001f600"}})  # UTF-16
    assert matches('properties.sku.\\0 = "a"', {"properties": {"sku": "abc"}})
    assert matches("properties.meta.length = null", {"properties": {"meta": {}}})


# --- functions -------------------------------------------------------------------------------


def test_contains_and_not_contains() -> None:
    assert matches('contains(event, "Order")', {"event": "Order Completed"})
    assert not matches('contains(event, "order")', {"event": "Order Completed"})
    assert matches('!contains(event, "Order")', {"event": "Product Viewed"})
    assert matches('contains(properties.name, "Nike")', {"properties": {"name": "Air Nike"}})
    assert matches('contains(traits.email, "@")', {"traits": {"email": "a@b"}})
    assert matches('contains(context.page.url, "/p/")', {"context": {"page": {"url": "/p/1"}}})
    assert matches('contains(name, "Home")', {"name": "Home page"})
    assert matches('contains(userId, "")', {"userId": "u"})


@pytest.mark.parametrize("value", [None, 12, True, ["Order"], {"a": "Order"}])
def test_contains_and_not_contains_are_both_false_on_missing_or_non_text(value: Any) -> None:
    event = {} if value is None else {"event": value}
    assert not matches('contains(event, "Order")', event)
    assert not matches('!contains(event, "Order")', event)


def test_match_tests_prefix_and_suffix() -> None:
    event = {"event": "Order Completed"}
    assert matches('match(event, "Order*")', event)
    assert not matches('match(event, "Completed*")', event)
    assert matches('match(event, "*Completed")', event)
    assert not matches('match(event, "*Order")', event)
    assert matches('!match(event, "Product*")', event)
    assert matches('!match(event, "*Viewed")', event)
    assert not matches('!match(event, "*Completed")', event)
    assert matches('match(event, "*")', event)


@pytest.mark.parametrize("value", [None, 12, False, []])
def test_match_and_not_match_are_both_false_on_missing_or_non_text(value: Any) -> None:
    event = {"properties": {"sku": value}}
    assert not matches('match(properties.sku, "A*")', event)
    assert not matches('!match(properties.sku, "A*")', event)


def test_function_name_may_be_followed_by_a_space() -> None:
    assert matches('contains (event, "x")', {"event": "xy"})


# --- and, or, parentheses --------------------------------------------------------------------


def test_and_or() -> None:
    trigger = 'type = "track" and event = "A"'
    assert matches(trigger, {"type": "track", "event": "A"})
    assert not matches(trigger, {"type": "track", "event": "B"})
    assert matches('event = "A" or event = "B"', {"event": "B"})


def test_no_precedence_the_last_conjunction_wins() -> None:
    # Read as or(type, event, name), not (type and event) or name.
    trigger = 'type = "track" and event = "A" or name = "N"'
    assert matches(trigger, {"type": "identify", "event": "B", "name": "N"})
    assert matches(trigger, {"type": "track"})
    # Read as and(type, event, name), not type or (event and name).
    trigger = 'type = "track" or event = "A" and name = "N"'
    assert not matches(trigger, {"type": "track"})
    assert matches(trigger, {"type": "track", "event": "A", "name": "N"})


def test_the_last_conjunction_wins_inside_a_group_only() -> None:
    trigger = 'type = "track" and (event = "A" and event = "B" or event = "C")'
    assert matches(trigger, {"type": "track", "event": "C"})
    assert not matches(trigger, {"type": "page", "event": "C"})


def test_one_level_of_parentheses() -> None:
    trigger = (
        '(event = "A" and properties.price >= 100) or (event = "B" and properties.total >= 500)'
    )
    assert matches(trigger, {"event": "A", "properties": {"price": 100}})
    assert matches(trigger, {"event": "B", "properties": {"total": 500}})
    assert not matches(trigger, {"event": "A", "properties": {"total": 500}})
    assert matches('(type = "track")', {"type": "track"})


@pytest.mark.parametrize(
    "text",
    ['type="track"', 'type= "track"', 'type ="track"', 'type!= "track"', "properties.n <5"],
)
def test_spacings_segment_reads_as_written_are_accepted(text: str) -> None:
    spaced = parse(
        text.replace("!=", " != ").replace("=", " = ").replace("! =", "!=").replace("<", " < ")
    )
    for event in ({"type": "track"}, {"type": "page"}, {"properties": {"n": 4}}, {}):
        assert parse(text).matches(event) == spaced.matches(event)


@pytest.mark.parametrize(
    ("text", "hits", "misses"),
    [
        ('properties.n > "10"', [11, 10.5], [10, "11", None]),
        ('properties.n <= " 0x10 "', [16, -1], [17]),
        ('properties.n >= ""', [0, 3], [-1]),
        ('properties.n < "Infinity"', [1e300], ["1"]),
        ("properties.n > true", [2], [1]),
        ("properties.n >= false", [0], [-0.5]),
    ],
)
def test_orderings_convert_quoted_numbers_and_booleans_with_number(
    text: str, hits: list[Any], misses: list[Any]
) -> None:
    trigger = parse(text)
    assert all(trigger.matches({"properties": {"n": n}}) for n in hits)
    assert not any(trigger.matches({"properties": {"n": n}}) for n in misses)


def test_a_function_inside_a_group_where_segment_s_flattening_means_the_same() -> None:
    trigger = parse('(contains(event, "a") and type = "x") and name = "n"')
    assert trigger.matches({"event": "ab", "type": "x", "name": "n"})
    assert not trigger.matches({"event": "ab", "type": "y", "name": "n"})
    with pytest.raises(TriggerSyntaxError, match="ends a group"):
        parse('(contains(event, "a") and type = "x") or name = "n"')


def test_a_function_may_end_a_group() -> None:
    trigger = 'type = "track" and (properties.price >= 100 or contains(event, "Order"))'
    assert matches(trigger, {"type": "track", "event": "Order Completed"})
    assert matches(trigger, {"type": "track", "properties": {"price": 150}})
    assert not matches(trigger, {"type": "page", "event": "Order Completed"})


# --- refused at parse time -------------------------------------------------------------------

# Each malformed form, where the message points, and the parts of the message that say how
# Segment reads it (ignores, misreads or rejects it) and how to write what was meant.
REJECTED: list[tuple[str, int, list[str]]] = [
    ('type = "a" AND event = "b"', 11, ["ignores the unknown word AND", "write and"]),
    ('type = "a" and event = "b" Or name = "c"', 27, ["unknown word Or", "write or"]),
    ('anonymousId = "x"', 0, ["ignores the unknown word anonymousId", "a field is type"]),
    ('Type = "track"', 0, ["unknown word Type", "write type"]),
    ('Properties.plan = "pro"', 0, ["write properties.plan"]),
    ("type = 'track'", 7, ["keeps single quotes", "'track' with its quotes", 'write "track"']),
    ('match(event, "Order")', 13, ["drop the first character", 'ends with "rder"', '"Order*"']),
    ('match(event, "*Order*")', 13, ['starts with "*Order"', "contains()"]),
    ('match(event, "")', 13, ["accept any text", '"abc*"']),
    ("type =", 5, ['the text "eos"', "write a value"]),
    ('(type = ) or event = "x"', 6, ['the text "eos"']),
    ('type = and event = "x"', 5, ['the text "and"']),
    ('((type = "a"))', 1, ["cannot be nested", "one level"]),
    ('type = "a" and (event = "b" or (name = "c"))', 31, ["cannot be nested"]),
    ('properties.items[0].sku = "x"', 16, ["index such as [0]", "properties.items.\\0"]),
    ("properties.price>=100", 16, ["put spaces around >=", "cannot parse"]),
    ("properties.price >=100", 17, ['read > followed by the text "="', "never matches"]),
    ('type!="track"', 4, ["put spaces around !=", 'type != "track"', "cannot parse"]),
    ('contains(type, "tr")', 9, ["silently ignores contains(type", "compare type with ="]),
    ('!match(type, "tr*")', 7, ["silently ignores match(type", "compare type with ="]),
    ('contains(anonymousId, "a")', 9, ["silently ignores contains(anonymousId"]),
    ('type = "a"or type = "b"', 10, ["space after the closing quote", "another string"]),
    ('type = "a" or(type = "b")', 11, ["space after or", "or( as an unknown word"]),
    ('type = "a" and(type = "b")', 11, ["space after and"]),
    ('!type = "a"', 0, ["only negates contains() and match()", "not be negated"]),
    ('!(type = "a")', 0, ["only negates contains() and match()"]),
    ('type = "a" event = "b"', 11, ["and/or is missing before event", "silently join"]),
    ('(type = "a") (event = "b")', 13, ["and/or is missing"]),
    ('type = "a" and', 11, ["and has no condition after it", "operator of the whole trigger"]),
    ('(type = "a" or)', 12, ["or has no condition after it", "whole group"]),
    ('or type = "a"', 0, ["or has no condition before it"]),
    ('type = "a" and or event = "b"', 15, ["two conjunctions in a row", "only the last"]),
    ('type = "a" and ()', 15, ["parentheses are empty", "fail on every event"]),
    ('type = "a" and (contains(event, "x") or event = "y")', 35, ["ends a group at the )"]),
    ("properties.vip = True", 17, ['the text "True"', "write true"]),
    ("traits.x = NULL", 11, ["write null"]),
    ("event = 007", 8, ['compare event with the text "7"', 'write "007"']),
    ("userId = 100000000000000000000000", 9, ['the text "1e+23"']),
    ("contains(event, +5)", 16, ['look for the text "5", not "+5"']),
    ("properties.a = properties.b", 15, ['the text "properties.b", not with that field']),
    ("event = Null", 8, ['the text "Null", not null', "write null"]),
    ("properties.\\[\\] = 1", 0, ["names no key"]),
    ("properties.price >= null", 20, ["compares numbers", "NaN", "never match"]),
    ('properties.price > "ten"', 19, ["compares numbers", "NaN", "write a number"]),
    ("userId > true", 9, ["compares numbers", "reads true as NaN"]),
    ("properties.price > 5 and properties.price<9", 41, ["put spaces around <", "cannot parse"]),
    ('properties = "x"', 0, ["read properties alone as properties.properties"]),
    ('type.name = "x"', 0, ["type has no parts", "ignore .name"]),
    ('properties.and = "x"', 11, ["keyword and", "properties.\\and"]),
    ("traits.or != null", 7, ["keyword or", "traits.\\or"]),
    ("context.null = 1", 8, ["keyword null", "context.\\null"]),
    ("properties.1st = 1", 11, ["starts with '1'", "properties.\\1st"]),
    ("properties.x > 1e5", 16, ["reads the number 1 and then e5 separately"]),
    ("", 0, ["the trigger is empty"]),
    ("   ", 0, ["the trigger is empty"]),
    ('type = "track', 7, ['no closing "']),
    ("type = 'track", 7, ["double quotes"]),
    ('( type = "a"', 0, ["never closed"]),
    ("(", 0, ["never closed"]),
    ('type = "a" )', 11, ["this ) has no ("]),
    ('! contains(event, "x")', 0, ["! must be followed by = or"]),
    ('type == "a"', 5, ["== is not an operator", 'the text "="']),
    ('type "track"', 5, ["expected = != < <= > or >= after type", "never match"]),
    ("type", 4, ["expected = != < <= > or >= after type"]),
    ('"track"', 0, ["expected a condition", "Segment ignores it"]),
    ('type = "a" "b"', 11, ['unexpected "b"']),
    ("properties. = 1", 10, ["ends with a dot"]),
    ("properties.a\\", 12, ["backslash at the end"]),
    ("properties.caf\u00e9 = 1", 14, ["unless it is escaped", "\\\u00e9"]),
    ('properties.a"x" = 1', 12, ["put a space after properties.a"]),
    ("properties.x \u2265 5", 13, ["unexpected character"]),
    ('type = "a"\r\nor type = "b"', 10, ["space after the closing quote"]),
    ('type = "a" \r\nor type = "b"', 11, ["unexpected character '\\r'"]),
    ("properties.x > 1.", 15, ["1. is not a number"]),
    ("properties.x > 1.2.3", 15, ["is not a number"]),
    ("properties.x > -", 15, ["- is not a number"]),
    ('.5 = "x"', 0, ["a dot must sit between"]),
    ("[0]", 0, ["[ is not part of the trigger language"]),
    ('contains event, "x"', 9, ["expected ( after contains"]),
    ('contains("event", "x")', 9, ["first argument of contains() must be a field"]),
    ('contains(event "x")', 15, ["expected a comma"]),
    ("contains(event, x)", 16, ["must be a double-quoted string", 'contains(event, "text")']),
    ('match(event, "x*"', 17, ["expected ) to close match("]),
]


@pytest.mark.parametrize(("text", "position", "fragments"), REJECTED, ids=[r[0] for r in REJECTED])
def test_malformed_triggers_are_refused_with_a_useful_message(
    text: str, position: int, fragments: list[str]
) -> None:
    with pytest.raises(TriggerSyntaxError) as caught:
        parse(text)
    message = str(caught.value)
    assert caught.value.position == position, message
    assert message.startswith(f"at position {position}: "), message
    for fragment in fragments:
        assert fragment in message, message
