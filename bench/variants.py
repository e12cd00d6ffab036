"""Run the consumer with a proposed change applied in memory, to measure it before editing
`consumer/`: `bench.py --variant NAME` starts every consumer through this file.

    .venv/bin/python bench/variants.py NAME[,NAME...] run --config FILE

Variants (each one names the change it stands for):

- `quick-poll`: `Consumer.consume` returns what librdkafka already holds at once, and otherwise
  waits for the *first* record only, instead of `consume(500, 0.1)` blocking until 500 records
  or 100 ms. In `consumer/kafka.py` since ee12c37 (a no-op there; kept to measure older code).
- `sniffio`: makes `import sniffio` succeed (a stub answering "asyncio") when the package is
  missing. httpcore imports sniffio on every lock and event; without it each import fails after
  a scan of sys.path. A dependency since ee12c37 (a no-op there).
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def quick_poll() -> None:
    from consumer import kafka

    original = kafka.Consumer.consume

    def consume(self: Any, max_records: int, timeout_s: float) -> list[Any]:
        records: list[Any] = original(self, max_records, 0.0)
        if records:
            return records
        first: list[Any] = original(self, 1, timeout_s)
        if not first or max_records == 1:
            return first
        return first + original(self, max_records - 1, 0.0)

    kafka.Consumer.consume = consume  # type: ignore[method-assign]


def sniffio() -> None:
    try:
        import sniffio as _  # noqa: F401 - installed: nothing to do
    except ImportError:
        stub = types.ModuleType("sniffio")
        stub.current_async_library = lambda: "asyncio"  # type: ignore[attr-defined]
        sys.modules["sniffio"] = stub


VARIANTS: dict[str, Callable[[], None]] = {
    "quick-poll": quick_poll,
    "sniffio": sniffio,
}


def apply(names: str) -> None:
    for name in filter(None, names.split(",")):
        if name not in VARIANTS:
            raise SystemExit(f"unknown variant {name!r}; known: {sorted(VARIANTS)}")
        VARIANTS[name]()


def main() -> int:
    apply(sys.argv[1])
    from consumer.cli import main as consumer_main

    return consumer_main(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
