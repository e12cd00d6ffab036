"""What the benchmarks and the chaos suite add to the shared harness (devkit/harness.py):
where runs keep their files, progress lines, the stand-in in its own process, bulk and paced
production, the CPU and memory of a process, and rates followed over time.

Every script here imports it first (pyproject's isort `force-to-top`).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import confluent_kafka

from devkit import harness
from devkit.harness import PASSWORD, ROOT, USERNAME, Record

STATE = ROOT / ".run" / "bench"
RESULTS = Path(__file__).resolve().parent / "results"
# The bench's producers batch and compress: the workload is produced faster than it is read.
BULK = {
    "linger.ms": 20,
    "batch.size": 1_000_000,
    "compression.type": "lz4",
    "queue.buffering.max.messages": 500_000,
}


# -- progress ---------------------------------------------------------------------------------


class Progress:
    """One status line on stderr: rewritten in place on a terminal, every 5 s otherwise."""

    def __init__(self, label: str, total: int | None = None) -> None:
        self.label = label
        self.total = total
        self.started = time.monotonic()
        self._tty = sys.stderr.isatty()
        self._last = 0.0

    def update(self, done: int, extra: str = "", force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < (0.5 if self._tty else 5.0):
            return
        self._last = now
        elapsed = now - self.started
        rate = done / elapsed if elapsed > 0 else 0.0
        of = f"/{self.total:,}" if self.total else ""
        text = f"  {self.label}: {done:,}{of}  {rate:,.0f}/s  {elapsed:.0f}s"
        if self.total and rate > 0 and done < self.total:
            text += f"  eta {(self.total - done) / rate:.0f}s"
        if extra:
            text += f"  {extra}"
        if self._tty:
            sys.stderr.write("\r\x1b[2K" + text)
        else:
            sys.stderr.write(text + "\n")
        sys.stderr.flush()

    def done(self, message: str = "") -> None:
        if self._tty:
            sys.stderr.write("\r\x1b[2K")
        elapsed = time.monotonic() - self.started
        sys.stderr.write(f"  {self.label}: done in {elapsed:.1f}s {message}\n")
        sys.stderr.flush()


def workload_parser(doc: str | None, quick: str, events: str) -> argparse.ArgumentParser:
    """A script's parser, described by its docstring's first line, with the options of the
    bench workload: --quick (`quick` its help), --events (`events`), --people, --partitions."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    parser.add_argument("--quick", action="store_true", help=quick)
    parser.add_argument("--events", type=int, help=events)
    parser.add_argument("--people", type=int, help="distinct people (default 20,000)")
    parser.add_argument("--partitions", type=int, default=12)
    return parser


def say(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def kafka_message(
    topic: str, partition: int, offset: int, key: bytes, value: bytes, timestamp_ms: int
) -> confluent_kafka.Message:
    """A record as librdkafka's consumer hands it over, made without a broker (for the
    benchmarks that feed the consumer from a stand-in client)."""
    return confluent_kafka.Message(
        topic=topic,
        partition=partition,
        offset=offset,
        key=key,
        value=value,
        timestamp=(confluent_kafka.TIMESTAMP_CREATE_TIME, timestamp_ms),
    )


# -- producing --------------------------------------------------------------------------------


def produce_all(
    bootstrap: str,
    topic: str,
    records: Iterable[Record],
    total: int | None = None,
    label: str = "produce",
) -> int:
    """Produce records as fast as the broker takes them, with a progress line; returns how many."""
    progress = Progress(f"{label} {topic}", total)
    count = harness.produce_records(
        bootstrap, topic, records, on_count=progress.update, settings=BULK
    )
    progress.done(f"({count:,} records)")
    return count


def produce_paced(
    bootstrap: str, topic: str, records: list[Record], rate: float, label: str
) -> float:
    """Produce records at `rate` per second, with a progress line; returns the rate achieved.

    The cyclic garbage collector is off meanwhile (what the bench holds frozen first): its
    full collections of this process paused production for 0.1-0.35 s, then sent the events
    of the pause in one burst, which the latency figure counted as the consumer's. Appends are
    timed by the broker (LogAppendTime), so the producer's 5 ms linger is not in the figure;
    at 1 ms it sent ~1,000 requests/s, and the broker sharing our two cores used 0.7 of one."""
    progress = Progress(f"{label}: producing at {rate:,.0f}/s", len(records))
    gc.freeze()
    gc.disable()
    started = time.monotonic()
    try:
        harness.produce_records(
            bootstrap,
            topic,
            records,
            rate=rate,
            on_count=progress.update,
            settings=BULK | {"linger.ms": 5},  # appends are timed by the broker: fewer requests
        )
    finally:
        gc.enable()
        gc.unfreeze()
    achieved = len(records) / (time.monotonic() - started)
    progress.done(f"(achieved {achieved:,.0f}/s)")
    return achieved


# -- the stand-in in its own process ----------------------------------------------------------


class StandInProcess:
    """`python -m devkit.standin` with its HTTP control API."""

    def __init__(self, latency_ms: float = 0.0, log: Path | None = None) -> None:
        command = [sys.executable, "-m", "devkit.standin", "--port", "0"]
        command += ["--username", USERNAME, "--password", PASSWORD]
        command += ["--latency-ms", str(latency_ms)]
        self._log = (log or STATE / "standin.log").open("ab")
        self.proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=self._log, text=True, start_new_session=True
        )
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        self.control = self.proc.stdout.readline().strip()
        if not self.url.startswith("http"):
            self.stop()
            raise RuntimeError("the stand-in did not start; see its log")

    def _call(self, method: str, path: str, body: Any = None, timeout: float = 60) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.control}/{path}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())

    def faults(self, **faults: Any) -> None:
        self._call("POST", "faults", faults)

    def latency(self, ms: float) -> None:
        self.faults(latency_ms=ms)

    def down(self, for_s: float | None = None) -> None:
        self._call("POST", "down", {"for_s": for_s})

    def up(self) -> None:
        self._call("POST", "up", {})

    def reset(self, settle: bool = True) -> None:
        """Forget faults and recordings, once no client connection is left (a killed
        consumer's requests still in the stand-in would otherwise be counted after it)."""
        deadline = time.monotonic() + (10 if settle else 0)
        while time.monotonic() < deadline and self.stats().get("connections", 0):
            time.sleep(0.1)
        self._call("POST", "reset", {"faults": True, "received": True})

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "stats")
        return result

    def accepted(self) -> int:
        return int(self.stats()["accepted_events"])

    def wait_accepted(self, count: int, timeout: float) -> None:
        """Until `count` events were accepted since the last reset."""
        what = f"{count:,} events at the stand-in"
        harness.wait_for(lambda: self.accepted() >= count, timeout, what, poll=0.25)

    def received(self, since: int = 0) -> tuple[list[dict[str, Any]], int]:
        """One page of accepted events from `since`, and where the next page starts."""
        page = self._call("GET", f"received?since={since}", timeout=300)
        return page["received"], page["next"]

    def cpu_s(self) -> float:
        return cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._log.close()


# -- a process's CPU and memory ---------------------------------------------------------------


def _cpu_s(stat: Path) -> float:
    """User plus system CPU seconds of a /proc `stat` file (0 if it is gone)."""
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of a process so far, all its threads (0 if it is gone)."""
    return _cpu_s(Path(f"/proc/{pid}/stat"))


def broker_pid() -> int:
    """The bench broker's PID (written by `devkit/broker.py` into its state folder)."""
    return int((STATE / "kafka" / "pid").read_text().split()[0])


def machine_cpu_seconds() -> tuple[float, float]:
    """The whole machine's busy and total CPU seconds so far, all cores (/proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(fields[:8]) - idle) / tick, sum(fields[:8]) / tick


def thread_cpu_seconds(pid: int) -> tuple[float, float]:
    """CPU seconds so far of a process's librdkafka threads (named `rdk:*`) and of its other
    threads, those alive now."""
    librdkafka = others = 0.0
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            name = (task / "comm").read_text()
        except OSError:
            continue
        if name.startswith("rdk:"):
            librdkafka += _cpu_s(task / "stat")
        else:
            others += _cpu_s(task / "stat")
    return librdkafka, others


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of a process, in kB."""
    found = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                found[name] = int(value.split()[0])
    except OSError:
        pass
    return found


# -- rate measurement -------------------------------------------------------------------------


@dataclass
class RateResult:
    """Events per second over the measured window (from the first event seen to the end), and
    the CPU the measured processes used in it."""

    events: int
    seconds: float
    cpu_s: float = 0.0
    samples: list[tuple[float, int]] = field(default_factory=list)

    @property
    def overall_rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_us_per_event(self) -> float:
        """Their user + system CPU per event: far steadier from run to run than the rate on a
        shared machine."""
        return self.cpu_s / self.events * 1e6 if self.events > 0 else 0.0

    @property
    def rate(self) -> float:
        """The steady rate: the first `min(5 s, 20 %)` of the window (connections opening,
        the first fetches) is left out."""
        if len(self.samples) < 3:
            return self.overall_rate
        warmup = min(5.0, 0.2 * self.samples[-1][0])
        t0, n0 = next((t, n) for t, n in self.samples if t >= warmup)
        t1, n1 = self.samples[-1]
        return (n1 - n0) / (t1 - t0) if t1 > t0 else self.overall_rate


def follow(
    count: Callable[[], int],
    target: int,
    cap_s: float,
    label: str,
    *,
    start_timeout_s: float = 60.0,
    pids: Iterable[int] = (),
    on_sample: Callable[[float, int], None] | None = None,
) -> RateResult:
    """Poll `count` until it reaches `target` or `cap_s` seconds after it first moved; the CPU
    of the processes `pids` over the same window."""
    pids = tuple(pids)
    progress = Progress(label, target)
    deadline = time.monotonic() + start_timeout_s
    first = count()
    while first <= 0:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{label}: nothing happened within {start_timeout_s:.0f} s")
        time.sleep(0.05)
        first = count()
    t0 = time.monotonic()
    cpu0 = sum(map(cpu_seconds, pids))
    samples = [(0.0, first)]
    now_count = first
    while now_count < target and time.monotonic() - t0 < cap_s:
        time.sleep(0.25)
        now_count = count()
        elapsed = time.monotonic() - t0
        samples.append((elapsed, now_count))
        if on_sample is not None:
            on_sample(elapsed, now_count)
        progress.update(now_count)
    elapsed = time.monotonic() - t0
    cpu = sum(map(cpu_seconds, pids)) - cpu0
    result = RateResult(now_count - first, elapsed, cpu, samples)
    progress.done(f"{result.rate:,.0f} events/s over {result.events:,} events")
    return result
