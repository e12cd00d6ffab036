"""Segment's condition tree, as the parser builds it and the compiler reads it: conditions on
a field with Segment's operator names (`number_equals`, `exists`, ...), in and/or groups."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

PLAIN_FIELDS = frozenset({"type", "event", "name", "userId"})
PATH_FIELDS = frozenset({"properties", "traits", "context"})


@dataclass(frozen=True, slots=True)
class Field:
    root: str  # one of PLAIN_FIELDS or PATH_FIELDS
    path: tuple[str, ...]  # the parts after `properties.` etc.; empty for PLAIN_FIELDS


@dataclass(frozen=True, slots=True)
class Condition:
    field: Field
    op: str  # Segment's operator name
    value: str | float | None  # text for text tests, a number for numeric ones, None for checks


@dataclass(frozen=True, slots=True)
class Group:
    op: Literal["and", "or"]
    children: tuple[Node, ...]


Node = Condition | Group
