"""The partition-serial baseline: one request at a time per partition.

This is how a naive consumer, or a Kafka Connect HTTP sink task, delivers: per partition, read a
record, POST it, wait for the answer, then the next. Per-person order holds trivially (a person
is on one partition), and throughput is at most `partitions / latency`. It is as generous as
such a design gets: every partition has its own worker, the event is decoded and POSTed as JSON
with httpx on keep-alive connections, and nothing is retried (the stand-in answers 2xx).

    .venv/bin/python bench/serial_baseline.py --bootstrap HOST:PORT --topic T --group G \
        --url URL --username U --password P [--seconds 30]

It runs until `--seconds` have passed since the first answer, then prints one JSON line:
{"events": N, "seconds": S, "rate": R}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

import httpx
from confluent_kafka import Consumer, TopicPartition

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from consumer.core.decode import Decoder
from consumer.core.movableink import body_bytes

MAX_QUEUED = 2_000  # per partition: stop fetching a partition's records beyond this


async def run(args: argparse.Namespace) -> dict[str, float]:
    consumer = Consumer(
        {
            "bootstrap.servers": args.bootstrap,
            "group.id": args.group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": True,
        }
    )
    consumer.subscribe([args.topic])
    decoder = Decoder()
    queues: dict[int, asyncio.Queue[bytes]] = {}
    workers: list[asyncio.Task[None]] = []
    done = 0
    first: float | None = None
    stop = asyncio.Event()
    paused: set[int] = set()
    auth = httpx.BasicAuth(args.username, args.password)

    async def worker(queue: asyncio.Queue[bytes]) -> None:
        nonlocal done, first
        async with httpx.AsyncClient(auth=auth, timeout=10) as client:
            while not stop.is_set():
                value = await queue.get()
                body = body_bytes(decoder.decode(value))
                headers = {"Content-Type": "application/json"}
                response = await client.post(args.url, content=body, headers=headers)
                response.raise_for_status()
                done += 1
                if first is None:
                    first = time.monotonic()

    try:
        while first is None or time.monotonic() - first < args.seconds:
            full = {p for p, q in queues.items() if q.qsize() >= MAX_QUEUED}
            drained = {p for p in paused if queues[p].qsize() < MAX_QUEUED // 2}
            if full - paused:
                consumer.pause([TopicPartition(args.topic, p) for p in full - paused])
            if drained:
                consumer.resume([TopicPartition(args.topic, p) for p in drained])
            paused = (paused | full) - drained
            messages = await asyncio.to_thread(consumer.consume, 500, 0.1)
            for message in messages:
                partition, value = message.partition(), message.value()
                if message.error() is not None or partition is None or value is None:
                    continue
                if partition not in queues:
                    queues[partition] = asyncio.Queue()
                    workers.append(asyncio.create_task(worker(queues[partition])))
                queues[partition].put_nowait(value)
        elapsed = time.monotonic() - (first or time.monotonic())
        count = done
    finally:
        stop.set()
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        consumer.close()
    return {
        "events": count,
        "seconds": elapsed,
        "rate": count / elapsed if elapsed else 0.0,
        "partitions": len(queues),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--username", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args))), flush=True)


if __name__ == "__main__":
    main()
