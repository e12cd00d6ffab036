"""The delivery loop's work per job at a git revision against the working tree, in single-event
and batch mode: `Outcomes.accept` -> `DestinationWorker` (ordering, batching) -> `Sender` ->
an answer -> `Outcomes.jobs_finished` -> the offset finished.

Run: .venv/bin/python bench/ab_delivery.py [REV (default HEAD)]   (needs valgrind, ~3 minutes)
     (`--once MODE JOBS` runs one pass of JOBS jobs in MODE, single or batch, and prints the
     process's CPU per job)

No broker, no HTTP: 1,000 bench events (Confluent Avro, the default preset) are decided once and
their records handed to the loop in batches of 50, over and over, as the Kafka thread hands
them; an in-process transport answers 200 after one loop turn. So what is counted is the loop's
own work: jobs, per-person ordering, batches, the sender's gates, metrics, outcomes and offsets
(and, the same on both sides, each job's record and offset handle made beforehand, as the Kafka
thread makes them). Instructions per job are those of a pass of 3,000 jobs minus one of 1,000,
over 2,000 (valgrind, hash seed fixed): they do not move with the machine's load, as
`bench.py`'s CPU per event does by a third from one run to the next. Revisions since `8e92010`
(the hand-over of envelopes).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ab_decision import _archive, instructions
from bench_decision import default_destination
from prometheus_client import CollectorRegistry
from workload import events

from consumer.cli import run_loop
from consumer.core.decision import decide_record
from consumer.core.decode import Decoder, avro_codec
from consumer.core.envelope import envelope
from consumer.core.movableink import Request
from consumer.core.offsets import OffsetTracker
from consumer.core.records import Record
from consumer.settings import BatchSettings, DeliverySettings
from consumer.shell.delivery.sender import Sender
from consumer.shell.http.transport import Answer
from consumer.shell.metrics import Metrics
from consumer.shell.outcome import Outcomes

ROOT = Path(__file__).resolve().parent.parent
EVENTS = 1_000
HANDOVER = 50
PARTITIONS = 12
FEW, MANY = 1_000, 3_000


class Instant:
    """A transport that answers 200 after one turn of the loop."""

    async def post(self, request: Request, content: bytes) -> Answer:
        await asyncio.sleep(0)
        return Answer(200)

    async def aclose(self) -> None:
        pass


class NoDeadLetters:
    def send(self, *args: object) -> None:
        raise AssertionError(f"nothing is dead-lettered here: {args}")


def once(mode: str, jobs: int) -> float:
    """One pass of `jobs` jobs; the process's CPU seconds per job while the loop had them."""
    batch = BatchSettings(enabled=mode == "batch", linger=0.001)
    destination = dataclasses.replace(default_destination(), batch=batch)
    values = [avro_codec.frame(1, avro_codec.encode(m)) for m in events(EVENTS, people=2 * EVENTS)]
    decoder = Decoder()
    decisions = [decide_record(v, decoder, (destination,)) for v in values]

    async def run() -> float:
        metrics = Metrics(CollectorRegistry())
        tracker = OffsetTracker()
        sender = Sender(destination, Instant(), DeliverySettings(max_in_flight=256), metrics)
        outcomes = Outcomes(tracker, NoDeadLetters(), metrics, [sender])  # type: ignore[arg-type]
        now = time.time()
        decided = []
        for n in range(jobs):
            partition, offset = n % PARTITIONS, n // PARTITIONS
            handle = tracker.add("t", partition, offset, now)
            value = values[n % EVENTS]
            record = Record("t", partition, offset, None, value, (), int(now * 1000))
            decided.append(envelope(record, decisions[n % EVENTS], handle, now, now))
        started = time.process_time()
        for n in range(0, jobs, HANDOVER):
            outcomes.accept(decided[n : n + HANDOVER])
            await asyncio.sleep(0)
        while tracker.pending():
            await asyncio.sleep(0.001)
        spent = time.process_time() - started
        assert dict(outcomes.tally) == {("delivered", ""): jobs}, outcomes.tally
        return spent / jobs

    return run_loop(run())


def _instructions(path: Path, mode: str, jobs: int) -> int:
    return instructions(path, str(Path(__file__).resolve()), "--once", mode, str(jobs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rev", nargs="?", default="HEAD")
    parser.add_argument("--once", nargs=2, metavar=("MODE", "JOBS"))
    args = parser.parse_args()
    if args.once:
        mode, jobs = args.once
        print(f"{mode}: {once(mode, int(jobs)) * 1e6:.1f} us of CPU per job")
        return
    with tempfile.TemporaryDirectory() as before_dir:
        _archive(args.rev, Path(before_dir))
        print(f"instructions per job (a pass of {MANY:,} jobs minus one of {FEW:,})")
        for name, path in {args.rev: Path(before_dir), "working tree": ROOT}.items():
            subprocess.run(
                [sys.executable, "-m", "compileall", "-q", str(path / "consumer")], check=True
            )
            per = {
                mode: (_instructions(path, mode, MANY) - _instructions(path, mode, FEW))
                / (MANY - FEW)
                for mode in ("single", "batch")
            }
            shown = "  ".join(f"{mode} {count:9,.0f}" for mode, count in per.items())
            print(f"  {name:12}  {shown}")


if __name__ == "__main__":
    main()
