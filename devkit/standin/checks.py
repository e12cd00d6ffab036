"""Pure checks over a recording: per-person order, losses and duplicates.

Delivery is at-least-once, so a person's order is judged on the first arrival of each messageId:
a replay after a crash re-sends old events, and that is a duplicate, not an order violation.
Records fetched over HTTP work too, after `Received.from_json`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .recording import Received


@dataclass(frozen=True)
class OrderViolation:
    """`message_id` of `person` first arrived after `after`, which was expected later."""

    person: str
    message_id: str
    after: str


def order_violations(
    received: Iterable[Received], expected_by_person: Mapping[str, Sequence[str]]
) -> list[OrderViolation]:
    """Each event of a person that first arrived after one expected later than it.

    Only messageIds in the person's expected list count; missing ones are `lost`, not late.
    """
    arrivals: dict[str, list[str]] = {person: [] for person in expected_by_person}
    for item in sorted(received, key=lambda r: r.seq):
        if item.message_id is None:
            continue
        for person in item.person_keys:
            if person in arrivals:
                arrivals[person].append(item.message_id)
    violations = []
    for person, expected in expected_by_person.items():
        position = {mid: i for i, mid in enumerate(expected)}
        seen: set[str] = set()
        latest: str | None = None  # the arrived event expected last so far
        for mid in arrivals[person]:
            if mid not in position or mid in seen:
                continue
            seen.add(mid)
            if latest is not None and position[mid] < position[latest]:
                violations.append(OrderViolation(person, mid, latest))
            else:
                latest = mid
    return violations


def lost(received: Iterable[Received], expected: Iterable[str]) -> set[str]:
    """messageIds expected but never received."""
    return set(expected) - {r.message_id for r in received if r.message_id is not None}


def duplicates(received: Iterable[Received]) -> dict[str, int]:
    """messageIds received more than once, with how many times."""
    counts = Counter(r.message_id for r in received if r.message_id is not None)
    return {mid: n for mid, n in counts.items() if n > 1}
