"""Kafka's production faults on the local cluster, each while a stream of many people's events
is delivered to the stand-in: the scenarios of `make chaos` (bench/chaos.py) and, in a short
form, of tests/integration/test_cluster.py.

A scenario starts consumers (real processes) on the cluster's proxied addresses, produces a
steady stream on the brokers' direct listeners (so network faults hit the consumer only),
applies its fault while the stream flows, then waits until every event arrived and the group
committed the end of every partition. Its `Outcome` is what an operator asks after the fault:
lost (must be 0), reordered per person (0), dead-lettered (0: no record here is poison),
duplicated, the longest pause in delivery, how long `/readyz` said "not ready" (seconds summed
over the members), and whether
every consumer lived through it.
"""

from __future__ import annotations

import itertools
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException

from devkit import harness
from devkit.cluster import Cluster
from devkit.harness import ConsumerProcess
from devkit.standin import StandIn, duplicates, lost, order_violations

INSTANCE_ID_ENV = "MIK__KAFKA__GROUP_INSTANCE_ID"
SAMPLE_S = 0.5
_WATCHED = (  # what a member says of a stream that did not finish
    "movableink_consumer_records_consumed_total",
    "movableink_consumer_events_total",
    "movableink_consumer_lag_messages",
    "movableink_consumer_in_flight_requests",
)


def stream(tag: str, events: int, people: int) -> list[dict[str, Any]]:
    """`events` track events over `people` people, in each person's order."""
    return [
        harness.track(f"{tag}-{i:07d}", i, "Viewed", userId=f"user-{i % people:05d}")
        for i in range(events)
    ]


@dataclass
class Outcome:
    """What one scenario did to the stream."""

    name: str
    events: int
    lost: int = 0
    order_violations: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    pause_s: float = 0.0
    not_ready_s: float = 0.0
    not_ready_reasons: list[str] = field(default_factory=list)
    exits: list[str] = field(default_factory=list)
    committed: bool = False
    took_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            not (self.lost or self.order_violations or self.dead_letters or self.exits)
            and self.committed
        )

    def line(self) -> str:
        return (
            f"{self.name}: lost={self.lost} order_violations={self.order_violations} "
            f"duplicates={self.duplicates} dead_letters={self.dead_letters} "
            f"pause_s={self.pause_s:.1f} not_ready_s={self.not_ready_s:.1f} "
            f"committed={'yes' if self.committed else 'NO'} exits={len(self.exits)} "
            f"took_s={self.took_s:.0f}"
        )


@dataclass
class Scenario:
    """One run: the cluster, the stand-in, the group's members, the stream's topic."""

    name: str
    cluster: Cluster
    standin: StandIn
    work_dir: Path
    events: int = 6000
    people: int = 600
    rate: float = 200.0
    partitions: int = 6
    static: bool = True
    finish_s: float = 600.0  # after the fault, for the stream to be delivered and committed
    topic: str = ""
    group: str = ""
    members: list[ConsumerProcess] = field(default_factory=list)
    exits: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    _started: int = 0
    _ready_samples: list[tuple[float, bool, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        stamp = time.strftime("%H%M%S")
        self.topic = self.topic or f"faults-{self.name}-{stamp}"
        self.group = self.group or f"faults-{self.name}-{stamp}"
        self.work_dir.mkdir(parents=True, exist_ok=True)

    # -- the group ------------------------------------------------------------------------

    def add_member(self, instance_id: str | None = None) -> ConsumerProcess:
        self._started += 1
        instance = instance_id or f"{self.name}-member-{self._started}"
        member = harness.start_consumer(
            self.work_dir / f"{self.name}-consumer-{self._started}",
            bootstrap=self.cluster.bootstrap,
            topic=self.topic,
            group=self.group,
            url=self.standin.url,
            env={INSTANCE_ID_ENV: instance} if self.static else {},
            delivery={"max_probe_interval": "2s"},
        )
        self.members.append(member)
        return member

    def remove_member(self, member: ConsumerProcess) -> None:
        """SIGTERM: it drains, commits, leaves and must exit 0."""
        self.members.remove(member)
        code = member.terminate(timeout=60)
        if code != 0:
            self.exits.append(f"{member.log.name} exited {code} after SIGTERM")

    def note(self, text: str) -> None:
        self.notes.append(f"[{time.strftime('%H:%M:%S')}] {text}")

    def check_alive(self) -> None:
        for member in self.members:
            if not member.alive() and not any(member.log.name in e for e in self.exits):
                self.exits.append(f"{member.log.name} died by itself ({member.proc.returncode})")

    # -- sampling -------------------------------------------------------------------------

    def _sample(self) -> None:
        for member in list(self.members):
            url = f"http://127.0.0.1:{member.metrics_port}/readyz"
            try:
                with urllib.request.urlopen(url, timeout=1) as answer:
                    ok, why = answer.status == 200, ""
            except urllib.error.HTTPError as exc:
                ok, why = False, exc.read().decode(errors="replace").strip()
            except OSError:
                continue  # not started yet, or just removed
            self._ready_samples.append((time.time(), ok, why))

    # -- the run --------------------------------------------------------------------------

    def run(self, fault: Callable[[Scenario], None], members: int = 1) -> Outcome:
        """Stream, apply `fault` once a quarter of the stream is delivered, and judge."""
        started = time.monotonic()
        harness.create_topic(self.cluster.direct, self.topic, self.partitions, replication=-1)
        self.cluster.wait_in_sync([self.topic])
        messages = stream(self.name, self.events, self.people)
        for _ in range(members):
            self.add_member()
        harness.wait_for(
            lambda: all(m.ready() for m in self.members), 120, "the consumers to be ready"
        )
        done = threading.Event()
        failure: list[BaseException] = []

        def produce() -> None:
            try:
                records = (harness.keyed(m) for m in messages)
                settings = {"acks": "all", "linger.ms": 5}
                harness.produce_records(
                    self.cluster.direct, self.topic, records, rate=self.rate, settings=settings
                )
            except BaseException as exc:  # reported by `run`
                failure.append(exc)
            finally:
                done.set()

        stop_sampling = threading.Event()

        def sample() -> None:
            while not stop_sampling.wait(SAMPLE_S):
                self._sample()
                self.check_alive()

        sampler = threading.Thread(target=sample, daemon=True)
        producer = threading.Thread(target=produce, daemon=True)
        producer.start()
        sampler.start()
        harness.wait_for(
            lambda: len(self._unique()) >= self.events // 4 or done.is_set(),
            300,
            "a quarter of the stream to be delivered",
            poll=0.2,
        )
        fault_at = time.time()
        self.note("fault: start")
        fault(self)
        self.note("fault: over")
        fault_over = time.time()
        deadline = time.monotonic() + self.finish_s
        while time.monotonic() < deadline:
            if (
                done.is_set()
                and len(self._unique()) >= self.events
                and harness.drained(self.cluster.direct, self.group, self.topic)
            ):
                break
            time.sleep(0.5)
        else:
            self.note(
                f"not finished {self.finish_s:.0f} s after the fault: {self._state(done.is_set())}"
            )
        stop_sampling.set()
        sampler.join(5)
        for member in list(self.members):
            self.remove_member(member)
        if failure:
            raise failure[0]
        return self._judge(messages, fault_at, fault_over, started)

    def _state(self, produced: bool) -> str:
        """Where a stream that did not finish stands: what was produced, delivered and
        committed, and what each member's metrics say it read and finished."""
        ends = harness.end_offsets(self.cluster.direct, self.topic)
        try:
            done = harness.committed(self.cluster.direct, self.group, self.topic, len(ends))
        except KafkaException as exc:
            done = {-1: -1}
            self.note(f"committed offsets unreadable: {exc}")
        parts = [f"producer {'done' if produced else 'NOT done'}"]
        parts.append(f"delivered {len(self._unique())}/{self.events}")
        parts.append(f"ends {ends} committed {done}")
        for member in self.members:
            read = member.metrics(*_WATCHED)
            seen = ", ".join(
                f"{n.removeprefix('movableink_consumer_')}={read.total(n):.0f}" for n in _WATCHED
            )
            parts.append(f"{member.log.name}: {seen or 'no answer'}")
        return "; ".join(parts)

    def _unique(self) -> set[str]:
        return {r.message_id for r in self.standin.received() if r.message_id}

    def _judge(
        self, messages: list[dict[str, Any]], fault_at: float, fault_over: float, started: float
    ) -> Outcome:
        received = self.standin.received()
        by_person: dict[str, list[str]] = {}
        for m in messages:
            by_person.setdefault(m["userId"], []).append(m["messageId"])
        ours = [r for r in received if (r.message_id or "").startswith(f"{self.name}-")]
        times = sorted(r.time for r in ours)
        window = [t for t in times if t >= fault_at - 1]
        gaps = [b - a for a, b in itertools.pairwise(window)]
        dead = harness.read_topic(self.cluster.direct, f"{self.topic}.dlq", timeout=10, idle_s=2)
        during = [s for s in self._ready_samples if s[0] >= fault_at - 1]
        not_ready = [s for s in during if not s[1]]
        expected = [m["messageId"] for m in messages]
        return Outcome(
            name=self.name,
            events=self.events,
            lost=len(lost(ours, expected)),
            order_violations=len(order_violations(ours, by_person)),
            duplicates=sum(n - 1 for n in duplicates(ours).values()),
            dead_letters=len(dead),
            pause_s=round(max(gaps, default=0.0), 1),
            not_ready_s=round(len(not_ready) * SAMPLE_S, 1),  # summed over the members
            not_ready_reasons=sorted(Counter(s[2] for s in not_ready)),
            exits=list(self.exits),
            committed=harness.drained(self.cluster.direct, self.group, self.topic),
            took_s=time.monotonic() - started,
            notes=[*self.notes, f"fault lasted {fault_over - fault_at:.1f} s"],
        )


# -- the faults ---------------------------------------------------------------------------------


def busiest_leader(s: Scenario) -> int:
    """The broker leading the most partitions of the scenario's topic."""
    counts = Counter(leader for leader in s.cluster.leaders(s.topic).values() if leader)
    return counts.most_common(1)[0][0]


def rolling_restart(times: int = 2) -> Callable[[Scenario], None]:
    """Each broker in turn: clean shutdown, start, wait for every replica in sync."""

    def fault(s: Scenario) -> None:
        for round_ in range(times):
            for node in s.cluster.nodes:
                s.note(f"rolling restart {round_ + 1}: stop broker {node.id}")
                s.cluster.stop(node.id)
                s.cluster.start_node(node.id)
                took = s.cluster.wait_in_sync([s.topic])
                s.note(f"broker {node.id} back, in sync after {took:.1f} s")

    return fault


def kill_and_restart(which: Callable[[Scenario], int], down_s: float) -> Callable[[Scenario], None]:
    """SIGKILL the broker `which` names, leave it down `down_s`, start it, wait in sync."""

    def fault(s: Scenario) -> None:
        node = which(s)
        s.note(f"SIGKILL broker {node}")
        s.cluster.kill(node)
        time.sleep(down_s)  # the fault's length, not a wait for a condition
        s.cluster.start_node(node)
        s.note(f"broker {node} in sync after {s.cluster.wait_in_sync([s.topic]):.1f} s")

    return fault


def controller(s: Scenario) -> int:
    return s.cluster.controller()


def group_coordinator(s: Scenario) -> int:
    """The broker coordinating the scenario's group: its commits are what the kill tests."""
    return s.cluster.coordinator(s.group)


def min_isr_unmet(down_s: float) -> Callable[[Scenario], None]:
    """Two brokers down (clean shutdown): no partition has two replicas in sync, so neither a
    commit nor a dead letter can be written; then both back."""

    def fault(s: Scenario) -> None:
        others = [n.id for n in s.cluster.nodes][1:]
        for node in others:
            s.note(f"stop broker {node}")
            s.cluster.stop(node)
        time.sleep(down_s)
        for node in others:
            s.cluster.start_node(node, wait=False)
        for node in others:
            s.cluster.wait_answers(node)
        s.note(f"both back, in sync after {s.cluster.wait_in_sync([s.topic]):.1f} s")

    return fault


def network(kind: str, seconds: float, every_broker: bool = False) -> Callable[[Scenario], None]:
    """A Toxiproxy fault (`latency`, `bandwidth`, `cut`, `hang`, `reset`) on the proxy of the
    busiest leader (every broker's with `every_broker`) for `seconds`."""

    def fault(s: Scenario) -> None:
        proxy = s.cluster.proxy
        assert proxy is not None, "the network faults need the cluster's Toxiproxy"
        nodes = [n.id for n in s.cluster.nodes] if every_broker else [busiest_leader(s)]
        names = [Cluster.proxy_name(n) for n in nodes]
        s.note(f"{kind} on {names} for {seconds:g} s")
        for name in names:
            if kind == "latency":
                proxy.latency(name, 500)
            elif kind == "bandwidth":
                proxy.bandwidth(name, 8)
            elif kind == "cut":
                proxy.cut(name)
            elif kind == "hang":
                proxy.hang(name)
            elif kind == "reset":
                proxy.reset_peer(name)
            else:
                raise ValueError(kind)
        time.sleep(seconds)
        for name in names:
            proxy.restore(name)

    return fault


def rebalance_storm(seconds: float, every_s: tuple[float, float]) -> Callable[[Scenario], None]:
    """Members added and removed (SIGTERM) in turn every `every_s` seconds, as KEDA scales."""

    def fault(s: Scenario) -> None:
        deadline = time.monotonic() + seconds
        grow, step = True, 0
        while time.monotonic() < deadline:
            if grow and len(s.members) < 3:
                s.add_member()
                s.note(f"scale out to {len(s.members)}")
            elif len(s.members) > 1:
                s.remove_member(s.members[-1])
                s.note(f"scale in to {len(s.members)}")
            grow = len(s.members) < 3 if grow else len(s.members) <= 1
            low, high = every_s
            time.sleep(low + (high - low) * ((step * 7919) % 100) / 100)
            step += 1

    return fault


def repeated_restart(times: int, resumed_within_s: float = 120) -> Callable[[Scenario], None]:
    """Restart the busiest leader `times` times, each time waiting until delivery resumed
    (the stalled resume of the single broker) before the next."""

    def fault(s: Scenario) -> None:
        for i in range(times):
            node = busiest_leader(s)
            s.note(f"restart {i + 1}: broker {node}")
            s.cluster.stop(node)
            s.cluster.start_node(node)
            before = len(s.standin.received())
            harness.wait_for(  # more arrived, or nothing was left to arrive
                lambda b=before: (
                    len(s.standin.received()) > b  # type: ignore[misc]
                    or len(s._unique()) >= s.events
                ),
                resumed_within_s,
                f"delivery to resume after restart {i + 1}",
                poll=0.2,
            )
            s.cluster.wait_in_sync([s.topic])

    return fault
