"""The benchmark's measurements, one function per figure; `bench.py` runs them in order.

Every end-to-end figure comes from a real `python -m consumer run` process reading the local
broker. The throughput and latency phases POST to nginx (`nginx_server.py`: a native server that
is never the bottleneck) and count where events finish (the consumer's /metrics); the phases that
need a server with faults or latency (50 ms, one down, the baseline, commits) POST to the
stand-in in its own process and count where events arrive. Rates are counted from the first
event on, so start-up and group join are not part of any rate; every phase also reports the
cores each process (consumer, broker, server, producer) and the whole machine used meanwhile.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kit
from nginx_server import NginxServer
from profiling import Profiler
from workload import event

from consumer import cli, config
from consumer.core import segment
from consumer.core.decision import decide_record
from consumer.core.decode import Decoder
from consumer.core.movableink import Request, body_bytes
from consumer.settings import DeliverySettings
from consumer.shell import pipeline
from consumer.shell.http import open_transport
from consumer.shell.kafka.client import Consumer as KafkaConsumer
from consumer.shell.metrics import STAGES
from devkit import harness, processes
from devkit.harness import ConsumerProcess, Destination, Record

BATCH = {"enabled": True, "max_events": 1000, "linger": "50ms"}
MAX_IN_FLIGHT = 256  # the consumer's default delivery.max_in_flight


@dataclass
class Context:
    """What every phase needs: sizes, the broker, the stand-in, the workload."""

    args: Any
    bootstrap: str
    standin: kit.StandInProcess
    server: NginxServer
    run_dir: Path
    topic: str = ""
    values: list[bytes] = field(default_factory=list)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    rnd: random.Random = field(default_factory=lambda: random.Random(1))
    generated: int = 0  # workload events generated so far (the stream continues from here)
    phase: int = 0
    profiles: list[str] = field(default_factory=list)

    def next_events(self, count: int) -> Iterator[Record]:
        """(key, Confluent-Avro value, no headers) of the next `count` workload events."""
        for _ in range(count):
            message = event(self.generated, self.args.people, self.rnd)
            self.generated += 1
            yield harness.keyed(message)

    def config(
        self,
        name: str,
        topic: str,
        destinations: list[Destination],
        delivery: dict[str, Any] | None = None,
        group: str | None = None,
    ) -> tuple[Path, int]:
        """A config file of its own (default: a fresh group) and its status server's port."""
        self.phase += 1
        port = processes.free_port()
        path = harness.write_config(
            self.run_dir / f"{self.phase:02d}-{name}.toml",
            bootstrap=self.bootstrap,
            topic=topic,
            group=group or f"bench-{name}-{time.time_ns()}",
            destinations=destinations,
            metrics_port=port,
            delivery={**dict(self.args.delivery_setting), **(delivery or {})},
            properties=dict(self.args.kafka_property),
        )
        return path, port

    def consumer(self, name: str, *args: Any, **kwargs: Any) -> ConsumerProcess:
        """A consumer process on a config of its own (`config`'s arguments), its log beside."""
        path, port = self.config(name, *args, **kwargs)
        log = self.run_dir / f"{self.phase:02d}-{name}.log"
        return ConsumerProcess(path, log, metrics_port=port)

    def mi(self, options: dict[str, Any] | None = None) -> list[Destination]:
        """The destination on the stand-in (latency, faults, what arrived)."""
        return [Destination("mi", self.standin.url, options or {})]

    def native(self, options: dict[str, Any] | None = None) -> list[Destination]:
        """The destination on nginx (throughput and latency: the consumer is measured)."""
        return [Destination("mi", self.server.url, options or {})]

    def busy(self, consumers: list[int], server: str = "nginx", producing: bool = False) -> Busy:
        """The cores used from now on by these consumers, the broker, the server and (when
        this process produces meanwhile) the producer, and by the whole machine."""
        pids = {
            "consumer": consumers,
            "broker": [kit.broker_pid()],
            "server": [self.server.proc.pid if server == "nginx" else self.standin.proc.pid],
            "producer": [os.getpid()] if producing else [],
        }
        return Busy(pids, server)

    def profiler(
        self, proc: ConsumerProcess, name: str, cap_s: float, events: Callable[[], int]
    ) -> Profiler | None:
        """With `--profile`: py-spy on `proc` while it is measured, its stages at the end."""
        if not self.args.profile:
            return None
        profiler = Profiler(proc.pid, name, cap_s, events)
        self.profiles.append(str(profiler.raw))
        return profiler


@dataclass
class Busy:
    """Cores each process used (CPU seconds over wall seconds) from its making to `shares`."""

    pids: dict[str, list[int]]
    server: str
    started: float = field(default_factory=time.monotonic)
    before: dict[str, float] = field(default_factory=dict)
    machine: tuple[float, float] = field(default_factory=kit.machine_cpu_seconds)

    def __post_init__(self) -> None:
        self.before = {name: self._cpu(name) for name in self.pids}

    def _cpu(self, name: str) -> float:
        return sum(kit.cpu_seconds(pid) for pid in self.pids[name])

    def shares(self) -> dict[str, Any]:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        busy, total = kit.machine_cpu_seconds()
        found: dict[str, Any] = {
            name: (self._cpu(name) - self.before[name]) / elapsed for name in self.pids
        }
        cores = (total - self.machine[1]) / elapsed
        found["machine_busy"] = (busy - self.machine[0]) / elapsed
        found["machine_cores"] = cores
        found["machine_busy_share"] = found["machine_busy"] / max(cores, 1e-9)
        found["server_kind"] = self.server
        return found


# -- setup ------------------------------------------------------------------------------------


def setup_workload(ctx: Context) -> None:
    """The main topic: `events` records of `people` people over `partitions` partitions."""
    args = ctx.args
    ctx.topic = f"bench-events-{time.time_ns()}"
    harness.create_topic(ctx.bootstrap, ctx.topic, args.partitions)
    records = list(ctx.next_events(args.events))
    ctx.values = [value for _, value, _ in records if value is not None]
    kit.produce_all(ctx.bootstrap, ctx.topic, records, len(records))
    sample = random.Random(2)
    ctx.bodies = [event(args.events + i, args.people, sample) for i in range(2000)]


# -- (a) the ceiling: consume and decode, no delivery -----------------------------------------


def ceiling(ctx: Context) -> dict[str, Any]:
    """The consumer's own Kafka wrapper and decoder, in this process, nothing delivered."""
    path, _ = ctx.config("ceiling", ctx.topic, ctx.mi())
    settings = config.load(path, harness.CREDENTIALS)
    source = KafkaConsumer(settings.kafka)
    source.subscribe(settings.kafka.topics, lambda _: None, lambda _: None, lambda _: None)
    decoder = pipeline.build_decoder(settings)
    target = len(ctx.values)
    progress = kit.Progress("ceiling: consume + decode", target)
    count, decode_s, started = 0, 0.0, None
    deadline = time.monotonic() + 600
    try:
        while count < target and time.monotonic() < deadline:
            records = source.consume(500, 0.1)
            if records and started is None:
                started = time.perf_counter()
            t0 = time.perf_counter()
            for record in records:
                decoder.decode(record.value)
            decode_s += time.perf_counter() - t0
            count += len(records)
            progress.update(count)
        elapsed = time.perf_counter() - (started or time.perf_counter())
    finally:
        source.close()
    rate = count / elapsed
    progress.done(f"{rate:,.0f} events/s")
    return {
        "events": count,
        "seconds": elapsed,
        "rate": rate,
        "consume_only_rate": count / max(1e-9, elapsed - decode_s),
        "decode_us": decode_s / count * 1e6,
    }


# -- (b) the decision core alone ----------------------------------------------------------------


def decision_core(ctx: Context) -> dict[str, Any]:
    """decode -> check -> route -> validate -> map, in this process, on the workload's bytes."""
    path, _ = ctx.config("decision", ctx.topic, ctx.mi())
    settings = config.load(path, harness.CREDENTIALS)
    decoder = pipeline.build_decoder(settings)
    destinations = settings.destinations
    values = ctx.values[: ctx.args.decision_events]
    kit.say(f"  decision core: {len(values):,} events ...")
    t0 = time.perf_counter()
    for value in values:
        decoder.decode(value)
    decode_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    outcomes: dict[str, int] = {}
    for offset, value in enumerate(values):
        decision = decide_record(value, decoder, destinations, segment.Place(ctx.topic, 0, offset))
        outcomes[decision.action] = outcomes.get(decision.action, 0) + 1
    elapsed = time.perf_counter() - t0
    rate = len(values) / elapsed
    kit.say(f"  decision core: {rate:,.0f} events/s, {elapsed / len(values) * 1e6:.1f} us/event")
    return {
        "events": len(values),
        "seconds": elapsed,
        "rate": rate,
        "us_per_event": elapsed / len(values) * 1e6,
        "decode_us": decode_s / len(values) * 1e6,
        "outcomes": outcomes,
    }


# -- end-to-end runs ----------------------------------------------------------------------------


@dataclass
class Sampler:
    """Samples a process's RSS (and peak) in a thread while a phase runs."""

    pid: int
    interval_s: float = 0.5
    samples: list[tuple[float, int]] = field(default_factory=list)  # (t, VmRSS kB)
    peak_kb: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Sampler:
        started = time.monotonic()

        def loop() -> None:
            while not self._stop.is_set():
                self.sample(time.monotonic() - started)
                self._stop.wait(self.interval_s)

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()
        return self

    def sample(self, t: float) -> dict[str, int]:
        found = kit.memory_kb(self.pid)
        if "VmRSS" in found:
            self.samples.append((t, found["VmRSS"]))
            self.peak_kb = max(self.peak_kb, found.get("VmHWM", 0), found["VmRSS"])
        return found

    def stop(self) -> None:
        self.sample(self.samples[-1][0] if self.samples else 0.0)
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def end_to_end(
    ctx: Context,
    name: str,
    *,
    options: dict[str, Any] | None = None,
    target: int | None = None,
    cap_s: float | None = None,
    delivery: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The consumer on the main topic (a fresh group). At 0 ms to nginx, counted where events
    finish (the consumer's /metrics); at 50 ms to the stand-in, counted where they arrive."""
    latency = ctx.args.latency_ms if "50ms" in name else 0.0
    target = target or len(ctx.values)
    cap_s = cap_s or ctx.args.phase_seconds
    if latency:
        ctx.standin.reset()
        ctx.standin.latency(latency)
        proc = ctx.consumer(name, ctx.topic, ctx.mi(options), delivery)
        count: Callable[[], int] = ctx.standin.accepted
    else:
        proc = ctx.consumer(name, ctx.topic, ctx.native(options), delivery)
        count = proc.outcomes
    memory = Sampler(proc.pid).start()
    profiler = ctx.profiler(proc, name, cap_s, count)
    busy = ctx.busy([proc.pid], "standin" if latency else "nginx")
    try:
        result = kit.follow(
            count, target, cap_s, name, pids=[proc.pid],
            on_sample=profiler.on_sample if profiler else None,
        )  # fmt: skip
        shares = busy.shares()
    finally:
        memory.stop()
        stages = profiler.finish() if profiler else None
        proc.kill()
    return {
        **rates(result),
        "server": shares["server_kind"],
        "busy": shares,
        "peak_rss_mb": memory.peak_kb / 1024,
        **({"stages": stages} if stages else {}),
        "timeline": result.samples,
    }


def rates(result: kit.RateResult) -> dict[str, Any]:
    """The figures of every end-to-end phase: events, rates, and the consumer's CPU (its share
    of one core, and per event)."""
    return {
        "events": result.events,
        "seconds": result.seconds,
        "rate": result.rate,
        "overall_rate": result.overall_rate,
        "consumer_cpu": result.cpu_s / max(result.seconds, 1e-9),
        "cpu_us_per_event": result.cpu_us_per_event,
    }


# -- (i) scale-out: consumers in one group ------------------------------------------------------

SCALE_OUT = 2  # consumer processes in the group


def owned(proc: ConsumerProcess) -> set[str]:
    """The partitions a consumer owns now: those it reports a lag for."""
    lag = "movableink_consumer_lag_messages"
    return {s.labels["partition"] for s in proc.metrics(lag).samples if s.name == lag}


def scale_out(ctx: Context) -> dict[str, Any]:
    """`SCALE_OUT` consumers in one group on the main topic, as Kubernetes runs replicas: the
    group's rate at the stand-in, from when the partitions are split between them, and their
    CPU together."""
    group = f"bench-scaleout-{time.time_ns()}"
    procs = [
        ctx.consumer(f"scaleout-{i + 1}", ctx.topic, ctx.native(), group=group)
        for i in range(SCALE_OUT)
    ]

    def split() -> bool:
        owners = [owned(proc) for proc in procs]
        return all(owners) and sum(map(len, owners)) == ctx.args.partitions

    try:
        harness.wait_for(split, 60, "the partitions split between the consumers", poll=0.25)
        busy = ctx.busy([proc.pid for proc in procs])
        result = kit.follow(
            lambda: sum(proc.outcomes() for proc in procs), len(ctx.values),
            ctx.args.phase_seconds, f"scale-out, {SCALE_OUT} consumers",
            pids=[proc.pid for proc in procs],
        )  # fmt: skip
        shares = busy.shares()
    finally:
        for proc in procs:
            proc.kill()
    return {
        **rates(result),
        "processes": SCALE_OUT,
        "busy": shares,
        "timeline": result.samples,
    }


# -- (c) the raw HTTP ceiling of the same client ----------------------------------------------


def http_ceiling(ctx: Context, seconds: float) -> dict[str, Any]:
    """The consumer's HTTP client alone (`delivery.http_client`), `max_in_flight` concurrent
    POSTs to nginx, no Kafka, on the consumer's own event loop (`cli.run_loop`: uvloop)."""
    client = dict(ctx.args.delivery_setting).get("http_client", DeliverySettings.http_client)
    auth = base64.b64encode(f"{harness.USERNAME}:{harness.PASSWORD}".encode()).decode()
    headers = {"Authorization": f"Basic {auth}", "Content-Type": "application/json"}
    # as the consumer posts them: the body encoded once, before the request goes out
    requests = [(Request(ctx.server.url, headers, b), body_bytes(b)) for b in ctx.bodies]
    progress = kit.Progress(f"raw HTTP ceiling ({client} to nginx, no Kafka)")

    async def load() -> tuple[int, float, int]:
        transport = open_transport(
            client, max_connections=MAX_IN_FLIGHT, timeout_s=DeliverySettings.timeout
        )
        done = failed = 0
        deadline = time.monotonic() + seconds

        async def worker(k: int) -> None:
            nonlocal done, failed
            i = k
            while time.monotonic() < deadline:
                answer = await transport.post(*requests[i % len(requests)])
                if answer.status == 200:
                    done += 1
                else:
                    failed += 1
                i += MAX_IN_FLIGHT
                if k == 0:
                    progress.update(done)

        started = time.monotonic()
        try:
            await asyncio.gather(*(worker(k) for k in range(MAX_IN_FLIGHT)))
        finally:
            await transport.aclose()
        return done, time.monotonic() - started, failed

    cpu0 = kit.cpu_seconds(os.getpid())
    busy = ctx.busy([os.getpid()])  # the client is this process: "consumer"
    done, elapsed, failed = cli.run_loop(load())
    cpu = kit.cpu_seconds(os.getpid()) - cpu0
    shares = busy.shares()
    progress.done(f"{done / elapsed:,.0f} requests/s")
    return {
        "client": client,
        "loop": (cli.loop_factory() or asyncio.new_event_loop).__module__.split(".")[0],
        "requests": done,
        "failed": failed,
        "seconds": elapsed,
        "rate": done / elapsed,
        "client_cpu": cpu / elapsed,
        "client_us_per_request": cpu / max(done, 1) * 1e6,
        "server": "nginx",
        "busy": shares,
    }


# -- (d) the partition-serial baseline ----------------------------------------------------------


def serial_baseline(ctx: Context, seconds: float) -> dict[str, Any]:
    ctx.standin.reset()
    ctx.standin.latency(ctx.args.latency_ms)
    kit.say(f"  partition-serial baseline: {seconds:.0f} s at {ctx.args.latency_ms:g} ms ...")
    command = [sys.executable, str(Path(__file__).with_name("serial_baseline.py"))]
    command += ["--bootstrap", ctx.bootstrap, "--topic", ctx.topic]
    command += ["--group", f"bench-serial-{time.time_ns()}", "--url", ctx.standin.url]
    command += ["--username", harness.USERNAME, "--password", harness.PASSWORD]
    command += ["--seconds", str(seconds)]
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=600)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    kit.say(f"  partition-serial baseline: {result['rate']:,.0f} events/s")
    return result


# -- (e) end-to-end latency at half the maximum rate ------------------------------------------


LATENCY_WARMUP_S = 2.0
LATENCY_SHARE = 0.15  # of (c)'s rate: the broker's share, not ours, decides (bench/README.md)
LATENCY_BUSY_LIMIT = 0.7  # machine busy above this: the latency is not judged
STAGE_FAMILY = "movableink_consumer_stage_seconds"


def latency(ctx: Context, rate: float, seconds: float) -> dict[str, Any]:
    """Produce at `rate` for `seconds` into a LogAppendTime topic while the consumer delivers to
    a recording nginx (`NginxServer(record=True)`: it logs each body and when it answered);
    latency = that time minus the broker's append time, per event, for the events appended
    after the first `LATENCY_WARMUP_S` (the producer's and the consumer's connections warming
    up send a burst at first). The stage histogram is read at `LATENCY_WARMUP_S` and at the
    end: the difference is the window's."""
    topic = f"bench-latency-{time.time_ns()}"
    config_ = {"message.timestamp.type": "LogAppendTime"}
    harness.create_topic(ctx.bootstrap, topic, ctx.args.partitions, config_)
    recorder = NginxServer(ctx.run_dir / "nginx-latency", record=True)
    total = int(rate * seconds)
    try:
        proc = ctx.consumer("latency", topic, [Destination("mi", recorder.url)])
        try:
            harness.wait_for(proc.ready, 60, "the consumer to join its group", poll=0.25)
            time.sleep(1.0)  # the assignment settles
            records = list(ctx.next_events(total))
            warm: list[harness.Metrics] = []
            timer = threading.Timer(
                LATENCY_WARMUP_S, lambda: warm.append(proc.metrics(STAGE_FAMILY))
            )
            pids = {
                "consumer": [proc.pid],
                "broker": [kit.broker_pid()],
                "server": [recorder.proc.pid],
                "producer": [os.getpid()],
            }
            busy = Busy(pids, "nginx (recording)")
            timer.start()
            achieved = kit.produce_paced(ctx.bootstrap, topic, records, rate, "latency")
            harness.wait_for(lambda: proc.outcomes() >= total, 120, "every event delivered", 0.1)
            shares = busy.shares()
            timer.join()
            end = proc.metrics(STAGE_FAMILY)
        finally:
            proc.kill()
    finally:
        recorder.stop()
    arrived = recorder.arrivals()
    appended: dict[str, float] = {}
    decoder = Decoder()
    for message in harness.read_topic(ctx.bootstrap, topic, timeout=120, idle_s=3.0):
        _, stamp = message.timestamp()
        appended[decoder.decode(message.value())["messageId"]] = stamp / 1000
    first = min(appended.values(), default=0.0)
    steady = first + LATENCY_WARMUP_S
    waits = sorted(arrived[m] - t for m, t in appended.items() if m in arrived and t >= steady)
    by_second: dict[int, list[float]] = {}
    for m, t in appended.items():
        if m in arrived:
            by_second.setdefault(int(t - first), []).append(arrived[m] - t)
    return {
        "target_rate": rate,
        "achieved_rate": achieved,
        "events": len(waits),
        "warmup_s": LATENCY_WARMUP_S,
        "server": "nginx (recording)",
        "p50_ms": _percentile(waits, 50) * 1000,
        "p95_ms": _percentile(waits, 95) * 1000,
        "p99_ms": _percentile(waits, 99) * 1000,
        "max_ms": waits[-1] * 1000 if waits else 0.0,
        "within_50ms": sum(w <= 0.05 for w in waits) / len(waits) if waits else 0.0,
        "timestamp": "LogAppendTime",
        "stage_seconds": stage_summary(end, warm[0] if warm else None),
        "busy": shares,
        "cpu_share": shares,  # the name in earlier runs' JSON
        "judged": shares["machine_busy_share"] < LATENCY_BUSY_LIMIT,
        # per second of appends: [events, p50 ms, max ms]; where in the run the tail is
        "by_second": [
            [len(w), _percentile(sorted(w), 50) * 1000, max(w) * 1000]
            for _, w in sorted(by_second.items())
        ],
    }


def _percentile(ordered: list[float], pct: float) -> float:
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


def _histogram(
    metrics: harness.Metrics, family: str, since: harness.Metrics | None = None, **labels: str
) -> list[tuple[float, float]]:
    """(bound, cumulative count) of a histogram, summed over series matching `labels`, minus
    what it held in `since`."""

    def buckets(found: harness.Metrics) -> dict[float, float]:
        summed: dict[float, float] = {}
        for s in found.samples:
            if s.name == f"{family}_bucket" and labels.items() <= s.labels.items():
                le = float(s.labels["le"])
                summed[le] = summed.get(le, 0.0) + s.value
        return summed

    now = buckets(metrics)
    before = buckets(since) if since is not None else {}
    return sorted((le, n - before.get(le, 0.0)) for le, n in now.items())


def _quantile(buckets: list[tuple[float, float]], q: float) -> float:
    """As Prometheus's histogram_quantile: linear within the bucket holding the q-th event."""
    if not buckets or buckets[-1][1] <= 0:
        return 0.0
    wanted = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for le, n in buckets:
        if n >= wanted:
            if le == float("inf"):
                return lower
            return lower + (le - lower) * ((wanted - below) / (n - below) if n > below else 1)
        lower, below = le, n
    return lower


def stage_summary(
    metrics: harness.Metrics, since: harness.Metrics | None = None, destination: str = "mi"
) -> dict[str, Any]:
    """Per stage of the consumer's `stage_seconds` (since `since`, else the whole run): the
    events, the mean, p50/p99 interpolated in the buckets, and the smallest bucket bounds
    holding 50 % and 99 % of them, in ms."""
    summary: dict[str, Any] = {}
    for stage in STAGES:
        labels = {"destination": destination, "stage": stage}

        def total(
            name: str, found: harness.Metrics | None, labels: dict[str, str] = labels
        ) -> float:
            return found.total(name, **labels) if found is not None else 0.0

        count = total(f"{STAGE_FAMILY}_count", metrics) - total(f"{STAGE_FAMILY}_count", since)
        spent = total(f"{STAGE_FAMILY}_sum", metrics) - total(f"{STAGE_FAMILY}_sum", since)
        buckets = _histogram(metrics, STAGE_FAMILY, since, **labels)
        summary[stage] = {
            "events": count,
            "mean_ms": spent / count * 1000 if count else 0.0,
            "p50_ms": _quantile(buckets, 0.5) * 1000,
            "p99_ms": _quantile(buckets, 0.99) * 1000,
            "p50_le_ms": _bucket_bound(buckets, 0.5 * count) * 1000 if count else 0.0,
            "p99_le_ms": _bucket_bound(buckets, 0.99 * count) * 1000 if count else 0.0,
        }
    return summary


def _bucket_bound(buckets: list[tuple[float, float]], wanted: float) -> float:
    """The smallest bucket bound holding `wanted` observations (cumulative buckets)."""
    return next((le for le, n in buckets if n >= wanted), float("inf"))


# -- (f) memory during a catch-up ---------------------------------------------------------------


def catch_up(ctx: Context) -> dict[str, Any]:
    """`catchup_events` records waiting before the consumer starts (batch mode); RSS sampled
    throughout, and read at 25/50/75/100 % of the records finished."""
    total = ctx.args.catchup_events
    topic = f"bench-catchup-{time.time_ns()}"
    harness.create_topic(ctx.bootstrap, topic, ctx.args.partitions)
    reuse = min(total, len(ctx.values))
    restart = random.Random(1)  # the same stream again, so the first part is not re-encoded

    def records() -> Iterator[Record]:
        for i in range(reuse):
            message = event(i, ctx.args.people, restart)
            yield segment.person_key(message).encode(), ctx.values[i], None
        yield from ctx.next_events(total - reuse)

    kit.produce_all(ctx.bootstrap, topic, records(), total, label="produce backlog")
    proc = ctx.consumer("catchup", topic, ctx.native({"batch": BATCH}))
    memory = Sampler(proc.pid).start()
    marks: dict[str, dict[str, float]] = {}
    progress_points: list[tuple[float, int, int]] = []  # (t, finished, rss kB)

    def finished() -> int:
        return proc.outcomes("delivered")

    def on_sample(elapsed: float, done: int) -> None:
        found = kit.memory_kb(proc.pid)
        rss = found.get("VmRSS", 0)
        progress_points.append((elapsed, done, rss))
        for pct in (25, 50, 75, 100):
            if done >= total * pct / 100 and str(pct) not in marks:
                marks[str(pct)] = {"rss_mb": rss / 1024, "hwm_mb": found.get("VmHWM", 0) / 1024}

    busy = ctx.busy([proc.pid])
    try:
        result = kit.follow(
            finished, total, ctx.args.catchup_cap, "catch-up (batch mode)", pids=[proc.pid],
            on_sample=on_sample, start_timeout_s=120,
        )  # fmt: skip
        final = memory.sample(result.seconds)
        shares = busy.shares()
    finally:
        memory.stop()
        proc.kill()
    return {
        "busy": shares,
        **rates(result),
        "events": total,
        "finished": result.samples[-1][1] if result.samples else 0,
        "mode": "batch",
        "peak_rss_mb": final.get("VmHWM", memory.peak_kb) / 1024,
        "rss_at": marks,
        "timeline": progress_points,
    }


# -- (g) one destination down, the other measured -----------------------------------------------


def one_down(ctx: Context, cap_s: float, max_buffered: int) -> dict[str, Any]:
    """Two destinations: the healthy one on nginx, as (c) is (its rate is compared with
    (c)'s); the other's endpoint a loopback port nothing listens on, refusing connections the
    whole time. Counted where the healthy one's events finish."""
    refused = f"http://127.0.0.1:{processes.free_port()}/behavioral/key"
    destinations = [Destination("healthy", ctx.server.url), Destination("down", refused)]
    proc = ctx.consumer("one-down", ctx.topic, destinations, {"max_buffered": max_buffered})

    def healthy() -> int:
        return proc.outcomes("delivered", destination="healthy")

    profiler = ctx.profiler(proc, "one_down", cap_s, healthy)
    busy = ctx.busy([proc.pid])
    try:
        result = kit.follow(
            healthy, len(ctx.values), cap_s, "two destinations, one down",
            pids=[proc.pid], on_sample=profiler.on_sample if profiler else None,
        )  # fmt: skip
        metrics = proc.metrics()
        shares = busy.shares()
    finally:
        stages = profiler.finish() if profiler else None
        proc.kill()
    circuit = metrics.total("movableink_consumer_circuit_open", destination="down")
    wanted = ("_http_responses_total", "_retries_total", "_held_back_events", "_buffered")
    counters = {k: v for k, v in metrics.series().items() if any(w in k for w in wanted)}
    return {
        **rates(result),
        "metrics": counters,
        "max_buffered": max_buffered,
        "down_circuit_open": circuit,
        "server": "nginx",
        "busy": shares,
        **({"stages": stages} if stages else {}),
        "timeline": result.samples,
    }
