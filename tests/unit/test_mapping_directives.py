"""Each directive on one event, against values Segment's actions-core 3.170.0 gave (frozen).

Regenerate by running the cases through tests/oracle/oracle.js; the differential suite in
tests/differential/ checks the same semantics on generated mappings.
"""

from typing import Any

import pytest

from consumer.core.mapping import UNDEFINED, MappingFailure, compile_mapping

EVENT: dict[str, Any] = {
    "type": "track",
    "userId": "U-1",
    "s": "Abc😀",
    "n": 10.0,
    "t": "a.b.a",
    "properties": {
        "a": {"b": [1, {"c": None}]},
        "x y": 0,
        "list": ["p", "q"],
        "j": '{"k":[1,2]}',
        "bad": "{x",
    },
    "z": {"sized": {"length": 3}, "boxed": {"length": {"x": 1}}, "zero": {"length": 0}},
}
SEGMENT: list[tuple[Any, Any]] = [
    ({"@liquid": "{{ s | nosuch | upcase }}"}, "ABC😀"),  # liquidjs ignores an unknown filter
    ({"@liquid": "{{ n | append: '$' }} {{ properties.list | upcase }}"}, "10$ PQ"),
    (
        {"@liquid": "{{ n | divided_by: 4 }} {{ 2.5 | round }} {{ t | split: 'a' | size }}"},
        "2.5 3 2",
    ),
    ({"@liquid": "{{ s | size }} {{ properties | size }} {{ properties.list | size }}"}, "5 0 2"),
    (  # `(v && v.length) || 0`: an object's own `length` member
        {"@liquid": "{{ z.sized | size }} {{ z.boxed | size }} {{ z.zero | size }} {{ n | size }}"},
        "3 [object Object] 0 0",
    ),
    (  # `v[0]` and `v[v.length - 1]`: texts by UTF-16 unit, objects by their members
        {
            "@liquid": "{{ s | first }}|{{ s | last }}|{{ z.sized | first }}|"
            "{{ properties.list | last }}|{{ properties | first }}"
        },
        "A|\ude00||q|",
    ),
    (  # anything but an array is sliced as the text liquidjs writes for it
        {"@liquid": "{{ true | slice: 0, 2 }}|{{ properties.a | slice: 1 }}|{{ n | slice: 0, 3 }}"},
        "tr|o|10",
    ),
    (  # Array.prototype.join's items, a space by default
        {"@liquid": "{{ properties.a.b | join }}|{{ properties.a.b | join: '-' }}|{{ n | join }}"},
        "1 [object Object]|1-[object Object]|10",
    ),
    (  # the ellipsis whenever there are at least that many words; defaults when missing
        {
            "@liquid": "{{ nope | truncatewords: 1 }}|{{ 'a b' | truncatewords: 2 }}|"
            "{{ ' a  b c' | truncatewords: 2, '~' }}|{{ t | truncatewords }}"
        },
        "...|a b...|a b~|a.b.a",
    ),
    (  # kept whole up to that many UTF-16 units or code points; the input itself, not text
        {
            "@liquid": "{{ t | truncate: 3 }}|{{ t | truncate: 5 }}|{{ s | truncate: 4, '' }}|"
            "{{ properties.list | truncate: 9 | first }}"
        },
        "...|a.b.a|Abc😀|p",
    ),
    (  # first of what is not array-like is ""; default keeps {} and false with allow_false
        {
            "@liquid": "{{ n | first }}|{{ s | size | last }}|{{ nope | first | default: 'd' }}|"
            "{{ properties.a | default: 'd' }}|{{ false | default: 'd', allow_false: true }}"
        },
        "||d|[object Object]|false",
    ),
    (  # slice of nil is [], a begin before the start gives nothing; json of undefined too
        {
            "@liquid": "{{ nope | slice: 0 | json }}|{{ n | slice: -5, 2 }}|"
            "{{ properties.list | slice: -1, 5 | join }}|{{ nope | json | json }}"
        },
        "[]||q|",
    ),
    (  # paths read own members, length, and liquidjs's size, first and last
        {
            "@liquid": "{{ s.length }}|{{ properties.list.size }}|{{ properties.size }}|"
            "{{ properties.list.first }}|{{ properties.list[-1] }}|{{ s.first }}"
        },
        "5|2|5|p|q|",
    ),
    (  # JavaScript's String methods: an empty tag stripped, toUpperCase, Math.ceil, trim
        {
            "@liquid": "{{ '<>a<b' | strip_html }}|{{ 'ß' | capitalize }}|"
            "{{ n | split: '.' | ceil }}|{{ '\u00a0x\u00a0' | strip }}"
        },
        "a<b|SS|10|x",
    ),
    ({"@liquid": "{{ 'a+b%2B%F0%9F%98%80' | url_decode }}"}, "a b+😀"),
    ({"@liquid": "{{ properties.j | escape }}"}, "{&#34;k&#34;:[1,2]}"),
    ({"@liquid": "{{ '&amp;&quot;' | escape_once }}"}, "&amp;&amp;quot;"),
    (
        {"@liquid": "{{ properties.a | json }}|{{ s | json }}|{{ nope | json }}"},
        '{"b":[1,{"c":null}]}|"Abc😀"|',
    ),
    ({"@liquid": "{{ properties.list | json: 1 }}"}, '[\n "p",\n "q"\n]'),
    ({"@path": "properties.list.length"}, 2),
    ({"@path": "$.s[3]"}, "\ud83d"),
    ({"@path": ""}, EVENT),  # Segment sends n as 10, equal to 10.0
    ({"@path": "$.s.length"}, 5),
    (
        {"@template": "{{ s }}-{{n}}-{{properties.list}}-{{properties}}"},
        "Abc😀-10-p,q-[object Object]",
    ),
    ({"@if": {"exists": {"@path": "$.nope"}, "blank": "x", "then": 1, "else": 2}}, 2),
    ({"@if": {"blank": {"@path": "$.properties.x y"}, "then": "set", "else": "blank"}}, "blank"),
    ({"@case": {"operator": "upper", "value": {"@path": "$.s"}}}, "ABC😀"),
    ({"@case": {"operator": "lower", "value": {"@path": "$.n"}}}, 10),
    (
        {
            "@replace": {
                "pattern": "a",
                "replacement": "[$&]",
                "value": {"@path": "$.t"},
                "ignorecase": True,
            }
        },
        "[a].b.[a]",
    ),
    (
        {
            "@replace": {
                "pattern": ".",
                "replacement": "$$",
                "value": {"@path": "$.t"},
                "global": False,
            }
        },
        "a$b.a",
    ),
    (
        {
            "@replace": {
                "pattern": "0",
                "replacement": "x",
                "value": {"@path": "$.n"},
                "pattern2": "1",
                "replacement2": "y",
            }
        },
        "yx",
    ),
    ({"@replace": {"pattern": "a", "value": {"@path": "$.nope"}}}, ""),
    ({"@json": {"mode": "encode", "value": {"@path": "$.properties.a"}}}, '{"b":[1,{"c":null}]}'),
    ({"@json": {"mode": "decode", "value": {"@path": "$.properties.j"}}}, {"k": [1, 2]}),
    ({"@json": {"mode": "decode", "value": {"@path": "$.properties.bad"}}}, "{x"),
    ({"@json": {"mode": "ENCODE", "value": {"@path": "$.properties.a"}}}, UNDEFINED),
    (
        {"@flatten": {"separator": ".", "value": {"@path": "$.properties"}}},
        {
            "a.b.0": 1,
            "a.b.1.c": None,
            "x y": 0,
            "list.0": "p",
            "list.1": "q",
            "j": '{"k":[1,2]}',
            "bad": "{x",
        },
    ),
    (
        {"@flatten": {"separator": "_", "value": {"@path": "$.properties"}, "omitArrays": True}},
        {"a_b": [1, {"c": None}], "x y": 0, "list": ["p", "q"], "j": '{"k":[1,2]}', "bad": "{x"},
    ),
    ({"@flatten": {"separator": ".", "value": {"@path": "$.n"}}}, {"": 10}),
    (
        {
            "@merge": {
                "direction": "right",
                "objects": [{"a": 1, "b": 2}, {"b": {"@path": "$.nope"}}, {"@path": "$.s"}],
            }
        },
        {"0": "A", "1": "b", "2": "c", "3": "\ud83d", "4": "\ude00", "a": 1},
    ),
    ({"@merge": {"direction": "left", "objects": [{"a": 1}, {"a": 2}]}}, {"a": 1}),
    (
        {
            "@transform": {
                "apply": {"name": {"@path": "$.userId"}},
                "mapping": {"@template": "hi {{name}}"},
            }
        },
        "hi U-1",
    ),
    ({"@excludeWhenNull": {"@path": "$.properties.a.b[1]"}}, {}),
    ({"@excludeWhenNull": {"@path": "$.properties.a.b[1].c"}}, UNDEFINED),
    (
        {
            "@liquid": "{{ s | downcase }} {{ n }} {% if properties.list %}has{% endif %} {{ properties.list }}"
        },
        "abc😀 10 has pq",
    ),
    ({"@arrayPath": ["$.properties.list", {"v": {"@path": "$."}}]}, [{"v": "p"}, {"v": "q"}]),
    ({"@arrayPath": ["$.properties.a", {"@path": "$.b"}]}, [[1, {"c": None}]]),
]


@pytest.mark.parametrize(("mapping", "expected"), SEGMENT)
def test_directive_gives_what_segment_gives(mapping: Any, expected: Any) -> None:
    assert compile_mapping(mapping).apply(EVENT) == expected


@pytest.mark.parametrize("escaped", ["%C3", "%zz", "100%", "%ED%A0%80"])
def test_url_decode_of_a_malformed_escape_fails_the_event_as_segment_does(escaped: str) -> None:
    with pytest.raises(MappingFailure, match="URI malformed"):
        compile_mapping({"@liquid": "{{ '" + escaped + "' | url_decode }}"}).apply(EVENT)


def test_a_liquid_filter_segment_disables_fails_the_event() -> None:
    with pytest.raises(MappingFailure, match='filter "sort" is disabled'):
        compile_mapping({"@liquid": "{{ s | sort }}"}).apply(EVENT)
