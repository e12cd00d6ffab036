"""Microseconds per event for the decision core's stages, on ~1 KB Confluent-Avro events.

Run: .venv/bin/python bench/bench_decision.py
     (for ab_decision.py: `--serve` times one pass of each stage named on a line of stdin and
     prints its us/event; `--once STAGE` runs one pass of STAGE over every tenth event)
"""

from __future__ import annotations

import sys
import timeit
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from workload import events

from consumer.core.decision import decide_record
from consumer.core.decode import Decoder, avro_codec
from consumer.core.mapping import compile_mapping
from consumer.core.movableink import (
    PRESET_DATA,
    PRESET_SUBSCRIBE,
    Destination,
    Secret,
    Subscription,
)
from consumer.core.triggers import parse

COUNT = 5_000
DECODE, WHOLE, AFTER_DECODE = "decode (Confluent Avro)", "whole decision", "decision after decode"


def default_destination() -> Destination:
    """The destination the decision benchmarks decide for: the default preset, as shipped."""
    return Destination(
        "bench",
        "http://127.0.0.1:1/behavioral/key",
        "user",
        Secret("secret"),
        (Subscription("Send Entire Event", parse(PRESET_SUBSCRIBE), compile_mapping(PRESET_DATA)),),
    )


def stages(count: int, stride: int = 1) -> dict[str, Callable[[], object]]:
    """One pass of each stage over every `stride`-th of `count` events of the bench workload."""
    sample = events(count, people=1_000)[::stride]
    values = [avro_codec.frame(1, avro_codec.encode(m)) for m in sample]
    decoder = Decoder()
    destination = default_destination()
    trigger = destination.subscriptions[0].trigger
    return {
        DECODE: lambda: [decoder.decode(v) for v in values],
        "trigger (default preset)": lambda: [trigger.matches(m) for m in sample],
        WHOLE: lambda: [decide_record(v, decoder, (destination,)) for v in values],
    }


def per_event_us(
    rows: dict[str, Callable[[], object]], count: int, repeat: int
) -> dict[str, float]:
    """Each stage's best of `repeat` passes."""
    return {
        k: min(timeit.repeat(w, number=1, repeat=repeat)) / count * 1e6 for k, w in rows.items()
    }


def with_gap(timed: dict[str, float]) -> dict[str, float]:
    """The figures and the decision's cost beyond decoding (the part after `decode`)."""
    return timed | {AFTER_DECODE: timed[WHOLE] - timed[DECODE]}


def main() -> None:
    if "--once" in sys.argv:
        stages(COUNT, stride=10)[sys.argv[sys.argv.index("--once") + 1]]()
        return
    rows = stages(COUNT)
    if "--serve" in sys.argv:
        for line in sys.stdin:
            work = rows[line.strip()]
            print(min(timeit.repeat(work, number=1, repeat=1)) / COUNT * 1e6, flush=True)
        return
    print(f"events: {COUNT}")
    for label, us in with_gap(per_event_us(rows, COUNT, repeat=5)).items():
        print(f"  {label:26} {us:7.2f} us/event")


if __name__ == "__main__":
    main()
