"""Field mappings behave as Segment's mapping-kit does, and reject bad configuration at start-up."""

import json
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consumer.core.mapping import (
    UNDEFINED,
    FieldMapping,
    MappingError,
    MappingFailure,
    compile_mapping,
)

EVENT: dict[str, Any] = {
    "type": "track",
    "event": "Order Completed",
    "userId": "u-1",
    "anonymousId": "a-1",
    "properties": {
        "sku": "SKU-1",
        "total": 19.5,
        "discount": 0,
        "coupon": "",
        "note": None,
        "products": [{"product_id": "p1", "price": 2.5}, {"product_id": "p2"}],
    },
    "context": {"traits": {"email": "u@example.com"}},
    "integrations": {"Actions Amplitude": {"session_id": "s-1"}},
}


def apply(mapping: Any, event: dict[str, Any] = EVENT) -> Any:
    return compile_mapping(mapping).apply(event)


# @path


def test_whole_event_path_returns_the_event_itself() -> None:
    assert apply({"@path": "$."}) is EVENT
    assert apply({"@path": "$.."}) is EVENT


def test_compile_keeps_the_configured_source() -> None:
    source = {"sku": {"@path": "$.properties.sku"}}
    mapping = compile_mapping(source)
    assert isinstance(mapping, FieldMapping)
    assert mapping.source is source


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$.userId", "u-1"),
        ("$.properties.sku", "SKU-1"),
        ("$.properties.products[0].product_id", "p1"),
        ("$.properties.products.1.product_id", "p2"),
        ("$.properties.products.length", 2),
        ("$.integrations.Actions Amplitude.session_id", "s-1"),
        ("$.integrations['Actions Amplitude'].session_id", "s-1"),
        ('$.["integrations"].Actions Amplitude["session_id"]', "s-1"),
        ("$.properties.note", None),
        # JavaScript `a && a[k]`: reading through a falsy value returns that value.
        ("$.properties.discount.code", 0),
        ("$.properties.coupon.code.id", ""),
        ("$.properties.note.x", None),
    ],
)
def test_path_reads_like_segment(path: str, expected: Any) -> None:
    assert apply({"value": {"@path": path}}) == {"value": expected}


@pytest.mark.parametrize(
    "path",
    [
        "$.nope",
        "$.properties.nope.deeper",
        "$.properties.products[2]",
        "$.properties.products[01]",
        "$.properties.products.first",
        "$.properties.total.x",
        "$.context.traits.email.x",
    ],
)
def test_missing_value_drops_the_key(path: str) -> None:
    assert apply({"value": {"@path": path}, "kept": None}) == {"kept": None}


def test_bracketed_key_without_quote_or_digit_is_part_of_the_key() -> None:
    event = {"[txt] non": True, "a[b]": 1}
    assert apply({"x": {"@path": "$.[txt] non"}, "y": {"@path": "$.a[b]"}}, event) == {
        "x": True,
        "y": 1,
    }


def test_strings_have_length_and_indexed_utf16_units() -> None:
    event = {"s": "a\U0001f600b"}
    assert apply({"n": {"@path": "$.s.length"}, "c": {"@path": "$.s[3]"}}, event) == {
        "n": 4,
        "c": "b",
    }


def test_paths_without_the_dollar_and_the_empty_path() -> None:
    assert apply({"@path": "properties.sku"}) == "SKU-1"
    assert apply({"@path": ""}) == EVENT
    assert apply({"@path": "."}) == EVENT
    assert apply({"@path": "$['properties'].sku"}) is UNDEFINED  # "$" is a key there


def test_path_from_a_directive_fails_the_event_when_not_text() -> None:
    event = {"which": "properties.sku", "properties": {"sku": "S"}, "number": 3}
    assert apply({"@path": {"@path": "$.which"}}, event) == "S"
    with pytest.raises(MappingFailure, match="@path: expected string"):
        apply({"x": {"@path": {"@path": "$.number"}}}, event)


def test_whole_mapping_resolving_to_nothing_applies_as_undefined() -> None:
    assert apply({"@path": "$.nope"}) is UNDEFINED


def test_missing_array_items_become_null() -> None:
    assert apply([{"@path": "$.nope"}, {"@path": "$.userId"}, 1]) == [None, "u-1", 1]


# plain values and nesting


def test_plain_values_are_literals() -> None:
    source = {"a": 1, "b": [True, None, "x"], "c": {"d": 2.5}, "_metadata": {}}
    assert apply(source) == source
    assert apply("text") == "text"
    assert apply([]) == []


def test_nested_directives_inside_plain_values() -> None:
    mapping = {
        "user": {"id": {"@path": "$.userId"}, "email": {"@path": "$.context.traits.email"}},
        "items": [{"sku": {"@path": "$.properties.sku"}}, {"gone": {"@path": "$.nope"}}],
        "fixed": "yes",
    }
    assert apply(mapping) == {
        "user": {"id": "u-1", "email": "u@example.com"},
        "items": [{"sku": "SKU-1"}, {}],
        "fixed": "yes",
    }


def test_metadata_beside_a_directive_is_ignored() -> None:
    mapping = {"@template": "{{userId}}", "_metadata": {"type": "autocomplete"}}
    assert apply(mapping) == "u-1"


# @if


IF_EVENT: dict[str, Any] = {
    "a": 1,
    "b": True,
    "c": False,
    "d": None,
    "e": "",
    "z": 0,
    "l": [],
    "o": {},
}


@pytest.mark.parametrize(
    ("field", "exists", "not_blank"),
    [
        ("a", 1, 1),
        ("b", 1, 1),
        ("c", 1, 2),
        ("d", 2, 2),
        ("e", 1, 2),
        ("x", 2, 2),
        ("z", 1, 2),
        ("l", 1, 2),
        ("o", 1, 1),
    ],
)
def test_if_exists_and_blank(field: str, exists: int, not_blank: int) -> None:
    for test, expected in (("exists", exists), ("blank", not_blank)):
        mapping = {"@if": {test: {"@path": f"$.{field}"}, "then": 1, "else": 2}}
        assert apply(mapping, IF_EVENT) == expected, test


@pytest.mark.parametrize(
    ("value", "blank"),
    [([""], True), ([None], True), ([[]], True), ([0], False), (" ", False), ("0", False)],
)
def test_blank_uses_javascript_loose_equality(value: Any, blank: bool) -> None:
    mapping = {"@if": {"blank": {"@path": "$.v"}, "then": "set", "else": "blank"}}
    assert apply(mapping, {"v": value}) == ("blank" if blank else "set")


def test_if_without_the_chosen_branch_drops_the_key() -> None:
    mapping = {
        "only_then": {"@if": {"exists": {"@path": "$.nope"}, "then": True}},
        "only_else": {"@if": {"exists": {"@path": "$.userId"}, "else": True}},
        "then_null": {"@if": {"exists": {"@path": "$.userId"}, "then": None}},
    }
    assert apply(mapping) == {"then_null": None}


@pytest.mark.parametrize("falsy", [False, 0, "", None])
def test_falsy_literal_else_drops_the_key_as_in_segment(falsy: Any) -> None:
    mapping = {"x": {"@if": {"exists": {"@path": "$.nope"}, "then": 1, "else": falsy}}}
    assert apply(mapping) == {}
    wrapped = {"x": {"@if": {"exists": {"@path": "$.nope"}, "else": {"@literal": falsy}}}}
    assert apply(wrapped) == {"x": falsy}


def test_if_branches_and_literal_conditions() -> None:
    mapping = {
        "@if": {
            "exists": {"@path": "$.properties.sku"},
            "then": {"sku": {"@path": "$.properties.sku"}, "who": {"@template": "{{userId}}"}},
            "else": {"@path": "$.userId"},
        }
    }
    assert apply(mapping) == {"sku": "SKU-1", "who": "u-1"}
    assert apply(mapping, {"userId": "u-2"}) == "u-2"
    assert apply({"@if": {"exists": 1, "then": 2, "else": 3}}) == 2
    assert apply({"@if": {"exists": [], "then": 2}}) == 2


# @template


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{properties.sku}}-{{userId}}", "SKU-1-u-1"),
        ("Hello, {{ context.traits.email }}!", "Hello, u@example.com!"),
        ("{{properties.products[0].product_id}}", "p1"),
        ("[{{nope}}|{{properties.note}}|{{properties.nope.deep}}]", "[||]"),
        ("{{properties.total}} {{properties.discount}} {{properties.coupon}}", "19.5 0 "),
        ("{{properties.products}}", "[object Object],[object Object]"),
        ("{{context}}", "[object Object]"),
        ("{{{userId}}} {{userId}}}", "u-1 u-1}"),
        ("{{$.userId}}", ""),  # Segment does not strip "$." inside templates
        ("no placeholders", "no placeholders"),
    ],
)
def test_template(template: str, expected: str) -> None:
    assert apply({"@template": template}) == expected


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (True, "true"),
        (False, "false"),
        (3, "3"),
        (3.0, "3"),
        (-0.0, "0"),
        (0.1, "0.1"),
        (-2.5, "-2.5"),
        (1e-6, "0.000001"),
        (1e-7, "1e-7"),
        (1.5e-10, "1.5e-10"),
        (1e21, "1e+21"),
        (2.5e25, "2.5e+25"),
        (1e16 + 2, "10000000000000002"),
        (123456789012345680000.0, "123456789012345680000"),
        ([1, [2, None], "x"], "1,2,,x"),
        ([], ""),
        ({}, "[object Object]"),
    ],
)
def test_template_writes_values_as_javascript_strings(value: Any, text: str) -> None:
    assert apply({"@template": "{{v}}"}, {"v": value}) == text


def test_template_second_pass_expands_what_the_first_inserted_as_in_segment() -> None:
    assert apply({"@template": "{{{a}}}"}, {"a": "{{b}}", "b": "x"}) == "x"
    assert apply({"@template": "{{a}}"}, {"a": "{{b}}", "b": "x"}) == "{{b}}"


def test_template_from_a_directive() -> None:
    event = {"tpl": "{{userId}}!", "userId": "u", "n": 1}
    assert apply({"@template": {"@path": "$.tpl"}}, event) == "u!"
    with pytest.raises(MappingFailure, match="@template: expected string"):
        apply({"x": {"@template": {"@path": "$.n"}}}, event)


# @literal


def test_literal() -> None:
    assert apply({"simple": {"@literal": False}}) == {"simple": False}
    assert apply({"@literal": "{{userId}}"}) == "{{userId}}"
    assert apply({"@literal": {"a": [1, {"b": None}]}}) == {"a": [1, {"b": None}]}


def test_literal_resolves_directives_inside_as_segment_does() -> None:
    mapping = {"nested": {"@literal": {"a": {"@path": "$.a"}, "b": {"@path": "$.b"}}}}
    assert apply(mapping, {"a": "some value"}) == {"nested": {"a": "some value"}}


# @arrayPath


PRODUCT_SHAPE = {"sku": {"@path": "$.product_id"}, "price": {"@path": "$.price"}}


def test_array_path_maps_each_item_relative_to_the_item() -> None:
    mapping = {"items": {"@arrayPath": ["$.properties.products", PRODUCT_SHAPE]}}
    assert apply(mapping) == {"items": [{"sku": "p1", "price": 2.5}, {"sku": "p2"}]}


def test_array_path_without_shape_returns_the_value() -> None:
    products = EVENT["properties"]["products"]
    assert apply({"@arrayPath": ["$.properties.products"]}) is products
    assert apply({"@arrayPath": ["$.properties.products", {}]}) is products


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"product_id": "p"}, [{"sku": "p"}]),  # an object counts as an array of one
        ({"other": True}, [{}]),
        ("text", "text"),  # anything else passes through unmapped
        (7, 7),
        (None, None),
        # a null item is read through like any falsy value: `null && null.product_id`
        ([None, "x", {"product_id": "q"}], [{"sku": None}, {}, {"sku": "q"}]),
    ],
)
def test_array_path_with_a_non_array(value: Any, expected: Any) -> None:
    mapping = {"@arrayPath": ["$.v", {"sku": {"@path": "$.product_id"}}]}
    assert apply(mapping, {"v": value}) == expected


def test_array_path_missing_value_drops_the_key() -> None:
    assert apply({"x": {"@arrayPath": ["$.nope", PRODUCT_SHAPE]}}) == {}


def test_array_path_root_from_a_directive_and_directive_shape() -> None:
    root = {
        "@if": {
            "exists": {"@path": "$.properties.products"},
            "then": {"@path": "$.properties.products"},
            "else": [],
        }
    }
    assert apply({"@arrayPath": [root, {"@path": "$.price"}]}) == [2.5, None]
    assert apply({"@arrayPath": [root, {"@path": "$.price"}]}, {}) == []


def test_array_path_item_scope_and_nesting() -> None:
    event = {"orders": [{"id": 1, "lines": [{"sku": "a"}, {"sku": "b"}]}, {"id": 2}]}
    mapping = {
        "@arrayPath": [
            "$.orders",
            {
                "order": {"@template": "#{{id}}"},
                "self": {"@path": "$.id"},
                "skus": {"@arrayPath": ["$.lines", {"@path": "$.sku"}]},
            },
        ]
    }
    assert apply(mapping, event) == [
        {"order": "#1", "self": 1, "skus": ["a", "b"]},
        {"order": "#2", "self": 2},
    ]
    assert apply({"@arrayPath": ["$.tags", {"t": {"@path": "$."}}]}, {"tags": ["x", 1]}) == [
        {"t": "x"},
        {"t": 1},
    ]


# configuration errors


# Segment's validate refuses these: so do we, at start-up.
REFUSED: list[tuple[Any, str]] = [
    ({"@oops": {}}, "mapping: @oops is not a directive (supported: @if, @case, @replace"),
    ({"@path": "$.a", "bar": 1}, "mapping: a directive must be the only key of its object"),
    ({"@path": "$.a", "@template": "x"}, "(besides _metadata), found @path, @template."),
    (
        {"a": {"@path": False}},
        "mapping.a.@path: expected a string or a directive, found a boolean.",
    ),
    ({"a": {"@path": {}}}, "found an object."),
    ({"@template": 123}, "mapping.@template: expected a string or a directive, found a number."),
    ({"@if": "x"}, "mapping.@if: expected an object with"),
    ({"@if": {"@path": "$.a"}}, "found a directive."),
    (
        {"@if": {"exists": True, "then": {"@oops": {}}}},
        "mapping.@if.then: @oops is not a directive",
    ),
    ({"@if": {"exists": 1, "other": {"@oops": 1}}}, "mapping.@if.other: @oops is not a directive"),
    ({"@arrayPath": "nope"}, "mapping.@arrayPath: expected [path, item shape], found a string."),
    ({"@arrayPath": []}, "mapping.@arrayPath[0]: expected a string or a directive, found nothing."),
    ({"@arrayPath": [123]}, "mapping.@arrayPath[0]: expected a string or a directive"),
    ({"@literal": {"@nope": 1}}, "mapping.@literal: @nope is not a directive"),
    ({"@case": {"operator": 1, "value": "x"}}, '"operator" must be "lower" or "upper"'),
    ({"@case": {"operator": "lower", "value": 1}}, "mapping.@case.value: expected a string"),
    ({"@replace": {"pattern": "", "value": "x"}}, '"pattern" must be text of 1 to 10'),
    ({"@replace": {"pattern": "x" * 11, "value": "x"}}, '"pattern" must be text of 1 to 10'),
    ({"@replace": {"pattern": "x", "replacement": "y" * 11, "value": "x"}}, '"replacement"'),
    ({"@replace": {"pattern": "x"}}, 'mapping.@replace: needs a "value"'),
    ({"@replace": {"pattern": "x", "value": "v", "global": 1}}, '"global" must be true or false'),
    ({"@json": {"value": 1, "mode": "both"}}, 'mapping.@json: "mode" must be "encode" or "decode"'),
    ({"@json": {"mode": "encode"}}, 'mapping.@json: needs a "value"'),
    ({"@flatten": {"value": 1, "separator": 1}}, '"separator" must be a string'),
    ({"@merge": {"objects": {}, "direction": "left"}}, '"objects" must be an array'),
    ({"@merge": {"objects": [1], "direction": "left"}}, "objects[0]: expected an object"),
    ({"@merge": {"objects": [], "direction": "up"}}, '"direction" must be "left" or "right"'),
    ({"@transform": {"apply": 1, "mapping": {}}}, "mapping.@transform.apply: expected an object"),
    ({"@liquid": {"@path": "$.a"}}, "mapping.@liquid: expected a Liquid template"),
    ({"a": {1, 2}}, "mapping.a: a set is not a JSON value."),
]


@pytest.mark.parametrize(("mapping", "message"), REFUSED)
def test_what_segment_refuses_is_refused_at_start_up(mapping: Any, message: str) -> None:
    with pytest.raises(MappingError, match=re.escape(message)) as caught:
        compile_mapping(mapping)
    assert not caught.value.segment_accepts


# Segment accepts these but fails on every event that reaches them: refused at start-up too.
ALWAYS_FAIL: list[tuple[Any, str]] = [
    ({"@if": {"exists": False, "then": 1}}, 'mapping.@if: @if needs an "exists" or a "blank"'),
    ({"@if": {"blank": "", "then": 1}}, "Segment fails on every event that reaches it."),
    ({"@case": {"value": "x"}}, 'mapping.@case: @case requires an "operator" key'),
    ({"@case": {"operator": "title", "value": "x"}}, '"operator" must be "lower" or "upper"'),
    ({"@merge": {"objects": []}}, 'mapping.@merge: @merge requires a "direction" key'),
    ({"@flatten": {"value": 1}}, '@flatten requires a "separator"'),
    ({"@json": {"value": "", "mode": "encode"}}, '@json requires a "value"'),
    ({"@liquid": "{% if %}"}, "mapping.@liquid: the Liquid template does not parse"),
    ({"@liquid": "x" * 1001}, "limited to 1000 characters"),
    ([1, {"@oops": 1}], "mapping[1]: @oops is not a directive"),
    ({"@literal": {"a": {"@nope": 1}}}, "mapping.@literal.a: @nope is not a directive"),
]


@pytest.mark.parametrize(("mapping", "message"), ALWAYS_FAIL)
def test_what_always_fails_in_segment_is_refused_at_start_up(mapping: Any, message: str) -> None:
    with pytest.raises(MappingError, match=re.escape(message)) as caught:
        compile_mapping(mapping)
    assert caught.value.segment_accepts


def test_error_location_starts_with_the_given_name() -> None:
    with pytest.raises(ValueError, match=r"^data\.sku\.@path: expected a string"):
        compile_mapping({"sku": {"@path": 5}}, name="data")


# apply never raises


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
    | st.sampled_from(["", "{{userId}}", "properties.sku", "$.", "$.userId", "0"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["sku", "product_id", "price", "0", "length", "userId", "x"])
            | st.text(max_size=4),
            children,
            max_size=4,
        )
    ),
    max_leaves=20,
)
EVENTS = st.fixed_dictionaries(
    {},
    optional={
        key: JSON_VALUES
        for key in ("type", "userId", "properties", "context", "traits", "path", "tpl", "products")
    },
)
PROPERTY_MAPPINGS = [
    compile_mapping(m)
    for m in (
        {"@path": "$."},
        {"@path": "$.properties.products[0].sku"},
        {"@path": "$.properties.products.length"},
        {"@path": {"@path": "$.path"}},
        {"@template": "{{properties.sku}}-{{userId}}-{{{context}}}-{{ traits.0 }}"},
        {"@template": {"@path": "$.tpl"}},
        {"@literal": {"a": {"@path": "$.traits"}, "b": [{"@path": "$.nope"}]}},
        {"@if": {"exists": {"@path": "$.userId"}, "then": {"@path": "$.userId"}, "else": 0}},
        {"@if": {"blank": {"@path": "$.properties"}, "then": "set", "else": {"@path": "$."}}},
        {"@arrayPath": ["$.products"]},
        {
            "@arrayPath": [
                "$.properties.products",
                {"sku": {"@path": "$.sku"}, "all": {"@path": "$."}},
            ]
        },
        {"@arrayPath": [{"@path": "$.products"}, {"@template": "{{price}}{{0}}"}]},
        {
            "user": {"id": {"@path": "$.userId"}, "type": {"@path": "$.type"}},
            "items": [{"@path": "$.properties.sku"}, {"@path": "$.context.traits.email"}],
        },
    )
]


@given(EVENTS)
def test_apply_raises_only_mapping_failure_and_returns_json(event: dict[str, Any]) -> None:
    for mapping in PROPERTY_MAPPINGS:
        try:
            result = mapping.apply(event)
        except MappingFailure:
            continue
        json.dumps(None if result is UNDEFINED else result)
