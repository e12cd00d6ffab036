"""The one speed trick of the pure core's records: a named tuple made from its fields.

A `NamedTuple`'s constructor is a Python function (it fills in defaults) called from C. The
records made for every delivered event (its `Request`, each `Delivery`, each `Verdict`, the
`Decision`, the Kafka wrapper's `Record` of each message read, and what the order across
partitions holds and hands on of each, `_Held` and `Released`) are made instead by
`tuple.__new__`, which builds the same tuple for about half the CPU (bench/README.md). It
takes every field, in order, and checks nothing: a test (`tests/unit/test_tuples.py`) reads
every call and fails if one gives a record the wrong number of fields.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar, cast

T = TypeVar("T", bound=tuple[Any, ...])


class _FromFields(Protocol):
    def __call__(self, cls: type[T], fields: tuple[Any, ...], /) -> T: ...


# `record(Delivery, (destination, mapping, request, content))`: every field, in order.
record = cast(_FromFields, tuple.__new__)
