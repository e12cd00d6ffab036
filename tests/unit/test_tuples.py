"""`tuples.record` makes a named tuple from every field, in order, and checks nothing: every
call in the package is read here, and must give its record exactly its fields."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path
from typing import Any, NamedTuple

import consumer
from consumer.core.tuples import record

PACKAGE = Path(consumer.__file__).parent


class Pair(NamedTuple):
    first: int
    second: str = "b"


def test_a_record_is_the_tuple_its_constructor_makes() -> None:
    made = record(Pair, (1, "a"))
    assert made == Pair(1, "a") and type(made) is Pair and made.second == "a"


def _calls() -> list[tuple[str, Any, ast.Call]]:
    """Every `record(Class, (fields...))` call in the package, with the class it names."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text()
        if "from consumer.core.tuples import record" not in text:
            continue
        tree = ast.parse(text)
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "record":
                named = node.args[0]
                assert isinstance(named, ast.Name), f"{module}: record() of a non-name"
                cls = getattr(importlib.import_module(module), named.id)
                found.append((f"{module}:{node.lineno}", cls, node))
    return found


def test_every_record_call_gives_every_field_in_a_literal_tuple() -> None:
    calls = _calls()
    assert {cls.__name__ for _, cls, _ in calls} == {
        "Request",
        "Delivery",
        "Verdict",
        "Decision",
        "Record",
        "_Held",
        "Released",
    }
    for where, cls, node in calls:
        fields = node.args[1]
        assert isinstance(fields, ast.Tuple), f"{where}: the fields are not a literal tuple"
        assert len(fields.elts) == len(cls._fields), f"{where}: {cls.__name__} has other fields"
