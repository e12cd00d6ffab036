"""Field mappings behave as Segment's mapping-kit does, and reject bad configuration at start-up."""

import json
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consumer.mapping import FieldMapping, MappingError, compile_mapping

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
        "$.properties.sku.length",  # JavaScript string properties are not emulated
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


def test_path_from_a_directive_is_read_leniently_and_never_raises() -> None:
    event = {"which": "properties.sku", "properties": {"sku": "S"}, "number": 3}
    assert apply({"@path": {"@path": "$.which"}}, event) == "S"
    assert apply({"x": {"@path": {"@path": "$.number"}}}, event) == {}


def test_whole_mapping_resolving_to_nothing_applies_as_none() -> None:
    assert apply({"@path": "$.nope"}) is None


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


IF_EVENT = {"a": 1, "b": True, "c": False, "d": None, "e": "", "z": 0, "l": [], "o": {}}


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
    assert apply({"x": {"@template": {"@path": "$.n"}}}, event) == {}


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


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"@oops": {}}, "mapping: @oops is unknown (supported: @arrayPath, @if, @literal, @path"),
        ({"x": {"@case": {}}}, "mapping.x: @case is a Segment directive not supported here"),
        ({"@path": "$.a", "bar": 1}, "mapping: a directive must be the only key of its object"),
        ({"@path": "$.a", "@template": "x"}, "(besides _metadata), found @path, @template."),
        ({"a": {"@path": False}}, 'mapping.a.@path: expected a path such as "$.properties.sku"'),
        ({"a": {"@path": {}}}, "or a directive, found an object."),
        (
            {"@path": "properties.sku"},
            "'properties.sku' must start with \"$.\" (write '$.properties.sku').",
        ),
        ({"@path": "$['a b']"}, "(write \"$.['a b']\")."),
        ({"@path": ""}, "the path '' must start with \"$.\" (write '$.')."),
        ({"@path": "$"}, "(write '$.')."),
        (
            {"@template": 123},
            "mapping.@template: expected a template string or a directive, found a number.",
        ),
        ({"@if": "x"}, 'mapping.@if: expected an object with "exists" or "blank", found a string.'),
        ({"@if": {"@path": "$.a"}}, "found a directive."),
        (
            {"@if": {"exists": 1, "thne": 2}},
            "mapping.@if: unknown key thne (allowed: exists, blank",
        ),
        ({"@if": {"then": 1}}, 'mapping.@if: needs exactly one of "exists" and "blank".'),
        (
            {"@if": {"exists": 1, "blank": 1, "then": 1}},
            'needs exactly one of "exists" and "blank"',
        ),
        (
            {"@if": {"exists": False, "then": 1}},
            "mapping.@if.exists: false is not a usable condition.",
        ),
        ({"@if": {"blank": None, "then": 1}}, "mapping.@if.blank: null is not a usable condition."),
        ({"@if": {"exists": {"@path": "$.a"}}}, 'mapping.@if: needs "then" or "else".'),
        ({"@if": {"exists": True, "then": {"@oops": {}}}}, "mapping.@if.then: @oops is unknown"),
        (
            {"@arrayPath": "nope"},
            "mapping.@arrayPath: expected [path] or [path, item shape], found a string.",
        ),
        ({"@arrayPath": []}, "found 0 items."),
        ({"@arrayPath": ["$.a", {}, 3]}, "found 3 items."),
        (
            {"@arrayPath": [123]},
            "mapping.@arrayPath[0]: expected a path or a directive, found a number.",
        ),
        ({"@arrayPath": ["a"]}, "mapping.@arrayPath[0]: the path 'a' must start with \"$.\""),
        (
            {"@arrayPath": ["$.a", "shape"]},
            "mapping.@arrayPath[1]: the item shape must be an object",
        ),
        (
            {"@arrayPath": ["$.a", {"sku": {"@path": "sku"}}]},
            "mapping.@arrayPath[1].sku.@path: the path",
        ),
        ({"@literal": {"a": {"@nope": 1}}}, "mapping.@literal.a: @nope is unknown"),
        ([1, {"@oops": 1}], "mapping[1]: @oops is unknown"),
        ({"a": {1, 2}}, "mapping.a: a set is not a JSON value."),
    ],
)
def test_configuration_errors(mapping: Any, message: str) -> None:
    with pytest.raises(MappingError, match=re.escape(message)):
        compile_mapping(mapping)


def test_error_location_starts_with_the_given_name() -> None:
    with pytest.raises(ValueError, match=r"^data\.sku\.@path: the path 'sku' must start"):
        compile_mapping({"sku": {"@path": "sku"}}, name="data")


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
def test_apply_never_raises_and_returns_json(event: dict[str, Any]) -> None:
    for mapping in PROPERTY_MAPPINGS:
        json.dumps(mapping.apply(event))
