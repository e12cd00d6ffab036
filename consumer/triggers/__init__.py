"""Segment's Actions trigger language ("FQL"): parse once at start-up, evaluate per event.

Reads triggers as Segment's `destination-subscriptions` package (and its lexer `fql-ts`) does,
quirks included, except that a trigger Segment would silently misread is refused with a
TriggerSyntaxError that says how Segment reads it and how to write what was meant.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from consumer.triggers._compile import Predicate, compile_tree
from consumer.triggers._lexer import TriggerSyntaxError
from consumer.triggers._parser import parse_tree

__all__ = ["Trigger", "TriggerSyntaxError", "parse"]


@dataclass(frozen=True)
class Trigger:
    """A trigger's text and its compiled test; equal when the texts are equal."""

    text: str
    _test: Predicate = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_test", compile_tree(parse_tree(self.text)))

    def matches(self, event: Mapping[str, Any]) -> bool:
        """Whether Segment would send `event` through this trigger; never raises on JSON data."""
        return self._test(event)


def parse(text: str) -> Trigger:
    """Parse `text` into a Trigger; raises TriggerSyntaxError naming the position."""
    return Trigger(text)
