"""`@liquid`: Liquid rendered by python-liquid, set up like Segment's liquidjs engine.

Same disabled tags and filters, unknown filters ignored, values written as liquidjs writes
them (`10.0` as "10", arrays joined, nil as nothing), and the filters whose results depend on
it computing with JavaScript numbers and strings as liquidjs does.
"""

from __future__ import annotations

import functools
import math
import re
import sys
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any, TextIO
from urllib.parse import quote_plus

from liquid import Environment
from liquid.builtin.output import Output, OutputNode
from liquid.context import RenderContext
from liquid.exceptions import LiquidError
from liquid.template import BoundTemplate
from liquid.undefined import Undefined

from consumer.core.jsvalues import (
    JS_SPACE,
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


class _JsContext(RenderContext):
    """Reads `a.b` and `a[0]` as liquidjs does: own members only, an array's or a text's
    `length`, liquidjs's `size`, `first` and `last`, a negative index from an array's end."""

    def get_item(self, obj: Any, key: Any) -> Any:
        if _nil(obj):
            return obj
        if isinstance(obj, list) and isinstance(key, int) and not isinstance(key, bool):
            found = obj[key] if -len(obj) <= key < len(obj) else UNDEFINED
        else:
            name = key if isinstance(key, str) else js_string(key)
            found = _own(obj, name)
            if name == "size":
                found = _size_of(obj)
            elif name in ("first", "last") and isinstance(obj, list):
                found = obj[0 if name == "first" else -1] if obj else UNDEFINED
        if found is UNDEFINED:
            raise KeyError(key)
        return found


def _own(obj: Any, name: str) -> Any:
    """`obj[name]` when `name` is an own member of a JSON value, else undefined."""
    if isinstance(obj, str | list) and not obj:
        return 0 if name == "length" else UNDEFINED
    return member(obj, name) if isinstance(obj, dict | list | str) else UNDEFINED


def _size_of(obj: Any) -> Any:
    """liquidjs's `.size`: an object's own `size` or its number of keys, a length."""
    if isinstance(obj, dict):
        return obj.get("size", len(obj))
    return _own(obj, "length")


class _JsTemplate(BoundTemplate):
    context_class = _JsContext


class _SegmentLiquid(Environment):
    """Segment's engine: the same tags off, the same filters failing when used, and, as in
    liquidjs, an unknown filter ignored (its limits need no loop tags)."""

    template_class = _JsTemplate

    def setup_tags_and_filters(self, *, extra: bool = False) -> None:
        super().setup_tags_and_filters(extra=extra)
        self.add_tag(_JsOutput)
        for tag in _DISABLED_TAGS:
            self.tags.pop(tag, None)
        for name in _DISABLED_FILTERS:
            self.filters[name] = _disabled(name)
        for name in _TEXT_FILTERS:
            self.filters[name] = _with_text_input(self.filters[name], name in _TEXT_ARGUMENTS)
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


def _number(value: Any) -> float:
    """JavaScript's `+value` for what a Liquid argument can be."""
    if isinstance(value, bool) or is_number(value):
        return float(value)
    if value is None:
        return 0.0
    if isinstance(value, str | list):
        return js_to_number(js_string(value))
    return math.nan


def _to_number(value: Any) -> float:
    """liquidjs's toNumber, `+value || 0`."""
    number = _number(value)
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


def _nil(value: Any) -> bool:
    """liquidjs's isNil: null or undefined (a missing variable or member)."""
    return value is None or value is UNDEFINED or isinstance(value, Undefined)


def _element(value: Any, *, last: bool) -> Any:
    """liquidjs's `first` and `last`: of an array-like (`v && typeof v.length == 'number'`:
    an array, a text, an object with a numeric `length`) its own element at 0 or at
    `length - 1`; of anything else ""."""
    length = member(value, "length")
    if _nil(value) or not truthy(value) or not is_number(length):
        return ""
    index = length - 1 if last else 0
    return member(value, js_number_text(length + index if index < 0 else index))


def _to_array(value: Any) -> list[Any]:
    """liquidjs's toArray: nil as no items, an array as itself, anything else as one item."""
    return [] if _nil(value) else value if isinstance(value, list) else [value]


def _join(value: Any, separator: Any = UNDEFINED) -> str:
    """liquidjs's `join`: Array.prototype.join over toArray(value) (nil items as nothing,
    nested arrays with commas, objects as "[object Object]"), a space by default."""
    by = " " if _nil(separator) else _liquid_text(separator)
    return by.join("" if _nil(item) else js_string(item) for item in _to_array(value))


def _slice(value: Any, begin: Any = UNDEFINED, length: Any = 1) -> Any:
    """liquidjs's `slice`: nil as [], an array by items, anything else as its text by code
    points; a begin still negative after counting from the end gives nothing."""
    if _nil(value):
        return []
    items: list[Any] | str = value if isinstance(value, list) else _liquid_text(value)
    start = math.nan if isinstance(begin, Undefined) else _number(begin)
    count = 1.0 if isinstance(length, Undefined) else _number(length)
    if start < 0:
        start += len(items)
    if start < 0 or count < 0:
        return items[:0]
    if isinstance(items, list):
        return items[_js_index(start, len(items)) : _js_index(start + count, len(items))]
    first = min(_steps(start), len(items))
    return items[first : first + _steps(count)]


def _js_index(position: float, size: int) -> int:
    """Where Array.prototype.slice reads `position` in `size` items."""
    if math.isnan(position):
        return 0
    if math.isinf(position):
        return size if position > 0 else 0
    whole = int(position)
    return max(size + whole, 0) if whole < 0 else min(whole, size)


def _default(value: Any, fallback: Any = UNDEFINED, allow_false: Any = False) -> Any:
    """liquidjs's `default`: the fallback for an empty text or array, nil or false (false
    kept with `allow_false`); an empty object or 0 is kept, unlike Shopify's Liquid."""
    if isinstance(value, list | str):
        return value if value else fallback
    if value is False and truthy(allow_false):
        return False
    return fallback if value is False or _nil(value) else value


def _whole(round_: Callable[[float], int]) -> Callable[[Any], float]:
    """Math.ceil or Math.floor of liquidjs's toNumber (an infinity stays itself)."""
    return lambda v: float(round_(n)) if math.isfinite(n := _to_number(v)) else n


def _capitalize(value: Any) -> str:
    """liquidjs's `str.charAt(0).toUpperCase() + str.slice(1).toLowerCase()`: the first
    UTF-16 unit upper-cased (so "ß" gives "SS", and a character beyond U+FFFF is kept)."""
    text = _text_input(value)
    if not text:
        return ""
    head = text[0] if ord(text[0]) > 0xFFFF else text[0].upper()
    return head + text[1:].lower()


def _strip(value: Any, chars: Any = UNDEFINED, *, start: bool, end: bool) -> str:
    """liquidjs's `strip`, `lstrip`, `rstrip`: JavaScript's white space, or the code points
    of `chars` when it is given and truthy."""
    text = _text_input(value)
    remove = _liquid_text(chars) if truthy(chars) and not isinstance(chars, Undefined) else JS_SPACE
    if start:
        text = text.lstrip(remove)
    return text.rstrip(remove) if end else text


_HTML_BLOCKS = (("<script", "</script>"), ("<style", "</style>"), ("<!--", "-->"), ("<", ">"))


def _strip_html(value: Any) -> str:
    """liquidjs's `strip_html`: from each "<", the first block (script, style, comment, tag)
    that closes; the rest kept from the first "<" that no block closes."""
    text, out, at = _text_input(value), [], 0
    blocks = list(_HTML_BLOCKS)
    while at < len(text):
        lt = text.find("<", at)
        if lt < 0:
            break
        out.append(text[at:lt])
        for block in list(blocks):
            opener, closer = block
            if not text.startswith(opener, lt):
                continue
            close = text.find(closer, lt + len(opener))
            if close >= 0:
                at = close + len(closer)
                break
            blocks.remove(block)
        if at <= lt:
            at = lt
            break
    return "".join(out) + text[at:]


def _truncate(value: Any, length: Any = 50, ellipsis: Any = "...") -> Any:
    """liquidjs's `truncate`: the input itself when it has at most `length` UTF-16 units or
    code points, else its first `length` code points less the ellipsis's, then the ellipsis."""
    text = _text_input(value)
    limit = 50.0 if isinstance(length, Undefined) else _number(length)
    tail = "..." if isinstance(ellipsis, Undefined) else _text_input(ellipsis)
    if utf16_length(text) <= limit or _steps(limit) >= len(text):
        return value
    return text[: _steps(limit - len(tail))] + tail


def _steps(count: float) -> int:
    """How often `for (i = 0; i < count; i++)` runs (liquidjs counts code points so)."""
    if math.isnan(count) or count <= 0:
        return 0
    return sys.maxsize if count == math.inf else math.ceil(count)


_JS_SPACES = re.compile(f"[{re.escape(JS_SPACE)}]+")


def _truncatewords(value: Any, words: Any = 15, ellipsis: Any = "...") -> str:
    """liquidjs's `truncatewords`: the words after leading space, split at JavaScript spaces,
    and the ellipsis whenever there are at least `words` of them, so `"" | truncatewords: 1`
    is "..."; a missing argument takes its default, as a JavaScript default parameter does."""
    parts = _JS_SPACES.split(_text_input(value).lstrip(JS_SPACE))
    count = 15.0 if isinstance(words, Undefined) else _number(words)
    if count <= 0:
        count = 1.0
    kept = parts if count == math.inf else parts[: 0 if math.isnan(count) else int(count)]
    text = " ".join(kept)
    if len(parts) >= count:
        text += "..." if isinstance(ellipsis, Undefined) else _text_input(ellipsis)
    return text


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


def _json(value: Any, space: Any) -> Any:
    """liquidjs's `json`: JSON.stringify(value, null, space); undefined for an undefined value."""
    if value is UNDEFINED or isinstance(value, Undefined):
        return UNDEFINED
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
    "first": lambda v: _element(v, last=False),
    "last": lambda v: _element(v, last=True),
    "join": _join,
    "slice": _slice,
    "default": _default,
    "truncate": _truncate,
    "truncatewords": _truncatewords,
    "url_decode": _url_decode,
    "abs": lambda v: abs(_to_number(v)),
    "at_least": lambda v, *more: max(_to_number(v), *map(_to_number, more)),
    "at_most": lambda v, *more: min(_to_number(v), *map(_to_number, more)),
    "ceil": _whole(math.ceil),
    "floor": _whole(math.floor),
    "capitalize": _capitalize,
    "strip": functools.partial(_strip, start=True, end=True),
    "lstrip": functools.partial(_strip, start=True, end=False),
    "rstrip": functools.partial(_strip, start=False, end=True),
    "strip_html": _strip_html,
    "escape": lambda v: _escape(_text_input(v)),
    "escape_once": lambda v: _escape(_unescape(_text_input(v))),
    "json": lambda v, space=0: _json(v, space),
    # encodeURIComponent, then a space as "+"; it keeps !'()* that quote_plus encodes
    "url_encode": lambda v: quote_plus(_text_input(v), safe="!'()*"),
    "jsonify": lambda v, space=0: _json(v, space),
}
_TEXT_FILTERS = (
    "append", "prepend", "downcase", "upcase",
    "remove", "remove_first", "remove_last", "replace", "replace_first", "replace_last",
    "strip_newlines",

)  # fmt: skip
_TEXT_ARGUMENTS = frozenset({"append", "prepend"})
_ENGINE = _SegmentLiquid(strict_filters=False)
