"""Segment's Actions trigger language ("FQL"): parse once at start-up, evaluate per event.

Reads triggers as Segment's `destination-subscriptions` package (and its lexer `fql-ts`) does,
quirks included, except that a trigger Segment would silently misread is refused with a
TriggerSyntaxError that says how Segment reads it and how to write what was meant.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from consumer.core.triggers._compile import Predicate, compile_tree
from consumer.core.triggers._lexer import TriggerSyntaxError
from consumer.core.triggers._parser import parse_tree

__all__ = ["Trigger", "TriggerSyntaxError", "parse"]


@dataclass(frozen=True)
class Trigger:
    """A trigger's text and its compiled test; equal when the texts are equal.

    `matches(event)`: whether Segment would send `event` through this trigger; never raises on
    JSON data. It is the compiled closure itself, not a method calling it: it runs for every
    subscription of every event.
    """

    text: str
    matches: Predicate = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "matches", compile_tree(parse_tree(self.text)))


def parse(text: str) -> Trigger:
    """Parse `text` into a Trigger; raises TriggerSyntaxError naming the position."""
    return Trigger(text)
