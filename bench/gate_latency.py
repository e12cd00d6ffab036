"""The latency the identity-link gate adds at half rate: two `run` processes in one group.

Run: .venv/bin/python bench/gate_latency.py [--seconds S (15)] [--people N (1000)]
     (KAFKA_BOOTSTRAP_SERVERS: the broker, e.g. `python -m devkit.broker up`'s)

The workload is `workload.py`'s (an identify per person first, then tracks), every tenth track
server-side (its `userId` only), keyed anonymousId first (`harness.keyed`), on 12 partitions.
First the group's rate with the gate off, the stand-in answering at once (a backlog delivered
as fast as it goes); then, for `off` and `enforce`, the workload produced at half that rate for
`--seconds`. Per event, the stand-in's acceptance time minus the record's timestamp (the
producer's clock: one machine); percentiles for the userId-only events and for the others,
after the first 2 s of each phase. The machine's busy share is printed with them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient
from kit import STATE, machine_cpu_seconds, produce_all, produce_paced
from workload import events

from devkit import harness
from devkit.harness import PASSWORD, USERNAME, wait_for
from devkit.standin import StandIn

PARTITIONS = 12
SKIP_S = 2.0


def split(bootstrap: str, group: str) -> bool:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    found = admin.describe_consumer_groups([group])[group].result(timeout=10)
    owned = [tp for m in found.members for tp in m.assignment.topic_partitions]
    return len(found.members) == 2 and len(owned) == PARTITIONS


def stamps(bootstrap: str, topic: str) -> dict[str, float]:
    """messageId -> record timestamp (seconds), read back from the topic."""
    reader = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{topic}-stamps"})
    reader.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    found: dict[str, float] = {}
    quiet = time.monotonic() + 5
    while time.monotonic() < quiet:
        batch = reader.consume(1000, 0.5)
        if batch:
            quiet = time.monotonic() + 2
        for m in batch:
            mid = dict(m.headers() or []).get("mid")
            if isinstance(mid, bytes):
                found[mid.decode()] = m.timestamp()[1] / 1000
    reader.close()
    return found


def records(messages: list[dict[str, Any]]) -> list[harness.Record]:
    out: list[harness.Record] = []
    for m in messages:
        key, value, _ = harness.keyed(m)
        out.append((key, value, [("mid", m["messageId"].encode())]))
    return out


def workload(count: int, people: int, tag: str) -> list[dict[str, Any]]:
    found = events(count, people)
    for i, m in enumerate(found):
        m["messageId"] = f"{tag}-{i:09d}"
        if m["type"] != "identify" and i % 10 == 0:
            del m["anonymousId"]
    return found


def phase(bootstrap: str, gate: str, rate: float | None, count: int, people: int) -> dict[str, Any]:
    """One group of two pods; the workload produced at `rate` (None: all at once, then
    delivered). Returns the rate delivered and the latency percentiles."""
    tag = f"gate-{gate}-{time.monotonic_ns()}"
    topic = harness.create_topic(bootstrap, tag, PARTITIONS)
    where = STATE / "gate_latency"
    where.mkdir(parents=True, exist_ok=True)
    with StandIn(USERNAME, PASSWORD) as si:
        pods = [
            harness.start_consumer(
                where / f"{tag}-{i}",
                bootstrap=bootstrap,
                topic=topic,
                group=tag,
                url=si.url,
                ordering={"gate": gate},
            )
            for i in range(2)
        ]
        try:
            for pod in pods:
                wait_for(pod.ready, 60, "the consumers to join")
            wait_for(lambda: split(bootstrap, tag), 60, "the two consumers to share the topic")
            time.sleep(2)  # read progress known both ways
            sent = workload(count, people, tag)
            busy0 = machine_cpu_seconds()
            if rate is None:
                produce_all(bootstrap, topic, records(sent), len(sent), label=gate)
            else:
                produce_paced(bootstrap, topic, records(sent), rate, label=gate)
            wanted = {m["messageId"] for m in sent}
            wait_for(lambda: wanted <= {r.message_id for r in si.received()}, 300, "every event")
            busy1 = machine_cpu_seconds()
            got = si.received()
        finally:
            for pod in pods:
                pod.terminate()
    times = {r.message_id: r.time for r in got if r.message_id in wanted}
    first, last = min(times.values()), max(times.values())
    out: dict[str, Any] = {"gate": gate, "delivered_per_s": len(times) / (last - first)}
    out["machine_busy"] = (busy1[0] - busy0[0]) / max(1e-9, busy1[1] - busy0[1])
    if rate is not None:
        stamped = stamps(bootstrap, topic)
        start = min(stamped.values()) + SKIP_S
        server = {m["messageId"] for m in sent if "anonymousId" not in m}
        for name, ids in (("userId-only", server), ("others", wanted - server)):
            lat = sorted(
                (times[i] - stamped[i]) * 1000 for i in ids if i in stamped and stamped[i] >= start
            )
            q = statistics.quantiles(lat, n=100)
            out[name] = {"n": len(lat), "p50": q[49], "p95": q[94], "p99": q[98]}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--people", type=int, default=1000)
    args = parser.parse_args()
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not bootstrap:
        sys.exit("Set KAFKA_BOOTSTRAP_SERVERS to the broker to use (`python -m devkit.broker up`).")
    full = phase(bootstrap, "off", None, 20_000, args.people)
    print(full)
    half = full["delivered_per_s"] / 2
    for gate in ("off", "enforce"):
        print(phase(bootstrap, gate, half, int(half * args.seconds), args.people))


if __name__ == "__main__":
    main()
