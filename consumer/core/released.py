"""What a waiting rule hands on: the order across partitions and the identity gate alike."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

Item = TypeVar("Item")
Reason = TypeVar("Reason")


@dataclass(frozen=True, slots=True)
class Released(Generic[Item, Reason]):
    """An item handed on: how long it was held, and why early or without the guarantee
    (None: in order, with the guarantee)."""

    item: Item
    held_s: float
    reason: Reason | None
