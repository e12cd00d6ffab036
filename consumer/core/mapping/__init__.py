"""Field mappings: Segment's whole mapping-kit (`@path` ... `@liquid`), checked once at start-up.

Each directive behaves as in `@segment/actions-core` (`packages/core/src/mapping-kit` of
`segmentio/action-destinations`), JavaScript semantics included, so a mapping copied from
Segment produces the same JSON. What Segment's `validate` refuses is a `MappingError` at
start-up, and so is what Segment fails on at every event that reaches it; what Segment fails
on only for some events raises `MappingFailure` for those events (the event is not sent).
The mapping is compiled into closures: the default `{"@path": "$."}` costs one call per event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from consumer.core.jsvalues import UNDEFINED
from consumer.core.mapping._directives import DIRECTIVES
from consumer.core.mapping._tree import (
    MappingError,
    MappingFailure,
    Node,
    compile_tree,
    is_directive,
    kind,
    remove_undefined,
)

__all__ = [
    "UNDEFINED",
    "FieldMapping",
    "MappingError",
    "MappingFailure",
    "compile_mapping",
    "is_directive",
    "kind",
]


@dataclass(frozen=True)
class FieldMapping:
    """A validated mapping, ready to apply to any number of events.

    `apply(event)`: the mapped value, `UNDEFINED` if nothing; raises `MappingFailure` where
    Segment throws. The result may share objects with the event and the mapping: treat it as
    read-only. It is the compiled closure itself, not a method calling it (one call per event
    for the default preset).
    """

    source: Any
    apply: Node = field(repr=False, compare=False)


def compile_mapping(value: Any, *, name: str = "mapping") -> FieldMapping:
    """Validate `value` and compile it; `name` starts the locations in error messages.

    A mapping that only reads a path yields no `UNDEFINED` inside its value, so it is not
    cleaned of them."""
    node = compile_tree(value, name, DIRECTIVES)
    reads_only = (
        isinstance(value, dict)
        and isinstance(value.get("@path"), str)
        and set(value) <= {"@path", "_metadata"}
    )
    return FieldMapping(value, node if reads_only else lambda event: remove_undefined(node(event)))
