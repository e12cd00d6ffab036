"""The Kafka thread's work per record beyond the decision, at a git revision against the
working tree: librdkafka messages -> `Consumer.consume` -> `KafkaSource._step` (`_read`,
`_take`, `Pipeline.decide`, `OffsetTracker.add`, the hand-over) -> the offsets finished.

Run: .venv/bin/python bench/ab_intake.py [REV (default HEAD)] [--rounds N (default 10)]
     .venv/bin/python bench/ab_intake.py [REV] --instructions   (needs valgrind, ~3 minutes)
     .venv/bin/python bench/ab_intake.py --gate [--rounds N] [--instructions]
     (`--once STAGE` runs one pass of STAGE; `--time` prints each stage's best pass, us/record)

`--gate` compares, in the working tree, the intake with the identity-link gate `off` against
`enforce` (`[ordering] gate`), on the gate's workload: 100 people, so that 2.5 % of the records
are identifies, and every tenth other event server-side (its `userId` only, no anonymousId).
The gate is steady: this pod reads two of the four partitions, the other pod's are read far
ahead, so no event waits and what is measured is the checking, the links published (pending
and done: a stand-in producer that keeps their sizes, so librdkafka's produce call is not in
it) and the progress kept. It also prints the links' records and bytes against the input's.

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
import time
import timeit
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent))

import confluent_kafka
import kit
import orjson
from ab_decision import _archive, instructions
from bench_decision import default_destination
from prometheus_client import CollectorRegistry
from workload import events

from consumer.core import segment
from consumer.core.decision import decide_record
from consumer.core.decode import Decoder, avro_codec
from consumer.core.offsets import OffsetTracker
from consumer.settings import DeliverySettings, KafkaSettings, OrderingSettings
from consumer.shell.kafka import identity_links
from consumer.shell.kafka.client import Consumer
from consumer.shell.kafka.identity_links import IdentityLinks
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

    def get_watermark_offsets(self, partition: Any, **_: Any) -> tuple[int, int]:
        return 0, 0

    def position(self, partitions: list[Any]) -> list[Any]:
        return [confluent_kafka.TopicPartition(p.topic, p.partition, -1001) for p in partitions]


class _Loop:
    """The delivery loop's side: runs what is handed over at once."""

    def call_soon_threadsafe(self, callback: Callable[..., Any], *args: Any) -> None:
        callback(*args)


def _finish_all(tracker: OffsetTracker) -> Callable[[list[Any]], None]:
    """The outcomes' side: finishes every record handed over (an envelope; a (work, decision)
    pair in revisions before the envelope, a work alone before 2026-11-30's hand-over change)."""

    def accept(batch: list[Any]) -> None:
        for item in batch:
            work = item[0] if isinstance(item, tuple) else item  # an envelope is no tuple
            tracker.finish(work.handle, work.record.offset)

    return accept


def _messages(values: list[bytes], keys: list[bytes]) -> list[confluent_kafka.Message]:
    found = []
    for i, value in enumerate(values):
        run, at = divmod(i, RUN)
        partition = run % PARTITIONS
        offset = (run // PARTITIONS) * RUN + at
        found.append(
            kit.kafka_message(TOPIC, partition, offset, keys[i], value, 1_795_000_000_000 + i)
        )
    return found


class _Links:
    """The links topic's producer: keeps the size of each record sent (nothing is sent)."""

    def __init__(self) -> None:
        self.sizes: list[int] = []

    def send(self, topic: str, key: Any, value: bytes, headers: Any, *_: Any, **__: Any) -> bool:
        self.sizes.append(len(value))
        return True

    def poll(self, timeout_s: float = 0.0) -> None:
        return None


def gate_events() -> list[dict[str, Any]]:
    """The gate's workload: 2.5 % identifies; every tenth other event carries its userId only."""
    found = events(COUNT, people=100)
    for i, message in enumerate(found):
        if message["type"] != "identify" and i % 10 == 0:
            del message["anonymousId"]
    return found


def _gate(mode: str, meter: _Links) -> IdentityLinks:
    """A pod's gate reading two of the four partitions, the other pod far ahead on the rest."""
    kafka = KafkaSettings(bootstrap_servers="127.0.0.1:1", topics=(TOPIC,), group_id="bench")
    ordering = OrderingSettings(gate=mode)  # type: ignore[arg-type]
    with mock.patch.object(identity_links, "Producer", lambda _: meter):
        links = IdentityLinks(kafka, ordering, Metrics(CollectorRegistry()))
    links._gate.set_partitions((TOPIC, p) for p in range(PARTITIONS))
    links._gate.set_mine([(TOPIC, 0), (TOPIC, 1)], 0.0)
    links._gate.available = True
    for p in range(2, PARTITIONS):
        links._gate.progress((TOPIC, p), float("inf"), None)
    return links


def _decide(decoder: Decoder, destination: Any) -> Callable[[bytes, int, int], object]:
    """`decide_record` with the record's place: a `segment.Place` (`Pipeline.decide` passes
    the record itself), or three keywords in revisions before 2026-12-08."""
    if hasattr(segment, "Place"):
        return lambda v, p, o: decide_record(v, decoder, (destination,), segment.Place(TOPIC, p, o))
    before: Any = decide_record
    return lambda v, p, o: before(v, decoder, (destination,), topic=TOPIC, partition=p, offset=o)


def stages(gate: str | None = None) -> dict[str, Callable[[], object]]:
    """One pass of each stage over the same `COUNT` records (`gate`: with the identity gate
    in that mode, on the gate's workload)."""
    workload = events(COUNT, people=1_000) if gate is None else gate_events()
    values = [avro_codec.frame(1, avro_codec.encode(m)) for m in workload]
    meter = _Links()
    links = None if gate is None or gate == "off" else _gate(gate, meter)
    keys = [str(m.get("anonymousId") or m["userId"]).encode() for m in workload]
    messages = _messages(values, keys)
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
        consumer._sent, consumer._confirmed, consumer._unanswered = {}, {}, 0
        tracker = OffsetTracker()
        if links is not None:
            tracker.on_finish = links.finished
            links._heard = time.time()  # its own progress comes back: the topic is read
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
            links=links,
        )
        source.assigned = {(TOPIC, 0), (TOPIC, 1)}
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
        DECIDE: each(_decide(decoder, destination)),
        DECODE: each(lambda v, p, o: decoder.decode(v)),
        READ: each(lambda v, p, o: read(v, 5, orjson.loads)),
        NONE: lambda: None,
        "links": lambda: print(
            orjson.dumps(
                {
                    "input records": len(values),
                    "input bytes": sum(map(len, values)),
                    "links records": len(meter.sizes),
                    "links bytes": sum(meter.sizes),
                }
            ).decode()
        ),
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


def _instructions(path: Path, stage: str, *more: str) -> int:
    return instructions(path, str(Path(__file__).resolve()), "--once", stage, *more)


GATE_MODES = ("off", "enforce")


def gate_instructions() -> dict[str, float]:
    """Instructions per record of the intake with the gate off and in enforce (valgrind)."""
    _warm()
    empty = _instructions(ROOT, NONE, "--gate-mode", "off")
    return {
        mode: (_instructions(ROOT, INTAKE, "--gate-mode", mode) - empty) / COUNT
        for mode in GATE_MODES
    }


def _warm() -> None:
    for mode in GATE_MODES:
        _run(ROOT, "--gate-mode", mode, "--once", INTAKE)  # bytecode compiled


def _gate_cost(rounds: int, count: bool) -> None:
    """The intake with the gate off against enforce, and the links' traffic."""
    if count:
        print(f"instructions per record, intake ({COUNT} records a pass)")
        for mode, got in gate_instructions().items():
            print(f"  gate {mode:8} {got:8,.0f}")
    else:
        _warm()
        found: dict[str, list[float]] = {mode: [] for mode in GATE_MODES}
        for number in range(rounds):
            for mode in GATE_MODES if number % 2 == 0 else GATE_MODES[::-1]:
                row = orjson.loads(_run(ROOT, "--time", "--gate-mode", mode).stdout)
                found[mode].append(row[INTAKE])
        print(f"{rounds} rounds, intake us/record: median of each side's best passes")
        for mode, rows in found.items():
            print(f"  gate {mode:8} {statistics.median(rows):6.2f}")
    print("links topic, one pass, enforce:")
    print("  " + _run(ROOT, "--gate-mode", "enforce", "--once", INTAKE, "--links").stdout.strip())


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
    parser.add_argument("--gate", action="store_true", help="the identity gate off vs enforce")
    parser.add_argument("--gate-mode", choices=("off", "observe", "enforce"))
    parser.add_argument("--links", action="store_true", help="after --once: the links' traffic")
    args = parser.parse_args()
    if args.gate:
        _gate_cost(args.rounds, args.instructions)
        return
    if args.once:
        rows = stages(args.gate_mode)
        rows[args.once]()
        if args.links:
            rows["links"]()
        return
    if args.time:
        rows = stages(args.gate_mode)
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
