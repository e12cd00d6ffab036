"""`make chaos`: one live stream, faults in turn, and a verdict from what arrived and the DLQ.

A local broker (and, for unknown schema ids, a local Apicurio registry), the stand-in in its own
process, and the consumer as real processes. The driver produces ~200,000 events (20,000 people,
12 partitions; poison records of every kind in spec section 8 mixed in) at a steady rate with an
idempotent producer, while, in turn:

  - the consumer is killed with SIGKILL (three times) and started again;
  - the broker is restarted (same data, same ports; down for a few seconds);
  - the stand-in is down (connections refused) for 60 s;
  - the stand-in answers 30 % 503, then 30 % 429 with `Retry-After: 1`, for a while;
  - the group scales out to 3 consumers, then back to 1 (SIGTERM: drain and leave).

Then, on a local three-broker KRaft cluster (replication 3, `min.insync.replicas=2`) behind
Toxiproxy (devkit/cluster.py, devkit/toxiproxy.py), the cluster scenarios of devkit/faults.py,
each on a fresh topic and group while ~20,000 events of 2,000 people stream: a rolling restart of
every broker (twice), SIGKILL of the busiest leader and of the active controller, two brokers
down for 30 s (`min.insync.replicas` unmet), 500 ms latency to one broker, bandwidth cut to a
trickle, a 20 s cut, hanging connections, resets, a rebalance storm with static membership and
without, and the broker restart that used to stall delivery, five times. Each prints

    <scenario>: lost=0 order_violations=0 duplicates=N dead_letters=0 pause_s=N not_ready_s=N ...

`--only name,...` runs only those cluster scenarios (`--list` names them), without the
single-broker suite; `--no-cluster` skips the cluster.

Each member has a static group instance id (`--membership dynamic`: none), and a killed member
is started again under its own, as Kubernetes restarts a container in the same pod; librdkafka's
default session timeout (45 s) applies. Then it waits until every valid event has arrived and the
group has committed everything, stops the consumer with SIGTERM, reads the dead-letter topic, and
prints, per SIGKILL, the seconds until delivery resumed and the duplicates it caused, then:

    chaos: lost=N order_violations=N duplicates=N outage_dead_letters=N poison_missed=N
    max_recovery_s=N

`max_recovery_s` is the longest time from starting a killed member again to the next event
accepted by the stand-in. Every figure but `duplicates` and `max_recovery_s` must be 0 (after
SIGKILL, redelivery is expected): otherwise the exit status is 1. `--quick` runs about 20,000
events with a 10 s outage.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import broker_restart
import kit
import poison
from workload import event

from consumer.core import segment
from consumer.core.decode import avro_codec
from devkit import broker, faults, harness, processes
from devkit.cluster import Cluster
from devkit.harness import ConsumerProcess, Destination, Record
from devkit.standin import Received, StandIn, duplicates, lost, order_violations
from devkit.toxiproxy import Toxiproxy

MAX_MESSAGE_BYTES = 100_000  # poison "oversized" is larger than this
INSTANCE_ID_ENV = "MIK__KAFKA__GROUP_INSTANCE_ID"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = kit.workload_parser(
        __doc__, "about 20,000 events, 10 s outage", "valid events (default 200,000)"
    )
    parser.add_argument("--rate", type=float, help="events produced per second (default 500)")
    parser.add_argument("--outage-s", type=float, help="stand-in down (default 60 s)")
    parser.add_argument("--poison-per-kind", type=int, help="poison records of each kind")
    parser.add_argument(
        "--no-registry", action="store_true", help="no schema registry: no unknown-id poison"
    )
    parser.add_argument(
        "--membership",
        choices=("static", "dynamic"),
        default="static",
        help="static: each member has a group instance id, kept across its restarts",
    )
    parser.add_argument("--only", help="only these cluster scenarios (comma-separated)")
    parser.add_argument("--list", action="store_true", help="name the cluster scenarios")
    parser.add_argument("--no-cluster", action="store_true", help="skip the cluster scenarios")
    args = parser.parse_args(argv)
    quick = args.quick
    args.events = args.events or (20_000 if quick else 200_000)
    args.people = args.people or (2_000 if quick else 20_000)
    args.rate = args.rate or (250.0 if quick else 500.0)
    args.outage_s = args.outage_s if args.outage_s is not None else (10.0 if quick else 60.0)
    args.poison_per_kind = args.poison_per_kind or (5 if quick else 20)
    args.fault_s = 8.0 if quick else 20.0  # each of the 5xx and 429 phases
    args.scaled_s = 12.0 if quick else 30.0
    return args


# -- what arrived -------------------------------------------------------------------------------


class Arrivals:
    """The stand-in's recording, fetched page by page as the run goes (only ids are kept)."""

    def __init__(self, standin: kit.StandInProcess) -> None:
        self._standin = standin
        self._next = 0
        self.items: list[Received] = []
        self.unique: set[str] = set()
        self._lock = threading.Lock()

    def poll(self) -> int:
        with self._lock:
            page, self._next = self._standin.received(self._next)
            for data in page:
                item = Received.from_json({**data, "event": {}})  # the ids are enough
                self.items.append(item)
                if item.message_id is not None:
                    self.unique.add(item.message_id)
            return len(self.unique)


# -- the group ----------------------------------------------------------------------------------


@dataclass
class Group:
    """The consumer processes of the one consumer group."""

    config: Callable[[int], Path]  # metrics port -> config file
    log_dir: Path
    static: bool = True
    members: list[ConsumerProcess] = field(default_factory=list)
    instance_ids: dict[ConsumerProcess, str] = field(default_factory=dict)
    started: int = 0
    bad_exits: list[str] = field(default_factory=list)

    def start(self, instance_id: str | None = None) -> ConsumerProcess:
        """A new member, or a restarted one when given the instance id it had."""
        self.started += 1
        port = processes.free_port()
        instance_id = instance_id or f"chaos-member-{self.started}"
        env = {INSTANCE_ID_ENV: instance_id} if self.static else {}
        log = self.log_dir / f"consumer-{self.started}.log"
        member = ConsumerProcess(self.config(port), log, metrics_port=port, env=env)
        self.members.append(member)
        self.instance_ids[member] = instance_id
        return member

    def kill(self) -> tuple[str, int]:
        """SIGKILL the oldest member: its instance id and the requests it had under way."""
        member = self.members.pop(0)
        in_flight = member.in_flight()
        member.kill()
        return self.instance_ids[member], in_flight

    def terminate(self, member: ConsumerProcess) -> None:
        """SIGTERM: it must drain, commit, leave and exit 0."""
        self.members.remove(member)
        code = member.terminate(timeout=60)
        if code != 0:
            self.bad_exits.append(f"{member.log.name} exited {code} after SIGTERM")

    def check_alive(self) -> None:
        for member in list(self.members):
            if not member.alive():
                code = member.proc.returncode
                self.bad_exits.append(f"{member.log.name} died by itself ({code})")
                self.members.remove(member)
                self.start(self.instance_ids[member])

    def stop(self) -> None:
        for member in list(self.members):
            self.terminate(member)


# -- the run ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kill:
    """One SIGKILL, in epoch seconds (the stand-in's clock), and what was under way."""

    at: float
    restarted: float
    in_flight: int


@dataclass
class Run:
    args: argparse.Namespace
    bootstrap: str
    kafka_dir: Path
    standin: kit.StandInProcess
    arrivals: Arrivals
    group: Group
    expected: int
    stream_done: threading.Event = field(default_factory=threading.Event)
    log: list[str] = field(default_factory=list)
    kills: list[Kill] = field(default_factory=list)
    fault_starts: list[float] = field(default_factory=list)  # epoch seconds
    progress: kit.Progress | None = None

    def note(self, text: str) -> None:
        elapsed = time.monotonic() - (self.progress.started if self.progress else time.monotonic())
        line = f"[{elapsed:6.1f}s] {text}"
        self.log.append(line)
        kit.say(f"  chaos: {line}")

    def wait(self, seconds: float) -> None:
        """Sleep while keeping the arrivals and the progress line current."""
        deadline = time.monotonic() + seconds
        while True:
            done = self.arrivals.poll()
            self.group.check_alive()
            if self.progress is not None:
                members = len(self.group.members)
                self.progress.update(done, f"consumers={members}")
            left = deadline - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(1.0, left))

    # the faults, each returns when it is over

    def kill_consumer(self, restart_after_s: float) -> None:
        self.note(f"SIGKILL the consumer; start it again after {restart_after_s:g} s")
        killed_at = time.time()
        instance_id, in_flight = self.group.kill()
        self.wait(restart_after_s)
        self.kills.append(Kill(killed_at, time.time(), in_flight))
        self.group.start(instance_id)

    def restart_broker(self) -> None:
        self.note("broker: stop (data and ports kept), 5 s down, start")
        broker_restart.stop(self.kafka_dir)
        self.wait(5.0)
        broker_restart.start_existing(self.kafka_dir)
        self.note("broker: back")

    def outage(self) -> None:
        self.note(f"stand-in down for {self.args.outage_s:g} s (connections refused)")
        self.standin.down(for_s=self.args.outage_s)
        self.wait(self.args.outage_s)
        harness.wait_for(
            lambda: not self.standin.stats()["down"], 30, "the stand-in to come back", poll=0.25
        )
        self.note("stand-in up again")

    def errors(self) -> None:
        self.note(f"stand-in: 30% 503 for {self.args.fault_s:g} s")
        self.standin.faults(error_rate=0.3, error_status=503, seed=1)
        self.wait(self.args.fault_s)
        self.note(f"stand-in: 30% 429 with Retry-After: 1 for {self.args.fault_s:g} s")
        self.standin.faults(rate_limit={"fraction": 0.3, "retry_after_s": 1}, seed=2)
        self.wait(self.args.fault_s)
        self.standin.faults()
        self.note("stand-in: healthy again")

    def scale(self) -> None:
        self.note("scale out: 3 consumers")
        extra = [self.group.start(), self.group.start()]
        self.wait(self.args.scaled_s)
        self.note("scale in: SIGTERM two of them (drain, commit, leave)")
        for member in extra:
            if member in self.group.members:
                self.group.terminate(member)

    def schedule(self) -> list[tuple[float, Callable[[], None]]]:
        """(fraction of the production time, fault), in turn."""
        return [
            (0.06, lambda: self.kill_consumer(0.0)),
            (0.14, lambda: self.kill_consumer(3.0)),
            (0.22, self.restart_broker),
            (0.30, self.outage),
            (0.48, self.errors),
            (0.62, self.scale),
            (0.82, lambda: self.kill_consumer(1.0)),
        ]


def stream(args: argparse.Namespace, schema_id: int) -> tuple[list[Record], Any]:
    """The records to produce, in order (poison mixed in), and what is expected of them."""
    rnd = random.Random(1)
    records: list[Record] = []
    by_person: dict[str, list[str]] = {}
    for i in range(args.events):
        message = event(i, args.people, rnd)
        records.append(harness.keyed(message, schema_id))
        by_person.setdefault(segment.person_key(message), []).append(message["messageId"])
    bad = poison.make(
        args.poison_per_kind,
        schema_id,
        registry=not args.no_registry,
        max_message_bytes=MAX_MESSAGE_BYTES,
    )
    places = sorted(random.Random(3).sample(range(len(records)), len(bad)), reverse=True)
    for place, item in zip(places, bad, strict=True):
        records.insert(place, (item.key, item.value, list(item.headers)))
    return records, (by_person, bad)


def produce(run: Run, topic: str, records: list[Record]) -> None:
    """Produce at `args.rate` per second with an idempotent producer (order and no duplicates
    per partition, through the broker restart too)."""
    settings = kit.BULK | {"linger.ms": 5, "acks": "all"}
    harness.produce_records(run.bootstrap, topic, records, rate=run.args.rate, settings=settings)
    run.stream_done.set()


def cluster_scenarios(quick: bool) -> dict[str, tuple[Callable[[faults.Scenario], None], bool]]:
    """name -> (fault, static membership); `quick` shortens each fault."""
    f = 0.5 if quick else 1.0
    return {
        "rolling-restart": (faults.rolling_restart(times=1 if quick else 2), True),
        "kill-busiest-leader": (faults.kill_and_restart(faults.busiest_leader, 10 * f), True),
        "kill-controller": (faults.kill_and_restart(faults.controller, 10 * f), True),
        "kill-coordinator": (faults.kill_and_restart(faults.group_coordinator, 10 * f), True),
        "min-isr-unmet": (faults.min_isr_unmet(30 * f), True),
        "latency-500ms": (faults.network("latency", 30 * f), True),
        "bandwidth-trickle": (faults.network("bandwidth", 20 * f, every_broker=True), True),
        "cut-20s": (faults.network("cut", 20 * f, every_broker=True), True),
        "hang": (faults.network("hang", 20 * f, every_broker=True), True),
        "reset-peer": (faults.network("reset", 10 * f, every_broker=True), True),
        "storm-static": (faults.rebalance_storm(120 * f, (15 * f, 20 * f)), True),
        "storm-dynamic": (faults.rebalance_storm(120 * f, (15 * f, 20 * f)), False),
        "restart-repeated": (faults.repeated_restart(3 if quick else 5), True),
    }


def run_cluster(args: argparse.Namespace, state: Path, run_dir: Path) -> list[faults.Outcome]:
    """The cluster scenarios, in turn, on one cluster started for them."""
    chosen = cluster_scenarios(args.quick)
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in chosen]
        if unknown:
            raise SystemExit(f"unknown scenario(s) {unknown}; --list names them")
        chosen = {n: chosen[n] for n in names}
    kit.say(f"chaos: cluster scenarios: {', '.join(chosen)}")
    proxy = Toxiproxy.start(state / "toxiproxy")
    outcomes = []
    try:
        cluster = Cluster.start(state / "cluster", brokers=3, proxy=proxy)
        with StandIn(harness.USERNAME, harness.PASSWORD) as standin:
            try:
                for name, (fault, static) in chosen.items():
                    kit.say(f"chaos: cluster scenario {name} ...")
                    scenario = faults.Scenario(
                        name,
                        cluster,
                        standin,
                        run_dir / name,
                        events=10_000 if args.quick else 20_000,
                        people=1_000 if args.quick else 2_000,
                        rate=200.0,
                        static=static,
                    )
                    members = 1 if name.startswith("storm") else 2
                    try:
                        outcome = scenario.run(fault, members=members)
                    except Exception as exc:  # a scenario that could not finish is a failure
                        outcome = faults.Outcome(name, scenario.events, exits=[repr(exc)])
                        outcome.notes = scenario.notes
                        for member in list(scenario.members):
                            member.kill()
                    outcomes.append(outcome)
                    kit.say("chaos: " + outcome.line())
                    standin.reset()
            finally:
                cluster.shutdown()
    finally:
        proxy.stop()
    return outcomes


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        print("\n".join(cluster_scenarios(args.quick)))
        return 0
    state = kit.STATE.parent / "chaos"
    run_dir = state / time.strftime("%Y%m%d-%H%M%S")
    cluster_outcomes: list[faults.Outcome] = []
    single = 0 if args.only else single_broker(args, state, run_dir)
    if not args.no_cluster:
        cluster_outcomes = run_cluster(args, state, run_dir)
        kit.RESULTS.mkdir(parents=True, exist_ok=True)
        (kit.RESULTS / f"chaos-cluster-{run_dir.name}.json").write_text(
            json.dumps([vars(o) for o in cluster_outcomes], indent=2, default=str) + "\n"
        )
    for outcome in cluster_outcomes:
        print(outcome.line())
        for note in outcome.notes:
            print(f"    {note}")
        for exit_line in outcome.exits:
            print(f"    consumer: {exit_line}")
    if cluster_outcomes:
        totals = {
            "lost": sum(o.lost for o in cluster_outcomes),
            "order_violations": sum(o.order_violations for o in cluster_outcomes),
            "outage_dead_letters": sum(o.dead_letters for o in cluster_outcomes),
            "duplicates": sum(o.duplicates for o in cluster_outcomes),
            "max_pause_s": max(o.pause_s for o in cluster_outcomes),
            "failed": sum(not o.ok for o in cluster_outcomes),
        }
        print("chaos cluster: " + " ".join(f"{k}={v}" for k, v in totals.items()))
    return 1 if single or any(not o.ok for o in cluster_outcomes) else 0


def single_broker(args: argparse.Namespace, state: Path, run_dir: Path) -> int:
    """The single-broker suite (the consumer killed, the broker restarted, outages, poison)."""
    started = time.monotonic()
    run_dir.mkdir(parents=True, exist_ok=True)
    topic = "chaos-events"
    registry_url = None
    reg = None
    kit.say(f"chaos: {args.events:,} events at {args.rate:g}/s, {args.people:,} people")
    kafka = broker.start(state / "kafka")
    standin = kit.StandInProcess(log=run_dir / "standin.log")
    group: Group | None = None
    try:
        schema_id = 1
        if not args.no_registry:
            from devkit import registry

            kit.say("chaos: starting the local schema registry ...")
            reg = registry.start(state / "registry")
            registry_url = reg.url
            schema_id = register_schema(registry_url, topic)
        harness.create_topic(kafka.bootstrap, topic, args.partitions)
        records, (by_person, bad) = stream(args, schema_id)

        def config(port: int) -> Path:
            return harness.write_config(
                run_dir / f"consumer-{port}.toml",
                bootstrap=kafka.bootstrap,
                topic=topic,
                group="chaos",
                destinations=[Destination("mi", standin.url)],
                metrics_port=port,
                kafka={"max_message_bytes": MAX_MESSAGE_BYTES},
                delivery={"max_probe_interval": "5s"},
                schema_registry=registry_url,
            )

        group = Group(config, run_dir, static=args.membership == "static")
        arrivals = Arrivals(standin)
        run = Run(args, kafka.bootstrap, state / "kafka", standin, arrivals, group, args.events)
        group.start()
        producer = threading.Thread(target=produce, args=(run, topic, records), daemon=True)
        run.progress = kit.Progress("chaos: unique events delivered", args.events)
        producer.start()
        production_s = len(records) / args.rate
        for at, fault in run.schedule():
            run.wait(run.progress.started + at * production_s - time.monotonic())
            run.fault_starts.append(time.time())
            fault()
        run.note("faults over; waiting for the stream to be produced and delivered")
        finish(run, topic, timeout_s=900)
        producer.join(timeout=60)
        group.stop()
        verdict = judge(run, topic, by_person, bad)
        with (run_dir / "arrivals.jsonl").open("w") as out:  # for analysis after the run
            out.writelines(json.dumps([r.seq, r.time, r.message_id]) + "\n" for r in arrivals.items)
    finally:
        if group is not None:
            for member in group.members:
                member.kill()
        standin.stop()
        if reg is not None:
            reg.stop()
        broker.stop(state / "kafka")
    for line in verdict["details"]:
        print(line)
    for exit_line in group.bad_exits:
        print(f"consumer: {exit_line}")
    print(f"took {(time.monotonic() - started) / 60:.1f} min; logs in {run_dir}")
    figures = verdict["figures"]
    kit.RESULTS.mkdir(parents=True, exist_ok=True)
    (kit.RESULTS / f"chaos-{run_dir.name}.json").write_text(
        json.dumps(
            {"settings": vars(args), "fault_starts": run.fault_starts, **verdict},
            indent=2,
            default=str,
        )
        + "\n"
    )
    print("chaos: " + " ".join(f"{k}={v}" for k, v in figures.items()))
    bad_figures = any(v for k, v in figures.items() if k not in ("duplicates", "max_recovery_s"))
    return 1 if bad_figures or group.bad_exits else 0


def register_schema(url: str, topic: str) -> int:
    from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

    with SchemaRegistryClient({"url": url}) as client:
        schema_id: int = client.register_schema(
            f"{topic}-value", Schema(avro_codec.SCHEMA_PATH.read_text(), "AVRO")
        )
    return schema_id


def finish(run: Run, topic: str, timeout_s: float) -> None:
    """Until every valid event arrived and the group committed the end of every partition."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        run.wait(2.0)
        if not run.stream_done.is_set() or len(run.arrivals.unique) < run.expected:
            continue
        if harness.drained(run.bootstrap, "chaos", topic):
            run.note("everything delivered and committed")
            return
    run.note(f"gave up waiting after {timeout_s:.0f} s")


def judge(
    run: Run, topic: str, by_person: dict[str, list[str]], bad: list[poison.Poison]
) -> dict[str, Any]:
    run.arrivals.poll()
    received = run.arrivals.items
    expected_ids = [m for ids in by_person.values() for m in ids]
    missing = lost(received, expected_ids)
    violations = order_violations(received, by_person)
    extra_arrivals = sum(n - 1 for n in duplicates(received).values())
    dead = harness.read_topic(run.bootstrap, f"{topic}.dlq", timeout=120, idle_s=5.0)
    poison_by_key = {p.key: p for p in bad}
    found: dict[bytes, str] = {}
    outage: Counter[str] = Counter()
    for record in dead:
        headers = dict(record.headers() or [])
        reason = (headers.get("movableink.reason") or b"?").decode()
        key = record.key() or b""
        if key in poison_by_key:
            found[key] = reason
        else:
            outage[reason] += 1
    missed = [p for p in bad if p.key not in found]
    wrong = [p for p in bad if p.key in found and found[p.key] != p.reason]
    leaked = {r.message_id for r in received if (r.message_id or "").startswith("poison-")}
    kinds = Counter(p.kind for p in bad)
    crashes = [after_kill(kill, run.fault_starts, received, run.args.rate) for kill in run.kills]
    recoveries = [c["recovery_s"] for c in crashes]
    details = [
        f"stream: {run.expected:,} valid events, {len(bad)} poison records "
        f"({len(kinds)} kinds x {max(kinds.values())}: {', '.join(sorted(kinds))})",
        f"stand-in: {len(received):,} events received, {len(run.arrivals.unique):,} unique",
        f"dead-letter topic: {len(dead)} records: {len(found)} distinct poison records, "
        f"{len(dead) - len(found) - sum(outage.values())} poison dead-lettered again after a "
        f"SIGKILL, {sum(outage.values())} valid events",
        *(f"  poison {p.kind} missing from the DLQ" for p in missed[:10]),
        *(f"  poison {p.kind}: reason {found[p.key]}, expected {p.reason}" for p in wrong[:10]),
        *(f"  valid events dead-lettered: {n} x {reason}" for reason, n in outage.items()),
        *(f"  order: {v}" for v in violations[:10]),
        *(f"  lost: {m}" for m in sorted(missing)[:10]),
        *(
            (
                f"SIGKILL {i}: delivery resumed {c['down_s']} s after the kill, "
                f"{c['recovery_s']} s after the restart"
                if c["recovery_s"] is not None
                else f"SIGKILL {i}: delivery not resumed before the next fault, "
                f"{c['window_s']} s after the kill"
            )
            + f"; {c['duplicates']} duplicates until the next fault (goal <= {c['goal']}: "
            f"a quarter second of input plus {c['in_flight']} in flight)"
            for i, c in enumerate(crashes, 1)
        ),
        *run.log,
    ]
    return {
        "figures": {
            "lost": len(missing),
            "order_violations": len(violations),
            "duplicates": extra_arrivals,
            "outage_dead_letters": sum(outage.values()),
            "poison_missed": len(missed) + len(wrong) + len(leaked),
            "max_recovery_s": max(
                recoveries, default=0.0, key=lambda s: math.inf if s is None else s
            ),
        },
        "crashes": crashes,
        "details": details,
    }


def after_kill(
    kill: Kill, fault_starts: list[float], received: list[Received], rate: float
) -> dict[str, Any]:
    """When delivery resumed after `kill`, and the events delivered before it that came again
    before the next fault (`None`: it never resumed)."""
    end = min((t for t in fault_starts if t > kill.at), default=math.inf)
    before = {r.message_id for r in received if r.time <= kill.at}
    after = sorted((r for r in received if kill.at < r.time <= end), key=lambda r: r.seq)
    resumed = next((r.time for r in after if r.time >= kill.restarted), None)
    return {
        "killed_at": kill.at,
        "restarted_at": kill.restarted,
        "window_s": round(end - kill.at, 1),
        "down_s": None if resumed is None else round(resumed - kill.at, 1),
        "recovery_s": None if resumed is None else round(resumed - kill.restarted, 1),
        "duplicates": sum(1 for r in after if r.message_id is not None and r.message_id in before),
        "in_flight": kill.in_flight,
        "goal": int(rate / 4) + kill.in_flight,
    }


if __name__ == "__main__":
    sys.exit(main())
