"""Turn a condition tree into one closure that tests an event the way Segment's `validate` does.

Segment evaluates in JavaScript, so this module reproduces the JavaScript that matters: a path is
read with `a && a[k]` (a falsy value stops the walk and is the result; an array or a string has
`length` and numbered members), `=` is `===` against text, and numeric tests need a JSON number.
A missing key and JSON null behave alike in every test, so both are None here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from consumer.core.triggers._tree import Condition, Field, Group, Node

Predicate = Callable[[Mapping[str, Any]], bool]
_ValueTest = Callable[[Any], bool]
_INDEX = re.compile(r"0|[1-9][0-9]*")


def compile_tree(node: Node) -> Predicate:
    """One closure for the whole tree: parse once, evaluate many times."""
    if isinstance(node, Condition):
        return _condition(node)
    children = tuple(compile_tree(child) for child in node.children)
    if node.op == "and":

        def every(event: Mapping[str, Any]) -> bool:
            return all(child(event) for child in children)

        return every

    def some(event: Mapping[str, Any]) -> bool:
        return any(child(event) for child in children)

    texts = _texts_of_one_field(node)
    return some if texts is None else _one_of(*texts, some)


def _texts_of_one_field(group: Group) -> tuple[str, frozenset[str]] | None:
    """The field and texts of an `or` of `field = "text"` tests on one plain field (the
    default preset's shape), else None."""
    root: str | None = None
    texts: set[str] = set()
    for test in group.children:
        if not (isinstance(test, Condition) and test.op == "=" and isinstance(test.value, str)):
            return None
        if test.field.path or root not in (None, test.field.root):
            return None
        root = test.field.root
        texts.add(test.value)
    return None if root is None else (root, frozenset(texts))


def _one_of(key: str, texts: frozenset[str], each: Predicate) -> Predicate:
    """`key = "a" or key = "b" ...` as one set lookup. A value that is not exactly a str never
    equals a text in JSON data, but is still tested one condition at a time by `each`."""

    def test(event: Mapping[str, Any]) -> bool:
        value = event.get(key)
        return value in texts if type(value) is str else each(event)

    return test


def _condition(condition: Condition) -> Predicate:
    op, value, field = condition.op, condition.value, condition.field
    if not field.path and isinstance(value, str) and op in ("=", "!="):
        key = field.root  # the default preset's shape: keep it to one dict lookup
        if op == "=":
            return lambda event: value == event.get(key)
        return lambda event: value != event.get(key)
    read = _reader(field)
    if isinstance(value, float):
        test = _NUMBER_TESTS[op](value)
    elif isinstance(value, str):
        test = _TEXT_TESTS[op](value)
    else:
        test = _CHECKS[op]
    return lambda event: test(read(event))


def _reader(field: Field) -> Callable[[Mapping[str, Any]], Any]:
    root = field.root
    if not field.path:
        return lambda event: event.get(root)
    steps = tuple((key, int(key) if _INDEX.fullmatch(key) else None) for key in field.path)

    def read(event: Mapping[str, Any]) -> Any:
        value = event.get(root)
        for key, index in steps:
            value = _member(value, key, index)
        return value

    return read


def _member(value: Any, key: str, index: int | None) -> Any:
    """JavaScript's `value && value[key]` on a JSON value."""
    if isinstance(value, dict):
        return value.get(key)
    if isinstance(value, list):
        if index is not None:
            return value[index] if index < len(value) else None
        return len(value) if key == "length" else None
    if isinstance(value, str):
        if not value:
            return value
        units = value.encode("utf-16-le", "surrogatepass")  # JavaScript counts UTF-16 units
        if key == "length":
            return len(units) // 2
        if index is None or 2 * index >= len(units):
            return None
        return units[2 * index : 2 * index + 2].decode("utf-16-le", "surrogatepass")
    if value is None or value is False or _falsy_number(value):
        return value
    return None


def _falsy_number(value: Any) -> bool:
    number = _number(value)
    return number is not None and (number == 0 or math.isnan(number))


def _number(value: Any) -> float | None:
    """The JavaScript number of a JSON number; None for anything else (booleans included)."""
    if isinstance(value, float):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            return math.inf if value > 0 else -math.inf
    return None


_TEXT_TESTS: dict[str, Callable[[str], _ValueTest]] = {
    "=": lambda text: lambda value: text == value,
    "!=": lambda text: lambda value: text != value,
    "contains": lambda text: lambda value: isinstance(value, str) and text in value,
    "not_contains": lambda text: lambda value: isinstance(value, str) and text not in value,
    "starts_with": lambda text: lambda value: isinstance(value, str) and value.startswith(text),
    "not_starts_with": lambda text: (
        lambda value: isinstance(value, str) and not value.startswith(text)
    ),
    "ends_with": lambda text: lambda value: isinstance(value, str) and value.endswith(text),
    "not_ends_with": lambda text: lambda value: isinstance(value, str) and not value.endswith(text),
}
_NUMBER_TESTS: dict[str, Callable[[float], _ValueTest]] = {
    "number_equals": lambda x: lambda value: _number(value) == x,
    "number_not_equals": lambda x: lambda value: (n := _number(value)) is not None and n != x,
    "<": lambda x: lambda value: (n := _number(value)) is not None and n < x,
    "<=": lambda x: lambda value: (n := _number(value)) is not None and n <= x,
    ">": lambda x: lambda value: (n := _number(value)) is not None and n > x,
    ">=": lambda x: lambda value: (n := _number(value)) is not None and n >= x,
}
_CHECKS: dict[str, _ValueTest] = {
    "exists": lambda value: value is not None,
    "not_exists": lambda value: value is None,
    "is_true": lambda value: value is True,
    "is_false": lambda value: value is False,
}
