"""Compile a mapping into closures, checking it as Segment's `validate` does on the way.

Segment's `validate` walks objects and directives but not the items of arrays, nor the inside
of a plain object given to `@literal` or `@excludeWhenNull`; there Segment only evaluates. So
each part is compiled either *validated* (what `validate` refuses is refused) or not (only what
fails at every evaluation is refused, as our stricter rule; the rest follows evaluation).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from consumer.core.jsvalues import UNDEFINED

Node = Callable[[Any], Any]  # scope (the event, or an @arrayPath item) -> value or UNDEFINED


class MappingError(ValueError):
    """A mapping refused at start-up; the message says where (`...data.@if`) and why.

    `segment_accepts` is True where Segment's own `validate` lets it pass but its evaluation
    fails at every event that reaches it (our stricter rule).
    """

    def __init__(self, message: str, *, segment_accepts: bool = False) -> None:
        super().__init__(message)
        self.segment_accepts = segment_accepts


class MappingFailure(Exception):
    """Segment's evaluation throws for this event, so Segment does not send it."""


class Const:
    """A part of the mapping without directives, resolved once at start-up."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __call__(self, scope: Any) -> Any:
        return self.value


def is_directive(value: Any) -> bool:
    """Segment's runtime test: an object whose keys are all @-names (or `_metadata`)."""
    if not isinstance(value, dict):
        return False
    names = [k for k in value if k.startswith("@")]
    return bool(names) and all(k.startswith("@") or k == "_metadata" for k in value)


def has_directive_key(value: Any) -> bool:
    """What Segment's `validate` calls a directive: an object with any @-prefixed key."""
    return isinstance(value, dict) and any(k.startswith("@") for k in value)


def kind(value: Any) -> str:
    """The JSON type, for messages; like Segment's validator, a directive is its own kind."""
    if has_directive_key(value):
        return "a directive"
    if value is UNDEFINED:
        return "nothing"
    types = (type(None), bool, int, float, str, list, dict)
    names = ("null", "a boolean", "a number", "a number", "a string", "an array", "an object")
    return dict(zip(types, names, strict=True)).get(type(value), f"a {type(value).__name__}")


Directives = Mapping[str, Callable[[Any, "Part"], Node]]


@dataclass(frozen=True)
class Part:
    """Where a part sits in the mapping and whether Segment's `validate` looks at it."""

    loc: str
    validated: bool
    directives: Directives  # name -> compiler, handed down (the compilers call back in here)

    def at(self, key: str | int, *, validated: bool | None = None) -> Part:
        loc = f"{self.loc}[{key}]" if isinstance(key, int) else f"{self.loc}.{key}"
        return Part(loc, self.validated if validated is None else validated, self.directives)

    def compile(self, value: Any) -> Node:
        return compile_part(value, self)

    def check(self, ok: bool, problem: str) -> None:
        """Refuse what Segment's `validate` refuses (only where it looks)."""
        if self.validated and not ok:
            raise MappingError(f"{self.loc}: {problem}.")

    def always_fails(self, problem: str) -> NoReturn:
        """Refuse what Segment evaluates with an error every time (it accepted the mapping)."""
        raise MappingError(
            f"{self.loc}: {problem}; Segment fails on every event that reaches it.",
            segment_accepts=True,
        )

    def string_or_directive(self, value: Any) -> None:
        self.check(
            isinstance(value, str) or has_directive_key(value),
            f"expected a string or a directive, found {kind(value)}",
        )

    def options(self, value: Any, allowed: str) -> dict[str, Any]:
        """A directive's options object, as Segment's `validateObjectWithFields` wants it."""
        self.check(
            isinstance(value, dict) and not has_directive_key(value),
            f"expected an object with {allowed}, found {kind(value)}",
        )
        if not isinstance(value, dict):
            self.always_fails(f"expected an object with {allowed}, found {kind(value)}")
        if self.validated:  # validate() walks every value of the options, used or not
            for key, item in value.items():
                self.at(key).compile(item)
        return value


def compile_tree(value: Any, name: str, directives: Directives) -> Node:
    """The node for a whole field mapping (validated, as Segment validates a mapping)."""
    return compile_part(value, Part(name, True, directives))


def compile_part(value: Any, part: Part) -> Node:
    if isinstance(value, dict):
        if has_directive_key(value) and (part.validated or is_directive(value)):
            names = [k for k in value if k.startswith("@")]
            others = [k for k in value if not k.startswith("@") and k != "_metadata"]
            part.check(
                len(names) == 1 and not others,
                "a directive must be the only key of its object (besides _metadata), found "
                + ", ".join(value),
            )
            name = names[0]
            compiler = part.directives.get(name)
            if compiler is None:
                supported = ", ".join(part.directives)
                part.check(False, f"{name} is not a directive (supported: {supported})")
                part.always_fails(f"{name} is not a directive (supported: {supported})")
            return compiler(value[name], part.at(name))
        return _object(value, part)
    if isinstance(value, list):
        return _array(value, part)
    if value is None or value is UNDEFINED or isinstance(value, str | int | float):
        return Const(value)
    raise MappingError(f"{part.loc}: a {type(value).__name__} is not a JSON value.")


def _object(value: dict[str, Any], part: Part) -> Node:
    fields = tuple((key, part.at(key).compile(item)) for key, item in value.items())
    if all(isinstance(node, Const) for _, node in fields):
        return Const({k: node(None) for k, node in fields})

    def resolve(scope: Any) -> dict[str, Any]:
        return {key: node(scope) for key, node in fields}

    return resolve


def _array(value: list[Any], part: Part) -> Node:
    """Segment's `validate` does not look inside arrays: their items are only evaluated."""
    nodes = [part.at(i, validated=False).compile(item) for i, item in enumerate(value)]
    if all(isinstance(node, Const) for node in nodes):
        return Const([node(None) for node in nodes])
    return lambda scope: [node(scope) for node in nodes]


def remove_undefined(value: Any) -> Any:
    """Segment's removeUndefined then JSON: undefined keys go, undefined array items are null.

    Containers are copied only where something changes, so event data stays shared.
    """
    if isinstance(value, dict):
        cleaned = {k: remove_undefined(v) for k, v in value.items() if v is not UNDEFINED}
        same = len(cleaned) == len(value) and all(cleaned[k] is value[k] for k in cleaned)
        return value if same else cleaned
    if isinstance(value, list):
        items = [None if v is UNDEFINED else remove_undefined(v) for v in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    return value
