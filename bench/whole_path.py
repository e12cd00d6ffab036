"""The consumer's whole path, record consumed to offset committed, in one process, for counting.

Run: .venv/bin/python bench/whole_path.py MODE EVENTS URL [WINDOW]   (MODE: single or batch;
     WINDOW: an `[ordering] window` other than the default, to see what it costs)

It runs the consumer as its command line does, `consumer.cli.main(["run", "--config", ...])`,
with librdkafka's two clients replaced by fakes at confluent-kafka's own interface
(`confluent_kafka.Consumer` and `Producer`, which `consumer/shell/kafka/client.py` builds): the
fake consumer assigns `PARTITIONS` partitions on the first `consume`, hands out `EVENTS` real
`confluent_kafka.Message`s of the bench workload (Confluent Avro, the default preset, people on
one partition each), takes the commits, and sends the process SIGTERM once every offset is
committed, as an operator stops the consumer. Delivery is real: the built-in HTTP client to URL
(nginx, `bench/nginx_server.py`). So every internal hand-over the consumer makes (Kafka thread ->
decision -> delivery loop -> sender -> outcomes -> offsets -> commit) runs as in production, and
nothing here depends on them: the entry points are the CLI, the config file, confluent-kafka's
API and the metric names.

The messages are made in a thread of their own before the consumer starts (valgrind's thread
2, kept alive to the end), so a valgrind run with `--separate-threads=yes` keeps their making
out of the consumer's threads: thread 1 runs the delivery loop, the later ones are the Kafka
thread and any helper (`instructions.py` reads them so). The
last line printed is JSON: events delivered and requests made (from the consumer's metrics).
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path
from typing import Any, ClassVar

sys.path.insert(0, str(Path(__file__).resolve().parent))

import confluent_kafka
import kit
import orjson
from prometheus_client import REGISTRY
from workload import events

from consumer import cli
from consumer.core import segment
from consumer.core.decode import avro_codec
from devkit import harness

TOPIC = "segment-events"
PARTITIONS = 12
POOL = 1_000  # distinct events, cycled: making them is not in what is counted
PEOPLE = 2_000
# Batch mode as `bench.py` runs it, with a linger long enough that, under valgrind (50-100x
# slower), a batch still fills as it does at full rate.
BATCH = {"enabled": True, "max_events": 1000, "linger": "2s"}
COMMIT_INTERVAL = "1s"  # under valgrind, 200 ms of wall time is a few events


def messages(count: int) -> list[confluent_kafka.Message]:
    """`count` records of the workload, each person's on one partition, offsets in order."""
    pool = events(POOL, people=PEOPLE)
    values = [avro_codec.frame(1, avro_codec.encode(m)) for m in pool]
    keys = [segment.person_key(m).encode() for m in pool]
    next_offset = [0] * PARTITIONS
    made = []
    for i in range(count):
        key, value = keys[i % POOL], values[i % POOL]
        partition = zlib.crc32(key) % PARTITIONS
        offset = next_offset[partition]
        next_offset[partition] += 1
        made.append(
            kit.kafka_message(TOPIC, partition, offset, key, value, int(time.time() * 1000))
        )
    return made


class FakeConsumer:
    """librdkafka's consumer, as far as the consumer uses it."""

    made: ClassVar[list[confluent_kafka.Message]] = []

    def __init__(self, conf: dict[str, Any]) -> None:
        self.queue = list(self.made)
        self.at = 0
        self.ends = {p: 0 for p in range(PARTITIONS)}
        for m in self.queue:
            partition, offset = m.partition(), m.offset()
            assert partition is not None and offset is not None  # every message made has both
            self.ends[partition] = offset + 1
        self.committed: dict[int, int] = {}
        self.on_assign: Any = None
        self.assigned: list[confluent_kafka.TopicPartition] = []
        self.stopping = False

    def subscribe(self, topics: list[str], **callbacks: Any) -> None:
        self.on_assign = callbacks["on_assign"]

    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[Any]:
        if self.on_assign is not None:
            assign, self.on_assign = self.on_assign, None
            self.assigned = [confluent_kafka.TopicPartition(TOPIC, p) for p in range(PARTITIONS)]
            assign(self, self.assigned)
        taken = self.queue[self.at : self.at + num_messages]
        self.at += len(taken)
        if not taken and timeout > 0:
            time.sleep(timeout)
        return taken

    def commit(self, offsets: list[Any], asynchronous: bool = True) -> list[Any]:
        for part in offsets:
            self.committed[part.partition] = part.offset
        if not self.stopping and all(self.committed.get(p, 0) >= e for p, e in self.ends.items()):
            self.stopping = True
            os.kill(os.getpid(), signal.SIGTERM)
        return offsets

    def poll(self, timeout: float = -1) -> None:
        """Served at shutdown for commit answers; the fake's commits are answered by none."""
        time.sleep(max(0.0, timeout))

    def assignment(self) -> list[Any]:
        return self.assigned

    def get_watermark_offsets(self, part: Any, **_: Any) -> tuple[int, int]:
        return 0, self.ends[part.partition]

    def position(self, parts: list[Any]) -> list[Any]:
        return [confluent_kafka.TopicPartition(TOPIC, p.partition, -1001) for p in parts]

    def pause(self, parts: list[Any]) -> None:
        pass

    def resume(self, parts: list[Any]) -> None:
        pass

    def close(self) -> None:
        pass


class FakeProducer:
    """librdkafka's producer: nothing is dead-lettered in this workload."""

    def __init__(self, conf: dict[str, Any]) -> None:
        pass

    def produce(self, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("nothing is dead-lettered in the bench workload")

    def poll(self, timeout: float = 0) -> int:
        return 0

    def flush(self, timeout: float = -1) -> int:
        return 0

    def __len__(self) -> int:
        return 0


def _sample(name: str, **labels: str) -> float:
    total = 0.0
    for family in REGISTRY.collect():
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                total += sample.value
    return total


def main() -> int:
    mode, events_arg, url, *window = sys.argv[1:]
    count = int(events_arg)
    made, done = threading.Event(), threading.Event()

    def make() -> None:
        FakeConsumer.made.extend(messages(count))
        made.set()
        done.wait()  # alive to the end: valgrind would give its thread number to the next

    threading.Thread(target=make, daemon=True).start()
    made.wait()
    confluent_kafka.Consumer = FakeConsumer  # type: ignore[misc,assignment]
    confluent_kafka.Producer = FakeProducer  # type: ignore[misc,assignment]
    options = {"batch": BATCH} if mode == "batch" else {}
    with tempfile.TemporaryDirectory() as folder:
        path = harness.write_config(
            Path(folder) / "config.toml",
            bootstrap="127.0.0.1:1",
            topic=TOPIC,
            group="whole-path",
            destinations=[harness.Destination("mi", url, options)],
            kafka={"create_dead_letter_topic": False},
            delivery={"commit_interval": COMMIT_INTERVAL},
            ordering={"window": window[0]} if window else None,
        )
        os.environ.update(harness.CREDENTIALS)
        code = cli.main(["run", "--config", str(path), "--log-level", "WARNING"])
    delivered = _sample("movableink_consumer_events_total", outcome="delivered")
    requests = _sample("movableink_consumer_http_responses_total", code="200")
    print(orjson.dumps({"events": count, "delivered": delivered, "requests": requests}).decode())
    done.set()
    return code if delivered == count else 1


if __name__ == "__main__":
    sys.exit(main())
