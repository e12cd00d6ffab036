"""`@liquid`: Liquid rendered by python-liquid, set up like Segment's liquidjs engine.

Same disabled tags and filters, unknown filters ignored, values written as liquidjs writes
them (`10.0` as "10", arrays joined, nil as nothing), and the filters whose results depend on
it computing with JavaScript numbers and strings as liquidjs does.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any, TextIO
from urllib.parse import quote_plus

from liquid import Environment
from liquid.builtin.output import Output, OutputNode
from liquid.context import RenderContext
from liquid.exceptions import LiquidError
from liquid.undefined import Undefined

from consumer.core.jsvalues import (
    UNDEFINED,
    is_number,
    js_entries,
    js_number_text,
    js_string,
    js_to_number,
    json_stringify,
    member,
    truthy,
    utf16_length,
    utf16_units,
)
from consumer.core.mapping._tree import Const, MappingFailure, Node, Part, has_directive_key, kind

MAX_LIQUID_LENGTH = 1000


def liquid(arg: Any, part: Part) -> Node:
    part.check(isinstance(arg, str), f"expected a Liquid template, found {kind(arg)}")
    if not isinstance(arg, str):
        hint = " (a directive is not allowed here)" if has_directive_key(arg) else ""
        part.always_fails(f"liquid template value must be a string{hint}")
    if not arg:
        return Const("")
    if utf16_length(arg) > MAX_LIQUID_LENGTH:
        part.always_fails(f"a Liquid template is limited to {MAX_LIQUID_LENGTH} characters")
    try:
        compiled = _ENGINE.from_string(arg)
    except LiquidError as exc:
        part.always_fails(f"the Liquid template does not parse ({exc})")

    def render(scope: Any) -> str:
        try:
            return compiled.render(**scope) if isinstance(scope, dict) else compiled.render()
        except (LiquidError, ValueError, TypeError, ArithmeticError, RecursionError) as exc:
            raise MappingFailure(f"@liquid: {exc}") from exc

    return render


def _liquid_text(value: Any) -> str:
    """What liquidjs writes for a value: nothing for nil, arrays joined with no separator."""
    if value is None or value is UNDEFINED:
        return ""
    if isinstance(value, list):
        return "".join(_liquid_text(item) for item in value)
    if isinstance(value, str | bool | int | float | dict):
        return js_string(value)
    return str(value)


class _JsOutputNode(OutputNode):
    """An output statement that writes values as liquidjs does."""

    def render_to_output(self, context: RenderContext, buffer: TextIO) -> int:
        return buffer.write(_liquid_text(self.expression.evaluate(context)))


class _JsOutput(Output):
    node_class = _JsOutputNode


class _SegmentLiquid(Environment):
    """Segment's engine: the same tags off, the same filters failing when used, and, as in
    liquidjs, an unknown filter ignored (its limits need no loop tags)."""

    def setup_tags_and_filters(self, *, extra: bool = False) -> None:
        super().setup_tags_and_filters(extra=extra)
        self.add_tag(_JsOutput)
        for tag in _DISABLED_TAGS:
            self.tags.pop(tag, None)
        for name in _DISABLED_FILTERS:
            self.filters[name] = _disabled(name)
        for name in _TEXT_FILTERS:
            self.filters[name] = _with_text_input(self.filters[name], name in _TEXT_ARGUMENTS)
        self.filters["slice"] = _slice_input(self.filters["slice"])
        self.filters.update(_JS_FILTERS)


def _with_text_input(filter_: Callable[..., Any], text_arguments: bool) -> Callable[..., Any]:
    """liquidjs writes a filter's input (and `append`'s argument) as it writes output:
    `10.0` as "10", arrays joined, nil as ""; python-liquid would write them the Python way."""

    @functools.wraps(filter_)
    def convert(value: Any, *args: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str | Undefined):
            value = _liquid_text(value)
        if text_arguments:
            args = tuple(a if isinstance(a, str | Undefined) else _liquid_text(a) for a in args)
        return filter_(value, *args, **kwargs)

    return convert


def _disabled(name: str) -> Callable[..., Any]:
    def fail(*_: Any, **__: Any) -> Any:
        raise ValueError(f'filter "{name}" is disabled')

    return fail


_DISABLED_TAGS: Iterable[str] = ("case", "for", "include", "layout", "render", "tablerow")
_DISABLED_FILTERS: Iterable[str] = (
    "array_to_sentence_string",
    "concat",
    "find",
    "find_exp",
    "find_index",
    "find_index_exp",
    "group_by",
    "group_by_exp",
    "has",
    "has_exp",
    "map",
    "newline_to_br",
    "reject",
    "reject_exp",
    "reverse",
    "sort",
    "sort_natural",
    "uniq",
    "where_exp",
    "type",
)


def _to_number(value: Any) -> float:
    """liquidjs's toNumber, `+value || 0`."""
    if isinstance(value, bool) or is_number(value):
        number = float(value)
    elif isinstance(value, str | list):
        number = js_to_number(js_string(value))
    else:
        number = math.nan
    return 0.0 if math.isnan(number) or number == 0 else number


def _divide(a: float, b: float) -> float:
    """JavaScript's a / b (division by zero gives an infinity or NaN, never an error)."""
    if b == 0:
        return math.nan if a == 0 else math.copysign(math.inf, a)
    return a / b


def _divided_by(value: Any, by: Any, integer: Any = False) -> float:
    quotient = _divide(_to_number(value), _to_number(by))
    whole = _to_number(integer) and math.isfinite(quotient)
    return float(math.floor(quotient)) if whole else quotient


def _shift(number: float, places: int) -> float:
    """liquidjs's shiftDecimal: move the decimal point exactly, as text."""
    return float(Decimal(js_number_text(number)).scaleb(places))


def _round(value: Any, places: Any = 0) -> float:
    number, digits = _to_number(value), int(_to_number(places))
    scaled = _shift(abs(number), digits)
    if not scaled <= 2**53 - 1:
        return number
    rounded = _shift(float(math.floor(scaled + 0.5)), -digits)
    return -rounded if number < 0 else rounded


def _modulo(value: Any, by: Any) -> float:
    a, b = _to_number(value), _to_number(by)
    return math.nan if b == 0 else math.fmod(math.fmod(a, b) + b, b)


def _split(value: Any, separator: Any = UNDEFINED) -> list[str]:
    """`text.split(separator)` with trailing empty parts dropped, as liquidjs does."""
    text, by = _liquid_text(value), _liquid_text(separator)
    parts = utf16_units(text) if by == "" else text.split(by)
    while parts and parts[-1] == "":
        parts.pop()
    return parts


def _size(value: Any) -> Any:
    """liquidjs's `size`, `(v && v.length) || 0`: a text's UTF-16 units, an array's length,
    an object's own `length` member when truthy, else 0."""
    length = member(value, "length")
    return length if truthy(length) else 0


def _last(value: Any) -> Any:
    """liquidjs's `last`, `v[v.length - 1]`, on a text, an array or an object alike."""
    length = member(value, "length")
    return member(value, js_number_text(length - 1) if is_number(length) else "NaN")


def _join(value: Any, separator: Any = UNDEFINED) -> Any:
    """liquidjs's `join`: an array's items as JavaScript writes them (nil as nothing, nested
    arrays with commas), a space by default; anything else as it is."""
    if not isinstance(value, list):
        return value
    by = " " if isinstance(separator, Undefined) or separator is UNDEFINED else js_string(separator)
    return by.join("" if item is None or item is UNDEFINED else js_string(item) for item in value)


def _slice_input(filter_: Callable[..., Any]) -> Callable[..., Any]:
    """liquidjs slices an array, or else its input written as text (`true` as "true")."""

    @functools.wraps(filter_)
    def convert(value: Any, *args: Any) -> Any:
        if not isinstance(value, list | str | Undefined) and value is not None:
            value = _liquid_text(value)
        return filter_(value, *args)

    return convert


_PERCENT_RUN = re.compile(r"(?:%[0-9A-Fa-f]{2})+")


def _url_decode(value: Any) -> str:
    """liquidjs's `url_decode`: split at `+`, decodeURIComponent each part, join with spaces;
    a malformed escape or bytes that are not UTF-8 fail the mapping ("URI malformed")."""
    return " ".join(_decode_uri_component(part) for part in _text_input(value).split("+"))


def _decode_uri_component(text: str) -> str:
    if "%" in _PERCENT_RUN.sub("", text):
        raise ValueError("URI malformed")
    try:
        return _PERCENT_RUN.sub(lambda run: bytes.fromhex(run[0].replace("%", "")).decode(), text)
    except UnicodeDecodeError as exc:
        raise ValueError("URI malformed") from exc


def _text_input(value: Any) -> str:
    return "" if isinstance(value, Undefined) else _liquid_text(value)


# liquidjs's escape table: `"` and `'` as decimal references, unlike python-liquid's.
_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&#34;", "'": "&#39;"}
_ESCAPED = re.compile("[&<>\"']")
_UNESCAPED = re.compile("&(?:amp|lt|gt|#34|#39);")
_UNESCAPES = {v: k for k, v in _ESCAPES.items()}


def _escape(text: str) -> str:
    return _ESCAPED.sub(lambda m: _ESCAPES[m.group()], text)


def _unescape(text: str) -> str:
    return _UNESCAPED.sub(lambda m: _UNESCAPES[m.group()], text)


def _json(value: Any, space: Any) -> str:
    """liquidjs's `json`: JSON.stringify(value, null, space); nothing for an undefined value."""
    if isinstance(value, Undefined):
        return ""
    if isinstance(space, str):
        gap = space[:10]
    else:
        count = _to_number(space)
        gap = " " * int(min(10, count)) if math.isfinite(count) and count >= 1 else ""
    if not gap:
        return json_stringify(value) or ""
    return _indented(value, gap, "\n")


def _indented(value: Any, gap: str, newline: str) -> str:
    """JSON.stringify with a gap: one member a line, each level indented by `gap` more."""
    inner = newline + gap
    if isinstance(value, list) and value:
        items = (_indented(item, gap, inner) for item in value)
        return "[" + inner + ("," + inner).join(items) + newline + "]"
    if isinstance(value, dict) and value:
        members = (
            f"{json_stringify(key)}: {_indented(item, gap, inner)}"
            for key, item in js_entries(value)
        )
        return "{" + inner + ("," + inner).join(members) + newline + "}"
    return json_stringify(value) or "null"


# liquidjs computes with JavaScript numbers (floats): 7 | divided_by: 2 is 3.5.
_JS_FILTERS: dict[str, Callable[..., Any]] = {
    "plus": lambda v, a: _to_number(v) + _to_number(a),
    "minus": lambda v, a: _to_number(v) - _to_number(a),
    "times": lambda v, a: _to_number(v) * _to_number(a),
    "divided_by": _divided_by,
    "modulo": _modulo,
    "round": _round,
    "split": _split,
    "size": _size,
    "first": lambda v: member(v, "0"),
    "last": _last,
    "join": _join,
    "url_decode": _url_decode,
    "escape": lambda v: _escape(_text_input(v)),
    "escape_once": lambda v: _escape(_unescape(_text_input(v))),
    "json": lambda v, space=0: _json(v, space),
    # encodeURIComponent, then a space as "+"; it keeps !'()* that quote_plus encodes
    "url_encode": lambda v: quote_plus(_text_input(v), safe="!'()*"),
    "jsonify": lambda v, space=0: _json(v, space),
}
_TEXT_FILTERS = (
    "append", "prepend", "capitalize", "downcase", "upcase", "lstrip", "rstrip", "strip",
    "remove", "remove_first", "remove_last", "replace", "replace_first", "replace_last",
    "strip_html", "strip_newlines", "truncate", "truncatewords",

)  # fmt: skip
_TEXT_ARGUMENTS = frozenset({"append", "prepend"})
_ENGINE = _SegmentLiquid(strict_filters=False)
