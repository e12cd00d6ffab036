"""`--profile`: py-spy on a consumer while it is measured, and its CPU per event by stage.

From 2 s into an end-to-end measurement, for up to 20 s, py-spy records the stacks of the thread
holding the GIL (`profile-<phase>.raw`) and a flame graph of every thread (`.svg`). Over the same
window the consumer's CPU is read per thread from /proc: librdkafka's own threads (`rdk:*`) fetch
and decompress, so their CPU is the consume stage's; the Python threads' CPU is split by the
share of GIL samples in each stage. A stack's stage is that of its deepest frame with one: a
`consumer/` function or module, or a library (aiohttp is HTTP, fastavro decode, ...); asyncio's
own loop counts as scheduling only under none of these. The split is an estimate (samples, not
clocks); the stages add up to the CPU per event measured over the window.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kit
from profile_summary import stacks, where

STAGES = ("consume", "decode", "decide", "schedule", "encode", "http", "bookkeeping", "other")
# consumer/ functions whose stage is not their module's
BY_FUNCTION = {
    "movableink.py:body_bytes": "encode",
    "batching.py:content": "encode",
}
# consumer/ modules and subpackages (by their path under consumer/), and libraries (by a folder
# of their path) for what runs below no staged consumer/ frame
_MODULES = {
    "consume": "kafka.py source.py readers.py records.py",
    "decode": "decode.py avro_codec.py avro_reader.py registry.py",
    "decide": "decision.py segment.py signals.py movableink.py jsvalues.py mapping triggers",
    "schedule": "delivery.py sender.py ordering.py batching.py limits.py circuit.py retry.py "
    "pipeline.py",
    "http": "transport.py http1.py",
    "bookkeeping": "metrics.py outcome.py offsets.py deadletter.py status.py logs.py",
}
_LIBRARIES = {
    "consume": "confluent_kafka",
    "decode": "fastavro",
    "http": "aiohttp yarl multidict httpx httpcore httptools",
    "bookkeeping": "prometheus_client logging",
}
BY_MODULE = {module: stage for stage, modules in _MODULES.items() for module in modules.split()}
BY_LIBRARY = {lib: stage for stage, libraries in _LIBRARIES.items() for lib in libraries.split()}
PROFILE_AFTER_S = 2.0


def stage(frames: list[str]) -> str:
    """The stage of one stack (frames from the outermost)."""
    loop = False
    for frame in reversed(frames):
        file, func = where(frame)
        parts = file.split("/")
        if "consumer" in parts:
            inside = parts[len(parts) - parts[::-1].index("consumer") :]
            found = BY_FUNCTION.get(f"{inside[-1]}:{func}") or BY_MODULE.get(inside[0])
        else:
            found = next((BY_LIBRARY[p] for p in parts if p in BY_LIBRARY), None)
        if found:
            return found
        loop = loop or "asyncio" in parts
    return "schedule" if loop else "other"


def py_spy() -> str:
    """py-spy: $PY_SPY, else next to this Python, else on PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    found = os.environ.get("PY_SPY") or (str(beside) if beside.exists() else None)
    found = found or shutil.which("py-spy")
    if found is None:
        raise RuntimeError("--profile needs py-spy: pip install py-spy (or set PY_SPY)")
    return found


@dataclass
class Reading:
    """Events so far and the consumer's CPU seconds: librdkafka's threads, the others."""

    events: int
    librdkafka_s: float
    python_s: float


@dataclass
class Profiler:
    """py-spy on `pid` from `PROFILE_AFTER_S` into a measurement (`follow`'s `on_sample`), and
    the stages of its CPU per event when it is done."""

    pid: int
    name: str
    cap_s: float
    events: Callable[[], int]  # events so far, where the measurement counts them
    spies: list[subprocess.Popen[bytes]] = field(default_factory=list)
    start: Reading | None = None

    def read(self) -> Reading:
        librdkafka_s, python_s = kit.thread_cpu_seconds(self.pid)
        return Reading(self.events(), librdkafka_s, python_s)

    def on_sample(self, elapsed: float, _: int) -> None:
        if self.start is None and elapsed >= PROFILE_AFTER_S:
            self.start = self.read()
            seconds = max(5.0, min(20.0, self.cap_s - 3))
            out = kit.RESULTS / f"profile-{self.name}"
            # raw: only the thread holding the GIL (what the one busy core does); svg: every thread
            for fmt, suffix, extra in (("raw", ".raw", ["--gil"]), ("flamegraph", ".svg", [])):
                command = [py_spy(), "record", "--pid", str(self.pid)]
                command += ["--duration", str(int(seconds)), "--rate", "50"]
                command += ["--format", fmt, "-o", f"{out}{suffix}", *extra]
                self.spies.append(
                    subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                )

    @property
    def raw(self) -> Path:
        return kit.RESULTS / f"profile-{self.name}.raw"

    def finish(self) -> dict[str, Any] | None:
        """Wait for py-spy; the window's CPU per event by stage (None if it never started)."""
        for spy in self.spies:
            spy.wait()
        if self.start is None or not self.raw.exists():
            return None
        end = self.read()
        events = end.events - self.start.events
        samples: Counter[str] = Counter()
        for frames, count in stacks(self.raw):
            samples[stage(frames)] += count
        total = sum(samples.values())
        if events <= 0 or not total:
            return None
        python_us = (end.python_s - self.start.python_s) / events * 1e6
        librdkafka_us = (end.librdkafka_s - self.start.librdkafka_s) / events * 1e6
        us = {s: samples[s] / total * python_us for s in STAGES}
        us["consume"] += librdkafka_us
        return {
            "events": events,
            "samples": total,
            "python_cpu_us_per_event": python_us,
            "librdkafka_cpu_us_per_event": librdkafka_us,
            "share_of_samples": {s: samples[s] / total for s in STAGES},
            "us_per_event": us,
        }
