"""`make demo`: the whole job on a local default, then a report.

Starts a local Kafka broker (or uses `KAFKA_BOOTSTRAP_SERVERS`) and the Movable Ink stand-in,
creates a topic, produces a realistic stream (anonymous browsing, then identify, then
ecommerce events; a few fail Signals validation, a few are filtered), runs the consumer until
every record is finished (the group's committed offsets reach the end of the topic), stops
everything it started, and prints a report ending in one line:

    delivered=N filtered=N dead_lettered=N order_violations=N
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections import defaultdict
from contextlib import ExitStack
from typing import Any

from consumer.core import segment
from devkit import broker, harness, processes
from devkit.harness import PASSWORD, USERNAME, ConsumerProcess, Destination
from devkit.standin import StandIn, order_violations

STATE = harness.ROOT / ".run" / "demo"
PARTITIONS = 6
DRAIN_TIMEOUT_S = 300.0
# The demo's own Kafka clients log nothing: the report is all it prints (the consumer's logs,
# librdkafka's lines included, go to its log file).
QUIET: dict[str, Any] = {"log_level": 0}


def sample_stream(people: int, seed: int) -> list[dict[str, Any]]:
    """Events per person in the order a site would produce them."""
    rnd = random.Random(seed)
    clock = time.time() - 3600
    events: list[dict[str, Any]] = []

    def emit(kind: str, anon: str, user: str | None, **fields: Any) -> None:
        nonlocal clock
        clock += rnd.uniform(0.001, 0.05)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(clock)) + "Z"
        event: dict[str, Any] = {
            "type": kind,
            "messageId": f"m-{len(events):06d}",
            "anonymousId": anon,
            "timestamp": stamp,
            "context": {"library": {"name": "analytics.js", "version": "2.11.1"}},
            **fields,
        }
        if user is not None:
            event["userId"] = user
        events.append(event)

    for i in range(people):
        anon, user = f"anon-{i:05d}", f"user-{i:05d}"
        sku = f"sku-{rnd.randrange(100):03d}"
        url = f"https://shop.example/p/{sku}"
        for page in rnd.sample(["Home", "Category", "Search", "Sale"], rnd.randint(1, 3)):
            emit("page", anon, None, name=page, properties={"path": f"/{page.lower()}"})
        viewed = {"sku": sku, "price": 19.99} | ({} if rnd.random() < 0.08 else {"url": url})
        emit("track", anon, None, event="Product Viewed", properties=viewed)
        emit("identify", anon, user, traits={"email": f"{user}@example.com", "vip": i % 7 == 0})
        emit("track", anon, user, event="Product Added", properties={"sku": sku, "url": url})
        order: dict[str, Any] = {
            "products": [{"sku": sku, "price": "19.99", "quantity": 1}],
            "currency": "USD",
        }
        if rnd.random() >= 0.05:
            order["total"] = 19.99
        emit("track", anon, user, event="Order Completed", properties=order)
        if rnd.random() < 0.05:
            emit("track", anon, user, event="Internal Ping", integrations={"All": False})
        if rnd.random() < 0.03:
            emit("alias", anon, user, previousId=anon)
    return events


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--people", type=int, default=400)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    STATE.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if not bootstrap:
            print("demo: starting a local Kafka broker ...", flush=True)
            local = broker.start(STATE / "kafka")
            stack.callback(local.stop)
            bootstrap = local.bootstrap
        standin = stack.enter_context(StandIn(USERNAME, PASSWORD))
        topic = f"segment-events-{int(time.time())}"
        harness.create_topic(bootstrap, topic, PARTITIONS, settings=QUIET)
        events = sample_stream(args.people, args.seed)
        harness.produce_records(bootstrap, topic, map(harness.keyed, events), settings=QUIET)
        print(f"demo: produced {len(events)} events of {args.people} people to {topic}")

        port, group, log = processes.free_port(), f"demo-{topic}", STATE / "consumer.log"
        config = harness.write_config(
            STATE / "config.toml",
            bootstrap=bootstrap,
            topic=topic,
            group=group,
            destinations=[Destination("movable-ink", standin.url, {"signals": "enforce"})],
            metrics_port=port,
        )
        log.unlink(missing_ok=True)
        started = time.monotonic()
        proc = ConsumerProcess(config, log, metrics_port=port)
        stack.callback(proc.kill)
        deadline = started + DRAIN_TIMEOUT_S
        while not harness.drained(bootstrap, group, topic, settings=QUIET):
            if not proc.alive() or time.monotonic() > deadline:
                print(f"demo: the consumer did not finish; see {log}")
                return 1
            time.sleep(0.5)
        elapsed = time.monotonic() - started
        filtered = proc.outcomes("filtered")
        exit_code = proc.terminate(60)

        received = standin.received()
        expected: dict[str, list[str]] = defaultdict(list)
        for event in events:
            for key in segment.identity_keys(event):
                expected[key].append(event["messageId"])
        violations = order_violations(received, expected)
        delivered = len({r.message_id for r in received})
        span = max(received[-1].time - received[0].time, 1e-3) if received else 1.0
        dead = sum(harness.end_offsets(bootstrap, f"{topic}.dlq", settings=QUIET).values())
        summary = {
            "events produced": len(events),
            "requests received by the stand-in": len(received),
            "consumer exit status": exit_code,
            "seconds until drained (incl. start-up)": round(elapsed, 1),
            "delivered events per second (first to last)": round(delivered / span),
            "consumer log": str(log),
        }
        for name, value in summary.items():
            print(f"  {name:<46} {value}")
        print(
            f"delivered={delivered} filtered={filtered} dead_lettered={dead} "
            f"order_violations={len(violations)}"
        )
        ok = exit_code == 0 and not violations and delivered + filtered + dead == len(events)
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
