"""What a waiting rule hands on: the order across partitions and the identity gate alike."""

from __future__ import annotations

from typing import Generic, NamedTuple, TypeVar

Item = TypeVar("Item")
Reason = TypeVar("Reason")


class Released(NamedTuple, Generic[Item, Reason]):
    """An item handed on: how long it was held, and why early or without the guarantee
    (None: in order, with the guarantee). A named tuple: one is made per record held, by
    `tuples.record`."""

    item: Item
    held_s: float
    reason: Reason | None
