"""Microseconds per event for the decision core's stages, on ~1 KB Confluent-Avro events.

Run: .venv/bin/python bench/bench_decision.py
"""

from __future__ import annotations

import sys
import timeit
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from workload import events

from consumer import avro_codec
from consumer.decision import decide_record
from consumer.decode import Decoder
from consumer.mapping import compile_mapping
from consumer.movableink import PRESET_DATA, PRESET_SUBSCRIBE, Destination, Secret, Subscription
from consumer.triggers import parse

COUNT = 5_000


def per_event_us(work: Callable[[], object], count: int) -> float:
    return min(timeit.repeat(work, number=1, repeat=5)) / count * 1e6


def main() -> None:
    sample = events(COUNT, people=1_000)
    values = [avro_codec.frame(1, avro_codec.encode(m)) for m in sample]
    size = sum(len(v) for v in values) / len(values)
    decoder = Decoder()
    trigger = parse(PRESET_SUBSCRIBE)
    destination = Destination(
        "bench",
        "http://127.0.0.1:1/behavioral/key",
        "user",
        Secret("secret"),
        (Subscription("Send Entire Event", trigger, compile_mapping(PRESET_DATA)),),
    )
    rows = {
        "decode (Confluent Avro)": lambda: [decoder.decode(v) for v in values],
        "trigger (default preset)": lambda: [trigger.matches(m) for m in sample],
        "whole decision": lambda: [decide_record(v, decoder, (destination,)) for v in values],
    }
    print(f"events: {COUNT}, mean value size {size:.0f} bytes")
    for label, work in rows.items():
        print(f"  {label:26} {per_event_us(work, COUNT):7.2f} us/event")


if __name__ == "__main__":
    main()
