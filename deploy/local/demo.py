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
import signal
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import broker
import processes
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from standin import StandIn, order_violations

from consumer import avro_codec, segment

ROOT = Path(__file__).resolve().parents[2]
STATE = ROOT / ".run" / "demo"
USERNAME, PASSWORD = "demo-access-key", "demo-secret"
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


def _write_config(path: Path, bootstrap: str, topic: str, url: str, port: int) -> None:
    path.write_text(
        f"""[kafka]
bootstrap_servers = "{bootstrap}"
topics = ["{topic}"]
group_id = "demo-{topic}"

[metrics]
host = "127.0.0.1"
port = {port}

[[destinations]]
name = "movable-ink"
movable_ink_url = "{url}"
username = "${{MOVABLEINK_USERNAME}}"
password = "${{MOVABLEINK_PASSWORD}}"
signals = "enforce"
"""
    )


def _produce(bootstrap: str, topic: str, events: list[dict[str, Any]]) -> None:
    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 20, "enable.idempotence": True, **QUIET}
    )
    for event in events:
        value = avro_codec.frame(1, avro_codec.encode(event))
        producer.produce(topic, value=value, key=segment.person_key(event).encode())
        producer.poll(0)
    if producer.flush(60) != 0:
        raise RuntimeError("The demo could not produce its sample stream.")


def _drained(bootstrap: str, group: str, topic: str) -> bool:
    """True when the group's committed offsets reach the end of every partition."""
    client = Consumer({"bootstrap.servers": bootstrap, "group.id": group, **QUIET})
    try:
        parts = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        for part in client.committed(parts, timeout=10):
            _, high = client.get_watermark_offsets(part, timeout=10)
            if part.offset < high:
                return False
        return True
    except KafkaException:  # the group coordinator is still loading: not drained yet
        return False
    finally:
        client.close()


def _count(bootstrap: str, topic: str) -> int:
    client = Consumer({"bootstrap.servers": bootstrap, "group.id": "demo-count", **QUIET})
    try:
        metadata = client.list_topics(topic, timeout=10).topics[topic]
        total = 0
        for p in metadata.partitions:
            low, high = client.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            total += high - low
        return total
    finally:
        client.close()


def _scrape(port: int, outcome: str) -> int:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith("movableink_consumer_events_total{") and f'outcome="{outcome}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()


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
        admin = AdminClient({"bootstrap.servers": bootstrap, **QUIET})
        admin.create_topics([NewTopic(topic, PARTITIONS, 1)])[topic].result(30)
        events = sample_stream(args.people, args.seed)
        _produce(bootstrap, topic, events)
        print(f"demo: produced {len(events)} events of {args.people} people to {topic}")

        port = processes.free_port()
        config = STATE / "config.toml"
        _write_config(config, bootstrap, topic, standin.url, port)
        env = {**os.environ, "MOVABLEINK_USERNAME": USERNAME, "MOVABLEINK_PASSWORD": PASSWORD}
        log = (STATE / "consumer.log").open("wb")
        stack.callback(log.close)
        started = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "consumer", "run", "--config", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        stack.callback(_kill, proc)
        deadline = started + DRAIN_TIMEOUT_S
        while not _drained(bootstrap, f"demo-{topic}", topic):
            if proc.poll() is not None or time.monotonic() > deadline:
                print(f"demo: the consumer did not finish; see {STATE / 'consumer.log'}")
                return 1
            time.sleep(0.5)
        elapsed = time.monotonic() - started
        filtered = _scrape(port, "filtered")
        proc.send_signal(signal.SIGTERM)
        exit_code = proc.wait(60)

        received = standin.received()
        expected: dict[str, list[str]] = defaultdict(list)
        for event in events:
            for key in segment.identity_keys(event):
                expected[key].append(event["messageId"])
        violations = order_violations(received, expected)
        delivered = len({r.message_id for r in received})
        span = max(received[-1].time - received[0].time, 1e-3) if received else 1.0
        dead = _count(bootstrap, f"{topic}.dlq")
        summary = {
            "events produced": len(events),
            "requests received by the stand-in": len(received),
            "consumer exit status": exit_code,
            "seconds until drained (incl. start-up)": round(elapsed, 1),
            "delivered events per second (first to last)": round(delivered / span),
            "consumer log": str(STATE / "consumer.log"),
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
