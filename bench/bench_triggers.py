"""Microseconds per event for trigger evaluation: the default preset and a grouped trigger.

Run: .venv/bin/python bench/bench_triggers.py
"""

from __future__ import annotations

import timeit
from typing import Any

from consumer.core.triggers import parse

PRESET = 'type = "identify" or type = "track" or type = "page" or type = "screen" or type = "group"'
COMPLEX = 'type = "track" and (properties.price >= 100 or contains(event, "Order"))'
EVENTS: list[dict[str, Any]] = [
    {"type": "track", "event": "Order Completed", "properties": {"price": 42.5, "sku": "A-1"}},
    {"type": "alias", "previousId": "a-1", "userId": "u-1"},  # the preset's worst case: no match
    {"type": "identify", "userId": "u-1", "traits": {"plan": "pro"}},
]
ROUNDS = 200_000


def per_event_us(text: str) -> float:
    """The best of five runs, in microseconds per event, over a mix of matching and not."""
    matches = parse(text).matches
    events = EVENTS

    def run() -> None:
        for event in events:
            matches(event)

    best = min(timeit.repeat(run, number=ROUNDS // len(events), repeat=5))
    return best / (ROUNDS // len(events) * len(events)) * 1e6


def main() -> None:
    for label, text in (("default preset", PRESET), ("complex", COMPLEX)):
        print(f"{label:15} {per_event_us(text):6.3f} us/event   {text}")


if __name__ == "__main__":
    main()
