"""The Kafka thread's work per record beyond the decision, at a git revision against the
working tree: librdkafka messages -> `Consumer.consume` -> `KafkaSource._step` (`_read`,
`_take`, `Pipeline.decide`, `OffsetTracker.add`, the hand-over) -> the offsets finished.

Run: .venv/bin/python bench/ab_intake.py [REV (default HEAD)] [--rounds N (default 10)]
     .venv/bin/python bench/ab_intake.py [REV] --instructions   (needs valgrind, ~3 minutes)
     (`--once STAGE` runs one pass of STAGE; `--time` prints each stage's best pass, us/record)

No broker: real `confluent_kafka.Message`s of the bench workload's events (Confluent Avro,
four partitions in runs of 100) come from a stand-in for librdkafka's client; the loop's side
finishes each record's offset as it is handed over. Stages, each a pass over the same records:
`intake` the whole path, `decide` `decide_record` alone, `decode` `Decoder.decode` alone,
`read` the compiled Avro reader alone. Printed per side: intake - decide (the Kafka thread's
work that is not deciding) and decode - read (the decoder's work around the compiled reader).
The timed rounds alternate sides like `ab_decision.py`; `--instructions` counts with valgrind
(a pass minus an empty one, hash seed fixed), which does not move with the machine's load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import timeit
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parent))

import confluent_kafka
import orjson
from ab_decision import _archive, instructions
from bench_decision import default_destination
from prometheus_client import CollectorRegistry
from workload import events

from consumer.core.decision import decide_record
from consumer.core.decode import Decoder, avro_codec
from consumer.core.offsets import OffsetTracker
from consumer.settings import DeliverySettings
from consumer.shell.kafka.client import Consumer
from consumer.shell.kafka.readers import GroupReader
from consumer.shell.kafka.source import KafkaSource
from consumer.shell.metrics import Metrics
from consumer.shell.pipeline import Pipeline
from consumer.shell.status import Health

ROOT = Path(__file__).resolve().parent.parent
COUNT = 4_000
PARTITIONS = 4
RUN = 100  # records of one partition in a row, as librdkafka hands out a fetch
TOPIC = "segment-events"
INTAKE, DECIDE, DECODE, READ, NONE = "intake", "decide", "decode", "read", "none"


class _Client:
    """librdkafka's consumer as `Consumer` uses it: hands out the messages in order."""

    def __init__(self, messages: list[confluent_kafka.Message]) -> None:
        self.messages = messages
        self.at = 0

    def consume(self, num_messages: int, timeout: float) -> list[confluent_kafka.Message]:
        taken = self.messages[self.at : self.at + num_messages]
        self.at += len(taken)
        return taken

    def commit(self, offsets: Any, asynchronous: bool) -> None:
        return None


class _Loop:
    """The delivery loop's side: runs what is handed over at once."""

    def call_soon_threadsafe(self, callback: Callable[..., Any], *args: Any) -> None:
        callback(*args)


def _finish_all(tracker: OffsetTracker) -> Callable[[list[Any]], None]:
    """The outcomes' side: finishes every record handed over (a (work, decision) pair, or a
    work alone in revisions before 2026-11-30's hand-over change)."""

    def accept(batch: list[Any]) -> None:
        for item in batch:
            work = item[0] if isinstance(item, tuple) else item
            tracker.finish(work.handle, work.record.offset)

    return accept


def _messages(values: list[bytes]) -> list[confluent_kafka.Message]:
    found = []
    for i, value in enumerate(values):
        run, at = divmod(i, RUN)
        partition = run % PARTITIONS
        offset = (run // PARTITIONS) * RUN + at
        found.append(
            confluent_kafka.Message(
                topic=TOPIC,
                partition=partition,
                offset=offset,
                key=f"anon-{i % 1000:06d}".encode(),
                value=value,
                headers=None,
                timestamp=(confluent_kafka.TIMESTAMP_CREATE_TIME, 1_795_000_000_000 + i),
            )
        )
    return found


def stages() -> dict[str, Callable[[], object]]:
    """One pass of each stage over the same `COUNT` records."""
    values = [avro_codec.frame(1, avro_codec.encode(m)) for m in events(COUNT, people=1_000)]
    messages = _messages(values)
    decoder = Decoder()
    destination = default_destination()
    decide_record(values[0], decoder, (destination,))  # the reader is built before any pass
    read = decoder._local
    where: list[tuple[int, int]] = []
    for m in messages:
        partition, offset = m.partition(), m.offset()
        assert partition is not None and offset is not None  # _messages sets both
        where.append((partition, offset))

    def intake() -> None:
        client = _Client(messages)
        consumer = Consumer.__new__(Consumer)
        consumer._consumer = cast(confluent_kafka.Consumer, client)  # a stand-in for librdkafka
        consumer._static = False
        consumer.brokers_reachable = True
        tracker = OffsetTracker()
        settings: Any = SimpleNamespace(destinations=(destination,))
        outcomes: Any = SimpleNamespace(accept=_finish_all(tracker), ahead=lambda: 0)
        loop: Any = _Loop()
        sink = Pipeline(settings, tracker, None, None, outcomes, decoder, loop)  # type: ignore[arg-type]
        producer: Any = SimpleNamespace(poll=lambda _: None)
        source = KafkaSource(
            GroupReader((TOPIC,)),
            DeliverySettings(commit_interval=1e9),
            consumer,
            producer,
            tracker,
            Metrics(CollectorRegistry()),
            sink=sink,
            stop=threading.Event(),
            health=Health(),
        )
        while client.at < len(messages):
            source._step()

    def each(work: Callable[[bytes, int, int], object]) -> Callable[[], None]:
        """A pass of `work` over every record, keeping no result (as `intake` keeps none)."""

        def run() -> None:
            for value, (partition, offset) in zip(values, where, strict=True):
                work(value, partition, offset)

        return run

    return {
        INTAKE: intake,
        DECIDE: each(
            lambda v, p, o: decide_record(
                v, decoder, (destination,), topic=TOPIC, partition=p, offset=o
            )
        ),
        DECODE: each(lambda v, p, o: decoder.decode(v)),
        READ: each(lambda v, p, o: read(v, 5, orjson.loads)),
        NONE: lambda: None,
    }


def _gaps(per_stage: dict[str, float]) -> dict[str, float]:
    return {
        "intake - decide": per_stage[INTAKE] - per_stage[DECIDE],
        "decode - read": per_stage[DECODE] - per_stage[READ],
    }


def _run(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *args],
        env={**os.environ, "PYTHONPATH": str(path), "PYTHONHASHSEED": "0"},
        capture_output=True,
        text=True,
        check=True,
    )


def _instructions(path: Path, stage: str) -> int:
    return instructions(path, str(Path(__file__).resolve()), "--once", stage)


def _count(paths: dict[str, Path]) -> None:
    print(f"instructions per record ({COUNT} records a pass)")
    for name, path in paths.items():
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", str(path / "consumer")], check=True
        )
        empty = _instructions(path, NONE)
        per = {s: (_instructions(path, s) - empty) / COUNT for s in (INTAKE, DECIDE, DECODE, READ)}
        shown = "  ".join(f"{k} {v:8,.0f}" for k, v in (per | _gaps(per)).items())
        print(f"  {name:12}  {shown}")


def _timed(paths: dict[str, Path], rounds: int) -> None:
    """Each round times every stage on one side, then the other (who goes first alternates)."""
    names = list(paths)
    found: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    for number in range(rounds):
        for name in names if number % 2 == 0 else names[::-1]:
            found[name].append(orjson.loads(_run(paths[name], "--time").stdout))
    print(f"{rounds} rounds, us/record: median over rounds of each side's best passes, and of")
    print("each round's gaps (a gap is of two passes of one process, a few seconds apart)")
    for name, rows in found.items():
        per = {k: statistics.median(row[k] for row in rows) for k in rows[0]}
        gaps = {k: statistics.median(_gaps(row)[k] for row in rows) for k in _gaps(rows[0])}
        shown = "  ".join(f"{k} {v:6.2f}" for k, v in (per | gaps).items())
        print(f"  {name:12}  {shown}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rev", nargs="?", default="HEAD")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--instructions", action="store_true")
    parser.add_argument("--once")
    parser.add_argument("--time", action="store_true")
    args = parser.parse_args()
    if args.once:
        stages()[args.once]()
        return
    if args.time:
        rows = stages()
        best = {
            stage: min(timeit.repeat(rows[stage], number=1, repeat=3)) / COUNT * 1e6
            for stage in (INTAKE, DECIDE, DECODE, READ)
        }
        print(orjson.dumps(best).decode())
        return
    with tempfile.TemporaryDirectory() as before_dir:
        _archive(args.rev, Path(before_dir))
        paths = {args.rev: Path(before_dir), "working tree": ROOT}
        if args.instructions:
            _count(paths)
        else:
            _timed(paths, args.rounds)


if __name__ == "__main__":
    main()
