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
- `recheck`: a request that waited for a concurrency slot re-checks the circuit (and any
  Retry-After) once it has the slot, and goes back to the gate unless it is the probe; stands
  for a change to `DestinationWorker._post` in `consumer/delivery.py`. Without it, every request
  queued for a slot before the circuit opened still hits the dead endpoint (measured: ~10,000
  refused connections in 45 s with one destination down).
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


def recheck() -> None:
    """A request that got its concurrency slot re-checks the circuit before it goes: if the
    destination went down (or a Retry-After began) while it queued for the slot, it gives the
    slot back and waits at the gate again, unless it is the probe."""
    import contextvars

    from consumer import delivery

    is_probe: contextvars.ContextVar[bool] = contextvars.ContextVar("is_probe", default=False)
    gate = delivery.DestinationWorker._gate

    async def _gate(self: Any) -> bool:
        probe: bool = await gate(self)
        is_probe.set(probe)
        return probe

    init = delivery.DestinationWorker.__init__

    def init_and_wrap(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        limit = self._limit
        acquire = limit.acquire

        async def checked() -> None:
            while True:
                await acquire()
                circuit = self.circuit
                if is_probe.get() or (
                    circuit.state == "closed" and circuit.wait_s(self._clock()) <= 0
                ):
                    return
                limit.release()
                await _gate(self)

        limit.acquire = checked

    delivery.DestinationWorker._gate = _gate  # type: ignore[method-assign]
    delivery.DestinationWorker.__init__ = init_and_wrap  # type: ignore[method-assign]


VARIANTS: dict[str, Callable[[], None]] = {
    "quick-poll": quick_poll,
    "sniffio": sniffio,
    "recheck": recheck,
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
