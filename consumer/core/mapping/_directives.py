"""The directives that read and reshape values: each checks at start-up, evaluates per event.

Each function mirrors one `registerDirective` of actions-core's mapping-kit and the matching
`directive(...)` of its validator; the quirks kept are Segment's (see the README).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any, Final

from consumer.core.jsvalues import (
    UNDEFINED,
    js_entries,
    json_parse,
    json_stringify,
    loosely_empty,
    member,
    truthy,
    utf16_units,
)
from consumer.core.mapping._liquid import liquid
from consumer.core.mapping._text import case, replace, template
from consumer.core.mapping._tree import (
    Const,
    MappingFailure,
    Node,
    Part,
    compile_tree,
    has_directive_key,
    kind,
    remove_undefined,
)

# Segment's `get` splits on ".", on "[" before a quote or digit, on "]" after one.
_SPLIT = re.compile(r"""\[(?=["'0-9])|\.|(?<=["'0-9])\]+""")


@lru_cache(maxsize=1024)
def path_keys(path: str) -> tuple[str, ...]:
    """`a.b[0]['c d']` -> a, b, 0, c d: quotes are dropped, a dot always splits."""
    return tuple(part.replace("'", "").replace('"', "") for part in _SPLIT.split(path) if part)


def read(scope: Any, path: str) -> Any:
    """Segment's `get(scope, path)`, read like JavaScript `a && a[k]`; never raises."""
    if path in ("", "."):
        return scope
    value = scope
    for key in path_keys(path):
        value = member(value, key)
    return value


def _path_node(path: str) -> Node:
    path = path.replace("$.", "", 1)  # Segment strips the first "$." wherever it is
    if path in ("", "."):
        return lambda scope: scope
    keys = path_keys(path)
    if len(keys) == 1:
        key = keys[0]
        return lambda scope: member(scope, key)

    def walk(scope: Any) -> Any:
        value = scope
        for key in keys:
            value = member(value, key)
        return value

    return walk


def _string_argument(arg: Any, part: Part, name: str) -> Node:
    """A directive whose value resolves to a string (`registerStringDirective`)."""
    part.string_or_directive(arg)
    if isinstance(arg, str):
        return Const(arg)
    if not has_directive_key(arg):
        part.always_fails(f"{name} expects a string, found {kind(arg)}")
    inner = part.compile(arg)

    def text(scope: Any) -> str:
        value = inner(scope)
        if not isinstance(value, str):
            raise MappingFailure(f"{name}: expected string, got {kind(value)}")
        return value

    return text


def _path(arg: Any, part: Part) -> Node:
    if isinstance(arg, str):
        return _path_node(arg)
    path = _string_argument(arg, part, "@path")
    return lambda scope: read(scope, path(scope).replace("$.", "", 1))


def _template(arg: Any, part: Part) -> Node:
    if isinstance(arg, str):
        return (lambda scope: template(arg, scope, read)) if "{{" in arg else Const(arg)
    text = _string_argument(arg, part, "@template")
    return lambda scope: template(text(scope), scope, read)


def _literal(arg: Any, part: Part) -> Node:
    """Its value, evaluated; `validate` does not look inside a plain object given here."""
    return Part(part.loc, part.validated and has_directive_key(arg), part.directives).compile(arg)


def _array_path(arg: Any, part: Part) -> Node:
    part.check(isinstance(arg, list), f"expected [path, item shape], found {kind(arg)}")
    if not isinstance(arg, list):
        part.always_fails(f"expected [path, item shape], found {kind(arg)}")
    first = arg[0] if arg else UNDEFINED
    shape_source = arg[1] if len(arg) > 1 else UNDEFINED
    part.at(0).string_or_directive(first)
    root = _path_node(first) if isinstance(first, str) else part.at(0).compile(first)
    if not (isinstance(shape_source, dict) and shape_source):
        return root  # Segment returns the value itself when the shape is not a filled object
    shape = part.at(1).compile(shape_source)

    def each(scope: Any) -> Any:
        value = root(scope)
        if isinstance(value, dict):
            return [shape(value)]
        if isinstance(value, list):
            return [shape(item) for item in value]
        return value

    return each


def _if(arg: Any, part: Part) -> Node:
    options = part.options(arg, '"exists" or "blank", "then" and "else"')
    if not truthy(options.get("exists", UNDEFINED)) and not truthy(options.get("blank", UNDEFINED)):
        part.always_fails('@if needs an "exists" or a "blank" that is not null, false, 0 or ""')
    test_key = "exists" if "exists" in options else "blank"
    test = part.at(test_key).compile(options[test_key])
    then = part.at("then").compile(options["then"]) if "then" in options else Const(UNDEFINED)
    otherwise = (
        part.at("else").compile(options["else"])
        if truthy(options.get("else", UNDEFINED))  # Segment tests `opts.else` for truthiness
        else Const(UNDEFINED)
    )

    def present(value: Any) -> bool:
        return value is not None and value is not UNDEFINED

    def not_blank(value: Any) -> bool:
        return present(value) and not loosely_empty(value)

    holds = present if test_key == "exists" else not_blank
    return lambda scope: then(scope) if holds(test(scope)) else otherwise(scope)


def _exclude_when_null(arg: Any, part: Part) -> Node:
    inner = _literal(arg, part)

    def clean(scope: Any) -> Any:
        value = inner(scope)
        return UNDEFINED if value is None else _clean_nulls(value)

    return clean


def _clean_nulls(value: Any) -> Any:
    """Segment's cleanNulls: null members of objects (nested ones too) become undefined."""
    if not isinstance(value, dict):
        return value
    return {k: UNDEFINED if v is None else _clean_nulls(v) for k, v in value.items()}


def _json(arg: Any, part: Part) -> Node:
    options = part.options(arg, '"value" and "mode"')
    mode = options.get("mode", UNDEFINED)
    part.check(
        isinstance(mode, str) and mode.lower() in ("encode", "decode"),
        f'"mode" must be "encode" or "decode", found {kind(mode)}',
    )
    part.check("value" in options, 'needs a "value"')
    if not truthy(mode):
        part.always_fails('@json requires a "mode" key')
    if not truthy(options.get("value", UNDEFINED)):
        part.always_fails('@json requires a "value" that is not null, false, 0 or ""')
    inner = part.at("value").compile(options["value"])
    if mode == "encode":
        return lambda scope: _encode(inner(scope))
    if mode == "decode":
        return lambda scope: _decode(inner(scope))

    def neither(scope: Any) -> Any:
        inner(scope)  # evaluated all the same: it may fail
        return UNDEFINED  # "ENCODE" passes Segment's validate and then yields nothing

    return neither


def _encode(value: Any) -> Any:
    text = json_stringify(value)
    return UNDEFINED if text is None else text


def _decode(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json_parse(value)
    except (ValueError, RecursionError):
        return value


def _flatten(arg: Any, part: Part) -> Node:
    options = part.options(arg, '"separator" and "value"')
    separator_source = options.get("separator", UNDEFINED)
    part.check(
        separator_source is UNDEFINED or isinstance(separator_source, str),
        f'"separator" must be a string, found {kind(separator_source)}',
    )
    part.check("value" in options, 'needs a "value"')
    if not truthy(separator_source):
        part.always_fails('@flatten requires a "separator" that is not empty')
    separator = part.at("separator").compile(separator_source)
    inner = part.at("value").compile(options.get("value", UNDEFINED))
    omit_arrays = truthy(options.get("omitArrays", UNDEFINED))

    def flat(scope: Any) -> dict[str, Any]:
        text = separator(scope)
        if not isinstance(text, str):
            raise MappingFailure("@flatten requires a string separator")
        return _flatten_value(inner(scope), "", text, omit_arrays)

    return flat


def _flatten_value(value: Any, prefix: str, separator: str, omit_arrays: bool) -> dict[str, Any]:
    """Segment's flattenObject; an empty prefix counts as none, as in JavaScript."""
    if isinstance(value, dict):
        entries = js_entries(value)
    elif isinstance(value, list) and not omit_arrays:
        entries = [(str(i), item) for i, item in enumerate(value)]
    else:
        return {prefix: value}
    out: dict[str, Any] = {}
    for key, item in entries:
        out.update(
            _flatten_value(
                item, f"{prefix}{separator}{key}" if prefix else key, separator, omit_arrays
            )
        )
    return out


def _merge(arg: Any, part: Part) -> Node:
    options = part.options(arg, '"objects" and "direction"')
    direction_source = options.get("direction", UNDEFINED)
    objects_source = options.get("objects", UNDEFINED)
    part.check(
        direction_source is UNDEFINED
        or (isinstance(direction_source, str) and direction_source.lower() in ("left", "right")),
        f'"direction" must be "left" or "right", found {kind(direction_source)}',
    )
    part.check(
        isinstance(objects_source, list),
        f'"objects" must be an array, found {kind(objects_source)}',
    )
    if not truthy(direction_source):
        part.always_fails('@merge requires a "direction" key')
    if not isinstance(objects_source, list):
        part.always_fails('@merge requires an "objects" array')
    for i, item in enumerate(objects_source):
        part.at("objects").at(i).check(
            isinstance(item, dict), f"expected an object or a directive, found {kind(item)}"
        )
    direction = part.at("direction").compile(direction_source)
    objects = [
        part.at("objects").at(i, validated=part.validated).compile(item)
        for i, item in enumerate(objects_source)
    ]

    def merged(scope: Any) -> dict[str, Any]:
        left = direction(scope) == "left"
        values = [node(scope) for node in objects]
        out: dict[str, Any] = {}
        for value in reversed(values) if left else values:
            out.update(_own_entries(value))
        return out

    return merged


def _own_entries(value: Any) -> list[tuple[str, Any]]:
    """What Object.assign copies from a value: keys of objects, indices of arrays and strings."""
    if isinstance(value, dict):
        return js_entries(value)
    if isinstance(value, list):
        return [(str(i), item) for i, item in enumerate(value)]
    if isinstance(value, str):
        return [(str(i), unit) for i, unit in enumerate(utf16_units(value))]
    return []


def _transform(arg: Any, part: Part) -> Node:
    options = part.options(arg, '"apply" and "mapping"')
    apply_source = options.get("apply", UNDEFINED)
    mapping_source = options.get("mapping", UNDEFINED)
    for key, source in (("apply", apply_source), ("mapping", mapping_source)):
        part.at(key).check(
            isinstance(source, dict), f"expected an object or a directive, found {kind(source)}"
        )
    if not truthy(mapping_source) or not truthy(apply_source):
        part.always_fails('@transform requires an "apply" and a "mapping" key')
    if not isinstance(apply_source, dict):
        part.always_fails('@transform "apply" key should be an object')
    # Segment runs `transform(apply, ...)`, which validates `apply` at every event.
    apply = compile_tree(apply_source, part.at("apply").loc, part.directives)
    mapping = part.at("mapping").compile(mapping_source)

    def transformed(scope: Any) -> Any:
        payload = {} if scope is UNDEFINED else scope
        if not isinstance(payload, dict):
            raise MappingFailure(f"@transform: data must be an object, got {kind(payload)}")
        return mapping(remove_undefined(apply(payload)))

    return transformed


DIRECTIVES: Final[dict[str, Callable[[Any, Part], Node]]] = {
    "@if": _if,
    "@case": case,
    "@replace": replace,
    "@arrayPath": _array_path,
    "@path": _path,
    "@template": _template,
    "@literal": _literal,
    "@flatten": _flatten,
    "@json": _json,
    "@merge": _merge,
    "@transform": _transform,
    "@excludeWhenNull": _exclude_when_null,
    "@liquid": liquid,
}
