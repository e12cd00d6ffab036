"""Grammar-based generators of triggers, mappings and events, tuned to reach Segment's quirks.

Values stay within what JavaScript and JSON carry alike (integers within 2**53, finite
numbers): the consumer sends larger integers exactly, a documented difference.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

KEYS = ["a", "b", "s", "n", "0", "1", "length", "x y", "A"]
_TEXT = st.text(alphabet="aAbZ 5.-$é\u2028😀\n\t\x7f{}\"'*", max_size=6)
STRINGS = _TEXT | st.sampled_from(
    ["", "track", "5", " 5 ", "0x10", "1e3", "abc", "true", "null", "Infinity", "a.b", "$.a",
     '{"a":1}', "[1,2]", "ÀB", "ß", "undefined", "x\r\ny", "{{a}}", "10.0", "[1,1e400]", "1e400",
     "1.5", "page", "NaN", "x5", "v1.5", "Café 😀", "<é & \"'>"]
)  # fmt: skip
NUMBERS = st.integers(-(2**53), 2**53) | st.sampled_from([0, 1, 5, 10, -1, 0.5, 1e21, 1e-7, 10.0])
SCALARS = st.none() | st.booleans() | NUMBERS | STRINGS
JSON: st.SearchStrategy[Any] = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(KEYS) | _TEXT, inner, max_size=4)
    ),
    max_leaves=6,
)
_SECTION = st.dictionaries(st.sampled_from(KEYS), JSON, max_size=3)


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    """Segment-like messages whose fields the generated triggers and mappings read."""
    event: dict[str, Any] = {"type": draw(st.sampled_from(["track", "identify", "page", "x"]))}
    for key, values in (
        ("event", STRINGS | st.none() | NUMBERS),
        ("name", STRINGS | st.none() | st.booleans()),
        ("userId", STRINGS | st.none() | NUMBERS | st.booleans()),
        ("properties", _SECTION | JSON),
        ("traits", _SECTION),
        ("context", _SECTION),
        ("h", st.dictionaries(st.sampled_from(["X-A", "x-a", "X-B"]), JSON, max_size=2) | JSON),
        ("t", STRINGS),
        ("s", STRINGS),
        ("n", NUMBERS),
    ):
        if draw(st.booleans()):
            event[key] = draw(values)
    return event


# Triggers -------------------------------------------------------------------------------------

# Escaped `.`, `[` and `]` split the path as plain dots do (what generateFql writes).
_PATH = st.lists(
    st.sampled_from(
        ["a", "b", "s", "n", "length", "\\0", "\\1", "x\\ y", "a\\.b", "a\\[0\\]", "s\\[1\\]"]
    ),
    min_size=1,
    max_size=3,
)
_FIELD = st.sampled_from(["type", "event", "name", "userId"]) | st.builds(
    lambda root, path: f"{root}.{'.'.join(path)}",
    st.sampled_from(["properties", "traits", "context"]),
    _PATH,
)
_TEXT_VALUE = STRINGS.filter(lambda s: '"' not in s and "\\" not in s).map(lambda s: f'"{s}"')
_NUMBER_VALUE = st.sampled_from(
    ["0", "5", "-2.5", "10", "100000000000000000000000", "1.50", "5.0", "0.50", "10.00"]
)
# Bare words, as in Segment's own presets (`type = track`): Segment compares with their text.
_BARE_WORDS = st.sampled_from(
    [
        "track",
        "page",
        "identify",
        "Infinity",
        "undefined",
        "abc",
        "x5",
        "a.b",
        "x\\ y",
        "NaN",
        "TRUE",
    ]
)
_NUMERIC_TEXT = st.sampled_from(['"5"', '" 10 "', '"0x10"', '""', '"1e3"', '"abc"'])
_WORDS = st.sampled_from(["true", "false", "null"])
# Mostly the spacing every operator reads as written; the others now and then.
_SPACING = st.sampled_from([(" ", " ")] * 12 + [("", ""), ("", " "), (" ", "")])


@st.composite
def _comparison(draw: st.DrawFn) -> str:
    op = draw(st.sampled_from(["=", "!=", "=", "!=", "<", "<=", ">", ">="]))
    if op in ("=", "!="):
        value = draw(_TEXT_VALUE | _NUMBER_VALUE | _WORDS | _BARE_WORDS)
    else:
        value = draw(_NUMBER_VALUE | _NUMERIC_TEXT | _WORDS | _BARE_WORDS)
    before, after = draw(_SPACING)
    return f"{draw(_FIELD)}{before}{op}{after}{value}"


@st.composite
def _function(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(["contains", "match", "!contains", "!match"]))
    pattern = draw(STRINGS.filter(lambda s: '"' not in s and "\\" not in s and "*" not in s))
    if "match" in name:
        pattern = draw(st.sampled_from([f"{pattern}*", f"*{pattern}", f"{pattern}*", pattern]))
    field = draw(_FIELD.filter(lambda f: f != "type"))
    if name.endswith("contains") and draw(st.integers(0, 4)) == 0:  # a number: its JS text
        return f"{name}({field}, {draw(_NUMBER_VALUE)})"
    return f'{name}({field}, "{pattern}")'


_CONDITION = _comparison() | _function()


@st.composite
def triggers(draw: st.DrawFn) -> str:
    """Conditions joined by and/or, some grouped in one level of parentheses."""
    items = []
    for _ in range(draw(st.integers(1, 3))):
        group = draw(st.lists(_CONDITION, min_size=1, max_size=2))
        if draw(st.integers(0, 3)):  # mostly a function last in its group, as Segment reads it
            group.sort(key=lambda c: c.lstrip("!").startswith(("contains", "match")))
        joined = (
            " ".join(f"{c} {draw(st.sampled_from(['and', 'or']))}" for c in group[:-1])
            + f" {group[-1]}"
        )
        items.append(
            f"({joined.strip()})" if len(group) > 1 or draw(st.booleans()) else joined.strip()
        )
    return " ".join(f"{item} {draw(st.sampled_from(['and', 'or']))}" for item in items[:-1]) + (
        f" {items[-1]}" if len(items) > 1 else items[-1]
    )


# Mappings -------------------------------------------------------------------------------------

_PATHS = st.sampled_from(
    ["$.", "", ".", "$.properties", "properties.a", "$.properties.a.b", "$.properties.s.length",
     "$.properties.s[1]", "$.properties.a[0]", "$.properties['x y']", "$.traits.n", "$.h", "$.t",
     "$.userId", "$.s", "$.n", "a$.properties", "$.nope", "$.properties.0", "$.event", "$.context"]
)  # fmt: skip
_TEMPLATES = st.sampled_from(
    ["{{properties.a}}-{{userId}}", "{{{properties}}}", "{{ s }}!", "{{ }}", "{{n}}{{ t }}",
     "plain", "{{properties.s.length}}", "{{$.s}}", "{{traits}}"]
)  # fmt: skip
_LIQUID = st.sampled_from(
    ["{{ properties.s }}", "{{ userId | upcase }}", "{{ s | append: '!' }}",
     "{% if properties.a %}y{% else %}n{% endif %}", "{{ t | default: 'none' }}",
     "{{ s | size }}", "{{ n }}", "", "{{ properties.a.b }}", "{{ s | downcase | prepend: '<' }}",
     "{{ s | nosuch }}", "{{ s | sort }}", "{{ n | divided_by: 4 }}", "{{ n | round: 1 }}",
     "{{ s | split: 'a' | first }}", "{{ n | plus: 0.1 | times: 3 }}", "{{ n | modulo: 3 }}",
     "{{ properties.a | upcase }}", "{{ userId | append: n }}", "{{ s | escape }}",
     "{{ t | escape_once }}", "{{ properties | json }}", "{{ s | json }}", "{{ properties.a | json: 2 }}",
     "{{ s | url_encode }}", "{{ s | upcase | size }}", "{{ s | capitalize }}", "{{ s | remove: 'é' }}",
     "{{ s | replace: 'a', '😀' }}", "{{ s | prepend: '😀' | size }}", "{{ properties | size }}"]
)  # fmt: skip
LIQUID_INPUTS = (
    ["properties", "properties.a", "properties.s", "properties.length", "s", "n", "t", "h",
     "userId", "traits", "traits.n", "context", "nope", "'%41+b%2B'", "'a%zz'", "'%C3'",
     "'<b>x</b> y'", "'Abc😀é'", "10.0", "true"]
)  # fmt: skip
LIQUID_FILTERS = (
    ["first", "last", "join", "join: '-'", "join: 1", "slice: 1", "slice: -2, 5", "slice: 0, 2",
     "size", "url_decode", "url_encode", "strip_html", "truncate: 3", "escape", "json",
     "split: 'b'", "default: 'd'", "plus: 1", "upcase", "append: n", "remove: 'a'", "strip",
     "capitalize", "abs", "ceil", "at_least: 2", "replace_first: 'b', '+'", "truncatewords: 1"]
)  # fmt: skip
# A value through one to three filters: the ground Segment's presets and users write.
_LIQUID_PIPELINES = st.builds(
    lambda value, filters: "{{ " + " | ".join([value, *filters]) + " }}",
    st.sampled_from(LIQUID_INPUTS),
    st.lists(st.sampled_from(LIQUID_FILTERS), min_size=1, max_size=3),
)


def _directive(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """One directive of each kind, with valid and some invalid options."""
    maybe = st.one_of(inner, st.just(None))
    text_or_directive = _PATHS | st.builds(lambda p: {"@path": p}, _PATHS)
    return st.one_of(
        st.builds(lambda p: {"@path": p}, _PATHS | st.builds(lambda p: {"@path": p}, _PATHS)),
        st.builds(
            lambda t: {"@template": t}, _TEMPLATES | st.builds(lambda p: {"@path": p}, _PATHS)
        ),
        st.builds(lambda v: {"@literal": v}, inner),
        st.builds(
            lambda keys, cond, then, other: {
                "@if": {
                    k: {"exists": cond, "blank": cond, "then": then, "else": other}[k]
                    for k in sorted(keys)
                }
            },
            st.sets(st.sampled_from(["exists", "blank", "then", "else"]), min_size=1),
            inner,
            inner,
            maybe,
        ),
        st.builds(
            lambda op, v: {"@case": {"operator": op, "value": v}},
            st.sampled_from(["lower", "upper", "lower", "title"]),
            text_or_directive | st.just(""),
        ),
        st.builds(
            lambda p, r, v, g, i, p2: {
                "@replace": {
                    "pattern": p,
                    "replacement": r,
                    "value": v,
                    "global": g,
                    "ignorecase": i,
                    **p2,
                }
            },
            st.sampled_from(["a", "A", ".", "$", "é", "5", "x y", "*"]),
            st.sampled_from(["", "-", "$&", "$$", "$'", "$`", "$1", "b"]),
            text_or_directive,
            st.booleans(),
            st.booleans(),
            st.sampled_from([{}, {"pattern2": "b", "replacement2": "c"}, {"pattern2": "b"}]),
        ),
        st.builds(
            lambda mode, v: {"@json": {"mode": mode, "value": v}},
            st.sampled_from(["encode", "decode", "ENCODE"]),
            inner,
        ),
        st.builds(
            lambda sep, v, omit: {"@flatten": {"separator": sep, "value": v, **omit}},
            st.sampled_from([".", "_", "-"]),
            inner,
            st.sampled_from([{}, {"omitArrays": True}]),
        ),
        st.builds(
            lambda d, objs: {"@merge": {"direction": d, "objects": objs}},
            st.sampled_from(["left", "right", "LEFT"]),
            st.lists(
                st.dictionaries(st.sampled_from(KEYS), inner, max_size=3)
                | st.builds(lambda p: {"@path": p}, _PATHS),
                max_size=3,
            ),
        ),
        st.builds(
            lambda a, m: {"@transform": {"apply": a, "mapping": m}},
            st.dictionaries(st.sampled_from(KEYS), inner, min_size=1, max_size=3),
            st.dictionaries(st.sampled_from(KEYS), inner, min_size=1, max_size=3)
            | st.builds(lambda p: {"@path": p}, _PATHS),
        ),
        st.builds(lambda v: {"@excludeWhenNull": v}, inner),
        st.builds(lambda t: {"@liquid": t}, _LIQUID | _LIQUID_PIPELINES),
        st.builds(
            lambda p, shape: {"@arrayPath": [p, shape]},
            text_or_directive,
            st.dictionaries(st.sampled_from(KEYS), inner, max_size=2)
            | st.builds(lambda p: {"@path": p}, _PATHS),
        ),
    )


def _refused(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Forms Segment's validate refuses (or fails on), to check that we refuse them too."""
    return st.one_of(
        st.builds(lambda v: {"@path": "$.a", "@template": v}, inner),
        st.builds(lambda v: {"@path": "$.a", "extra": v}, inner),
        st.builds(lambda v: {"@nope": v}, inner),
        st.sampled_from(
            [{"@path": 5}, {"@template": ["x"]}, {"@if": "x"}, {"@case": {"operator": 1}},
             {"@replace": {"pattern": "abcdefghijk", "value": "x"}},
             {"@replace": {"pattern": "a", "replacement": "abcdefghijk", "value": "a"}},
             {"@replace": {"pattern": "a", "value": "a", "global": "yes"}},
             {"@json": {"mode": "both", "value": 1}}, {"@json": {"mode": "encode"}},
             {"@flatten": {"separator": 1, "value": 1}}, {"@merge": {"objects": {}, "direction": "left"}},
             {"@merge": {"objects": [1], "direction": "right"}}, {"@transform": {"apply": 1, "mapping": {}}},
             {"@liquid": 5}, {"@liquid": "{% for x in y %}{% endfor %}"}, {"@liquid": "{{ a | sort }}"},
             {"@arrayPath": "x"}, {"@arrayPath": []}, {"@if": {"then": 1}}]
        ),
    )  # fmt: skip


MAPPING_VALUES: st.SearchStrategy[Any] = st.recursive(
    SCALARS,
    lambda inner: (
        _directive(inner)
        | _refused(inner)
        | st.lists(inner, max_size=2)
        | st.dictionaries(st.sampled_from(KEYS), inner, max_size=3)
    ),
    max_leaves=6,
)
DATA = MAPPING_VALUES | _directive(MAPPING_VALUES) | _refused(MAPPING_VALUES)
HEADERS = (
    st.none()
    | st.dictionaries(
        st.sampled_from(
            ["X-A", "x-a", "X-B", "Content-Type", "Authorization", "User-Agent", "a b"]
        ),
        MAPPING_VALUES,
        max_size=3,
    )
    | st.builds(lambda p: {"@path": p}, _PATHS)
)


# Condition trees as Segment's UI stores them, for generateFql to write as text -------------

_NODE_TYPES = [
    "event-type",
    "event",
    "name",
    "userId",
    "event-property",
    "event-trait",
    "event-context",
]
_NODE_OPERATORS = {
    "text": ["=", "!=", "contains", "not_contains", "starts_with", "not_starts_with", "ends_with",
             "not_ends_with"],
    "check": ["exists", "not_exists", "is_true", "is_false"],
    "number": ["number_equals", "number_not_equals", "<", ">", "<=", ">="],
}  # fmt: skip
# Keys with what generateFql escapes (`[`, `]`, spaces, non-ASCII) and what it does not (`.`).
_NODE_NAMES = st.sampled_from(
    ["a", "products[0].sku", "a b", "a.b", "x y", "s.length", "n", "café", "a-b", "a_b", "a[1]",
     "0", "s.0", "b.s"]
)  # fmt: skip
_NODE_TEXT = STRINGS.filter(lambda s: not set(s) & set('"\\*')) | st.sampled_from([5, 1.5, 0])
_NODE_NUMBERS = st.sampled_from([0, 5, 1.5, -2, 10.25, 100])


@st.composite
def _node(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(_NODE_TYPES))
    family = draw(st.sampled_from(sorted(_NODE_OPERATORS)))
    node: dict[str, Any] = {
        "type": kind,
        "operator": draw(st.sampled_from(_NODE_OPERATORS[family])),
    }
    if kind.startswith("event-") and kind != "event-type":
        node["name"] = draw(_NODE_NAMES)
    if family != "check":
        node["value"] = draw(_NODE_TEXT if family == "text" else _NODE_NUMBERS)
    return node


@st.composite
def condition_trees(draw: st.DrawFn) -> dict[str, Any]:
    """A group of one to three conditions, one of them maybe a group of its own."""
    children: list[Any] = draw(st.lists(_node(), min_size=1, max_size=3))
    if draw(st.integers(0, 3)) == 0:
        inner = {
            "type": "group",
            "operator": draw(st.sampled_from(["and", "or"])),
            "children": draw(st.lists(_node(), min_size=2, max_size=2)),
        }
        children.append(inner)
    return {"type": "group", "operator": draw(st.sampled_from(["and", "or"])), "children": children}
