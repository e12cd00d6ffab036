"""Field mappings: the subset of Segment's mapping-kit that the Send Entire Event action needs.

`@path`, `@if`, `@template`, `@literal` and `@arrayPath` behave as in
`packages/core/src/mapping-kit` of `segmentio/action-destinations`, JavaScript quirks included
(except properties of strings and prototypes, such as `"abc".length`), so a mapping copied
from Segment produces the same JSON. Unlike Segment, every configuration
problem is found once, at start-up, and `apply` never raises: the mapping is compiled into
closures, so the default `{"@path": "$."}` costs one function call per event.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Any, Final

__all__ = ["FieldMapping", "MappingError", "compile_mapping"]


class MappingError(ValueError):
    """A field mapping is invalid; the message says where (such as `data.sku.@path`) and why."""


_MISSING: Final = object()  # JavaScript's `undefined`: Segment removes keys that hold it
_Node = Callable[[Any], Any]  # scope (the event, or an @arrayPath item) -> value or _MISSING


class _Const:
    """A part of the mapping without directives, resolved once at start-up."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __call__(self, scope: Any) -> Any:
        return self.value


@dataclass(frozen=True)
class FieldMapping:
    """A validated mapping, ready to apply to any number of events."""

    source: Any
    _node: _Node = field(repr=False, compare=False)

    def apply(self, event: dict[str, Any]) -> Any:
        """Map one event; None if it all resolves to nothing. The result may share objects
        with the event and the mapping: treat it as read-only."""
        result = self._node(event)
        return None if result is _MISSING else result


def compile_mapping(value: Any, *, name: str = "mapping") -> FieldMapping:
    """Validate `value` and compile it; `name` starts the locations in error messages."""
    return FieldMapping(value, _compile(value, name))


def _compile(value: Any, loc: str) -> _Node:
    if isinstance(value, dict):
        if _is_directive(value):
            return _directive(value, loc)
        return _object(value, loc)
    if isinstance(value, list):
        nodes = [_compile(item, f"{loc}[{i}]") for i, item in enumerate(value)]
        if all(isinstance(node, _Const) for node in nodes):
            return _Const([_or_null(node(None)) for node in nodes])
        return lambda scope: [_or_null(node(scope)) for node in nodes]
    if value is None or isinstance(value, str | int | float):
        return _Const(value)
    raise MappingError(f"{loc}: a {type(value).__name__} is not a JSON value.")


def _object(value: dict[Any, Any], loc: str) -> _Node:
    fields = tuple((key, _compile(item, f"{loc}.{key}")) for key, item in value.items())
    if all(isinstance(node, _Const) for _, node in fields):
        return _Const({k: v for k, node in fields if (v := node(None)) is not _MISSING})

    def resolve(scope: Any) -> dict[str, Any]:
        out = {}
        for key, node in fields:
            result = node(scope)
            if result is not _MISSING:  # Segment's removeUndefined
                out[key] = result
        return out

    return resolve


def _or_null(value: Any) -> Any:
    """A missing array item is written as null, as JSON.stringify does in Segment."""
    return None if value is _MISSING else value


def _is_directive(value: Any) -> bool:
    return isinstance(value, dict) and any(isinstance(k, str) and k.startswith("@") for k in value)


def _directive(value: dict[Any, Any], loc: str) -> _Node:
    names = [k for k in value if isinstance(k, str) and k.startswith("@")]
    others = [k for k in value if k not in names and k != "_metadata"]  # Segment's UI metadata
    if len(names) != 1 or others:
        keys = ", ".join(map(str, value))
        raise MappingError(
            f"{loc}: a directive must be the only key of its object (besides _metadata), "
            f"found {keys}."
        )
    name = names[0]
    compiler = _DIRECTIVES.get(name)
    if compiler is None:
        supported = ", ".join(_DIRECTIVES)
        kind = (
            "a Segment directive not supported here" if name in _SEGMENT_ONLY.split() else "unknown"
        )
        raise MappingError(f"{loc}: {name} is {kind} (supported: {supported}).")
    return compiler(value[name], f"{loc}.{name}")


def _path(arg: Any, loc: str) -> _Node:
    if isinstance(arg, str):
        keys = _static_path(arg, loc)
        return (lambda scope: _get(scope, keys)) if keys else (lambda scope: scope)
    if _is_directive(arg):
        inner = _compile(arg, loc)
        return lambda scope: _dynamic_get(scope, inner(scope))
    raise MappingError(
        f'{loc}: expected a path such as "$.properties.sku" or a directive, found {_kind(arg)}.'
    )


def _static_path(text: str, loc: str) -> tuple[str, ...]:
    """Keys of a configured path; we require the `$.` that Segment only strips if present."""
    if not text.startswith("$."):
        rest = text[1:] if text.startswith("$") else text
        hint = "$." + rest.lstrip(".")
        raise MappingError(f'{loc}: the path {text!r} must start with "$." (write {hint!r}).')
    return _keys(text[2:])


def _dynamic_get(scope: Any, path: Any) -> Any:
    """A path computed from the event, read as leniently as Segment reads it; never raises."""
    return _get(scope, _keys(path.replace("$.", "", 1))) if isinstance(path, str) else _MISSING


# Segment's `get` splits on ".", on "[" before a quote or digit, on "]" after one.
_SPLIT = re.compile(r"""\[(?=["'0-9])|\.|(?<=["'0-9])\]+""")


@lru_cache(maxsize=1024)
def _keys(path: str) -> tuple[str, ...]:
    """`a.b[0]['c d']` -> a, b, 0, c d: quotes are dropped, a dot always splits."""
    return tuple(part.replace("'", "").replace('"', "") for part in _SPLIT.split(path) if part)


def _get(scope: Any, keys: tuple[str, ...]) -> Any:
    """Read like JavaScript `a && a[k]`: a falsy value on the way is itself the result."""
    value = scope
    for key in keys:
        if _falsy(value):
            return value
        if isinstance(value, dict):
            value = value.get(key, _MISSING)
        elif isinstance(value, list):
            value = _item(value, key)
        else:
            return _MISSING
    return value


def _item(items: list[Any], key: str) -> Any:
    """An array's canonical index (`0`, `12`, not `01`) or its `length`, as in JavaScript."""
    if key == "length":
        return len(items)
    if key.isascii() and key.isdigit() and (key == "0" or key[0] != "0") and int(key) < len(items):
        return items[int(key)]
    return _MISSING


def _falsy(value: Any) -> bool:
    """JavaScript falsiness: null, missing, false, 0, "" and NaN; `{}` and `[]` are truthy."""
    if isinstance(value, str | int | float):
        return not value or (isinstance(value, float) and math.isnan(value))
    return value is None or value is _MISSING


def _if(arg: Any, loc: str) -> _Node:
    if not isinstance(arg, dict) or _is_directive(arg):
        raise MappingError(
            f'{loc}: expected an object with "exists" or "blank", found {_kind(arg)}.'
        )
    unknown = [str(k) for k in arg if k not in ("exists", "blank", "then", "else")]
    if unknown:
        raise MappingError(f"{loc}: unknown key {unknown[0]} (allowed: exists, blank, then, else).")
    tests = [k for k in ("exists", "blank") if k in arg]
    if len(tests) != 1:
        raise MappingError(f'{loc}: needs exactly one of "exists" and "blank".')
    test = tests[0]
    if _falsy(arg[test]):  # Segment throws on every event for these
        raise MappingError(f"{loc}.{test}: {json.dumps(arg[test])} is not a usable condition.")
    if "then" not in arg and "else" not in arg:
        raise MappingError(f'{loc}: needs "then" or "else".')
    condition = _compile(arg[test], f"{loc}.{test}")
    then = _compile(arg["then"], f"{loc}.then") if "then" in arg else _Const(_MISSING)
    # Segment tests `opts.else` for truthiness: null, false, 0 or "" there yields nothing.
    otherwise = (
        _Const(_MISSING) if _falsy(arg.get("else")) else _compile(arg["else"], f"{loc}.else")
    )
    holds = _exists if test == "exists" else _not_blank
    return lambda scope: then(scope) if holds(condition(scope)) else otherwise(scope)


def _exists(value: Any) -> bool:
    return value is not None and value is not _MISSING


def _not_blank(value: Any) -> bool:
    """Segment's `value != ''` (loose): 0, false, [], [""] and [null] are blank too."""
    if not _exists(value):
        return False
    if isinstance(value, str | list):
        return _js_string(value) != ""
    return not (isinstance(value, int | float) and value == 0)


def _template(arg: Any, loc: str) -> _Node:
    if isinstance(arg, str):
        return (lambda scope: _render(arg, scope)) if "{{" in arg else _Const(arg)
    if _is_directive(arg):
        inner = _compile(arg, loc)
        return lambda scope: _render(t, scope) if isinstance(t := inner(scope), str) else _MISSING
    raise MappingError(f"{loc}: expected a template string or a directive, found {_kind(arg)}.")


_TRIPLE = re.compile(r"\{\{\{([^}]+)\}\}\}")
_DOUBLE = re.compile(r"\{\{([^}]+)\}\}")


def _render(template: str, scope: Any) -> str:
    """Segment's two passes; as there, the second also expands what the first inserted."""

    def value(match: re.Match[str]) -> str:
        return _js_string(_get(scope, _keys(match.group(1).strip())))

    return _DOUBLE.sub(value, _TRIPLE.sub(value, template))


def _js_string(value: Any) -> str:
    """JavaScript's String(value ?? ''), which is how Segment writes a value into a template."""
    if value is None or value is _MISSING:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _js_number(value)
    if isinstance(value, list):
        return ",".join(_js_string(item) for item in value)
    return "[object Object]"


def _js_number(x: float) -> str:
    """Number.prototype.toString: `1.0` -> `1`, `1e-7` -> `1e-7`, `1e21` -> `1e+21`."""
    if x.is_integer() and abs(x) < 2**53:
        return str(int(x))
    if 1e-6 <= abs(x) < 1e21:  # JavaScript's fixed-point range, with the same shortest digits
        return format(Decimal(repr(x)), "f")
    text = re.sub(r"e([+-])0*(?=[0-9])", r"e\1", repr(x))
    return text.replace("inf", "Infinity").replace("nan", "NaN")


def _array_path(arg: Any, loc: str) -> _Node:
    if not isinstance(arg, list) or not 1 <= len(arg) <= 2:
        found = f"{len(arg)} items" if isinstance(arg, list) else _kind(arg)
        raise MappingError(f"{loc}: expected [path] or [path, item shape], found {found}.")
    first = arg[0]
    if not isinstance(first, str) and not _is_directive(first):
        raise MappingError(f"{loc}[0]: expected a path or a directive, found {_kind(first)}.")
    # A string is a path; a directive's value is itself the root.
    root = _path(first, f"{loc}[0]") if isinstance(first, str) else _compile(first, f"{loc}[0]")
    shape_source = arg[1] if len(arg) == 2 else {}
    if not isinstance(shape_source, dict):
        raise MappingError(
            f"{loc}[1]: the item shape must be an object, found {_kind(shape_source)}."
        )
    if not shape_source:
        return root
    shape = _compile(shape_source, f"{loc}[1]")

    def each(scope: Any) -> Any:
        value = root(scope)
        if isinstance(value, dict):
            value = [value]
        elif not isinstance(value, list):
            return value
        return [_or_null(shape(item)) for item in value]

    return each


def _kind(value: Any) -> str:
    """The JSON type, for messages; like Segment's validator, a directive is its own kind."""
    if _is_directive(value):
        return "a directive"
    types = (type(None), bool, int, float, str, list, dict)
    names = ("null", "a boolean", "a number", "a number", "a string", "an array", "an object")
    return dict(zip(types, names, strict=True)).get(type(value), f"a {type(value).__name__}")


_DIRECTIVES: Final[dict[str, Callable[[Any, str], _Node]]] = {
    "@arrayPath": _array_path,
    "@if": _if,
    "@literal": _compile,  # Segment's @literal resolves directives inside it: it is its value
    "@path": _path,
    "@template": _template,
}
# Segment's other directives, named so that a mapping copied from Segment gets a precise message.
_SEGMENT_ONLY: Final = "@case @excludeWhenNull @flatten @json @liquid @merge @replace @transform"
