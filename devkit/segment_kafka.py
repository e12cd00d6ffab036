"""Segment events onto Kafka as Segment's own Kafka (Actions) destination writes them.

The producer is `devkit/segment_kafka/produce.js` (kafkajs 2.2.4 pinned by its lock file; `make
test` and `make segment-kafka` run `npm ci` there): kafkajs's DefaultPartitioner, JSON values,
the destination's three string headers, a producer that is not idempotent. A
customer's Segment workspace writes records this way, so the tests of per-person order read
what real users' topics hold rather than what our own producer writes.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

KIT = Path(__file__).resolve().parent / "segment_kafka"
Keying = Literal["none", "anonymous_first", "user_first"]
# none: Segment's default (no Message Key mapped); anonymous_first: the Message Key mapped with
# the `@if`/`exists` directive (the keying contract); user_first: RudderStack's fixed choice.
KEYINGS: tuple[Keying, ...] = ("none", "anonymous_first", "user_first")


def produce(
    bootstrap: str,
    topic: str,
    events: Sequence[Mapping[str, Any]],
    keying: Keying,
    *,
    batch_size: int = 1000,
    source: str = "segment",
    timeout_s: float = 120.0,
) -> int:
    """Produce `events` in order, one kafkajs `send` per `batch_size`; returns how many.
    RuntimeError (with the producer's own message) if it failed."""
    node = shutil.which("node")
    if node is None or not (KIT / "node_modules" / "kafkajs").is_dir():
        raise RuntimeError(
            "The Segment Kafka producer needs node and kafkajs: run `make segment-kafka` "
            "(make test does) to install it into devkit/segment_kafka/node_modules."
        )
    given = {
        "brokers": bootstrap,
        "topic": topic,
        "keying": keying,
        "batchSize": batch_size,
        "source": source,
        "events": list(events),
    }
    done = subprocess.run(
        [node, str(KIT / "produce.js")],
        input=json.dumps(given),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip() or f"produce.js exited with {done.returncode}")
    sent: int = json.loads(done.stdout)["sent"]
    return sent


def journey(person: int, start_ms: int = 1_765_000_000_000) -> list[dict[str, Any]]:
    """One person's nine events in their order: three anonymous pages, the identify that joins
    the anonymousId and the userId, four tracks with both, and a server-side `Order Completed`
    with the userId only (the event that a key of anonymousId, else userId, puts elsewhere)."""
    anonymous, user = f"anon-{person}", f"user-{person}"
    kinds: list[tuple[str, dict[str, Any]]] = [
        *(("page", {"anonymousId": anonymous, "name": f"Page {n}"}) for n in range(3)),
        ("identify", {"anonymousId": anonymous, "userId": user, "traits": {"plan": "pro"}}),
        *(
            ("track", {"anonymousId": anonymous, "userId": user, "event": f"Step {n}"})
            for n in range(4)
        ),
        ("track", {"userId": user, "event": "Order Completed"}),
    ]
    events = []
    for n, (kind, fields) in enumerate(kinds):
        moment = _iso(start_ms + 1000 * n)
        events.append({"type": kind, "messageId": f"{person}-{n}", "timestamp": moment, **fields})
    return events


def journeys(people: int, start_ms: int = 1_765_000_000_000, seed: int = 0) -> list[dict[str, Any]]:
    """`journey` of each person, interleaved at random (`seed`), each person's in order.

    Not one event of each in turn: a round robin of the producer over the partitions would then
    put every event of a person on one partition whenever `people` is a multiple of their
    number."""
    pending = [journey(p, start_ms)[::-1] for p in range(people)]
    chooser = random.Random(seed)
    merged: list[dict[str, Any]] = []
    while pending:
        index = chooser.randrange(len(pending))
        merged.append(pending[index].pop())
        if not pending[index]:
            pending[index] = pending[-1]
            pending.pop()
    return merged


def _iso(ms: int) -> str:
    return (
        datetime.fromtimestamp(ms / 1000, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )
