"""What the benchmark and the chaos suite share: the local broker, the stand-in in its own
process, topics, producing the workload, the consumer as a real process, /metrics, RSS, progress.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for _path in (ROOT / "deploy" / "local", ROOT, Path(__file__).resolve().parent):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import broker  # noqa: E402, F401 - deploy/local is on the path now; bench.py uses h.broker
import processes  # noqa: E402
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

USERNAME, PASSWORD = "bench-access-key", "bench-secret"
STATE = ROOT / ".run" / "bench"
RESULTS = Path(__file__).resolve().parent / "results"
STANDIN = ROOT / "deploy" / "local" / "standin"
VARIANT = ""  # bench/variants.py names: consumers run with these changes applied


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


def say(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def wait_until(
    predicate: Callable[[], bool], timeout: float, what: str, poll: float = 0.25
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(poll)


# -- Kafka ------------------------------------------------------------------------------------


def create_topic(
    bootstrap: str, topic: str, partitions: int, config: dict[str, str] | None = None
) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    new = NewTopic(topic, num_partitions=partitions, replication_factor=1, config=config or {})
    admin.create_topics([new], operation_timeout=30)[topic].result(timeout=30)


def producer(bootstrap: str, **extra: Any) -> Producer:
    conf = {
        "bootstrap.servers": bootstrap,
        "linger.ms": 20,
        "enable.idempotence": True,
        "batch.size": 1_000_000,
        "compression.type": "lz4",
        "queue.buffering.max.messages": 500_000,
        **extra,
    }
    return Producer(conf)


def produce_all(
    bootstrap: str,
    topic: str,
    records: Iterable[tuple[bytes | None, bytes]],
    total: int | None = None,
    label: str = "produce",
    **extra: Any,
) -> int:
    """Produce (key, value) pairs as fast as the broker takes them; returns how many."""
    out = producer(bootstrap, **extra)
    progress = Progress(f"{label} {topic}", total)
    count = 0
    for key, value in records:
        while True:
            try:
                out.produce(topic, value=value, key=key)
                break
            except BufferError:
                out.poll(0.05)
        count += 1
        if count % 1000 == 0:
            out.poll(0)
            progress.update(count)
    if out.flush(120) != 0:
        raise RuntimeError(f"could not produce every record to {topic}")
    progress.done(f"({count:,} records)")
    return count


def produce_paced(
    bootstrap: str, topic: str, pairs: list[tuple[bytes, bytes]], rate: float, label: str
) -> float:
    """Produce (key, value) pairs at `rate` per second; returns the rate achieved."""
    out = producer(bootstrap, **{"linger.ms": 1})
    out.list_topics(topic, timeout=10)  # connected before the pacing starts
    progress = Progress(f"{label}: producing at {rate:,.0f}/s", len(pairs))
    started = time.monotonic()
    for i, (key, value) in enumerate(pairs):
        pause = started + i / rate - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        out.produce(topic, value=value, key=key)
        out.poll(0)
        progress.update(i + 1)
    out.flush(60)
    achieved = len(pairs) / (time.monotonic() - started)
    progress.done(f"(achieved {achieved:,.0f}/s)")
    return achieved


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    client = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-offsets"})
    try:
        metadata = client.list_topics(topic, timeout=10).topics[topic]
        return {
            p: client.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in metadata.partitions
        }
    finally:
        client.close()


def committed_total(bootstrap: str, group: str, topic: str, partitions: int) -> int:
    """Sum of the group's committed offsets (records finished; 0 where none)."""
    client = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        parts = client.committed([TopicPartition(topic, p) for p in range(partitions)], 10)
    except KafkaException:
        return 0
    finally:
        client.close()
    return sum(max(0, p.offset) for p in parts)


def read_all(
    bootstrap: str, topic: str, idle_s: float = 3.0, timeout_s: float = 120.0
) -> list[Any]:
    """Every record of a topic up to its current end (stops after `idle_s` with nothing)."""
    ends = end_offsets(bootstrap, topic)
    want = sum(ends.values())
    client = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-reader-{time.monotonic_ns()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    client.subscribe([topic])
    found: list[Any] = []
    deadline = time.monotonic() + timeout_s
    last = time.monotonic()
    try:
        while len(found) < want and time.monotonic() < deadline:
            batch = client.consume(1000, 0.5)
            good = [m for m in batch if m.error() is None]
            found.extend(good)
            if good:
                last = time.monotonic()
            elif found and time.monotonic() - last > idle_s:
                break
    finally:
        client.close()
    return found


# -- the stand-in in its own process ----------------------------------------------------------


class StandInProcess:
    """`python deploy/local/standin` with its HTTP control API."""

    def __init__(self, latency_ms: float = 0.0, log: Path | None = None) -> None:
        command = [sys.executable, str(STANDIN), "--port", "0"]
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


# -- the consumer as a real process -----------------------------------------------------------


def toml_value(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


@dataclass
class Destination:
    name: str
    url: str
    options: dict[str, Any] = field(default_factory=dict)


def write_config(
    path: Path,
    *,
    bootstrap: str,
    topic: str,
    group: str,
    destinations: list[Destination],
    metrics_port: int,
    kafka: dict[str, Any] | None = None,
    delivery: dict[str, Any] | None = None,
    properties: dict[str, Any] | None = None,
    extra: str = "",
) -> Path:
    lines = [
        "[kafka]",
        f'bootstrap_servers = "{bootstrap}"',
        f'topics = ["{topic}"]',
        f'group_id = "{group}"',
        *(f"{k} = {toml_value(v)}" for k, v in (kafka or {}).items()),
        "[kafka.properties]",
        *(f'"{k}" = {toml_value(v)}' for k, v in (properties or {}).items()),
        "[metrics]",
        'host = "127.0.0.1"',
        f"port = {metrics_port}",
        "[delivery]",
        *(f"{k} = {toml_value(v)}" for k, v in (delivery or {}).items()),
    ]
    for d in destinations:
        lines += [
            "[[destinations]]",
            f'name = "{d.name}"',
            f'movable_ink_url = "{d.url}"',
            'username = "${BENCH_MI_USERNAME}"',
            'password = "${BENCH_MI_PASSWORD}"',
            *(f"{k} = {toml_value(v)}" for k, v in d.options.items()),
        ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([*lines, extra]) + "\n")
    return path


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of a process so far (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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


class ConsumerProcess:
    """`python -m consumer run --config FILE`, its log in a file, /metrics on a known port."""

    def __init__(
        self, config: Path, log: Path, metrics_port: int, env: dict[str, str] | None = None
    ) -> None:
        self.metrics_port = metrics_port
        self.log = log
        self._out = log.open("ab")
        env = {
            **os.environ,
            "BENCH_MI_USERNAME": USERNAME,
            "BENCH_MI_PASSWORD": PASSWORD,
            **(env or {}),
        }
        command = [sys.executable, "-m", "consumer"]
        if VARIANT:
            command = [sys.executable, str(Path(__file__).with_name("variants.py")), VARIANT]
        self.proc = subprocess.Popen(
            [*command, "run", "--config", str(config)],
            cwd=ROOT,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def metrics(self) -> dict[str, float]:
        """The consumer's /metrics as {"name{labels}": value}; {} while it does not answer."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                text = response.read().decode()
        except OSError:
            return {}
        samples = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                samples[name] = float(value)
        return samples

    def in_flight(self) -> int:
        """Requests under way now, all destinations (0 while it does not answer)."""
        prefix = "movableink_consumer_in_flight_requests{"
        return int(sum(v for k, v in self.metrics().items() if k.startswith(prefix)))

    def outcomes(self, outcome: str = "delivered", destination: str | None = None) -> int:
        """Records with this outcome so far (all destinations unless one is named)."""
        total = 0.0
        for name, value in self.metrics().items():
            if not name.startswith("movableink_consumer_events_total{"):
                continue
            if f'outcome="{outcome}"' not in name:
                continue
            if destination is not None and f'destination="{destination}"' not in name:
                continue
            total += value
        return int(total)

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM (drain, commit, leave), then wait; SIGKILL if it does not exit in time."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self._out.close()
        return code

    def kill(self) -> None:
        if self.alive():
            self.proc.kill()
        self.proc.wait()
        self._out.close()


def consumer_metrics_port() -> int:
    return processes.free_port()


# -- rate measurement -------------------------------------------------------------------------


@dataclass
class RateResult:
    """Events per second over the measured window (from the first event seen to the end)."""

    events: int
    seconds: float
    cpu_s: float = 0.0
    samples: list[tuple[float, int]] = field(default_factory=list)

    @property
    def overall_rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

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
    pid: int | None = None,
    on_sample: Callable[[float, int], None] | None = None,
) -> RateResult:
    """Poll `count` until it reaches `target` or `cap_s` seconds after it first moved."""
    progress = Progress(label, target)
    deadline = time.monotonic() + start_timeout_s
    first = count()
    while first <= 0:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{label}: nothing happened within {start_timeout_s:.0f} s")
        time.sleep(0.05)
        first = count()
    t0 = time.monotonic()
    cpu0 = cpu_seconds(pid) if pid else 0.0
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
    cpu = (cpu_seconds(pid) - cpu0) if pid else 0.0
    result = RateResult(now_count - first, elapsed, cpu, samples)
    progress.done(f"{result.rate:,.0f} events/s over {result.events:,} events")
    return result


def chunks(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
