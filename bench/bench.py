"""`make bench`: throughput, latency and memory of the consumer, all measured in one run.

Starts a local Kafka broker (in `.run/bench/`) and the Movable Ink stand-in in its own process,
produces the workload (default 200,000 ~1 KB events of 20,000 people on 12 partitions), then
measures, in order:

  (a) the ceiling: consume + decode, nothing delivered
  (b) the decision core alone: decode, route, validate, map
  (c) end to end with a 0 ms stand-in, and the raw HTTP ceiling of the same HTTP client
  (g) batch mode, 0 ms (compared with (c))
  (i) scale-out: 2 consumer processes in one group (compared with (c))
  (d) end to end with 50 ms latency (single-event and batch mode) and a partition-serial
      baseline (bench/serial_baseline.py)
  (e) end-to-end latency p50/p95/p99 at 15 % of (c)'s rate, with the stage histogram
  (g) two destinations, one down: the healthy one's rate
  (f) peak RSS during a catch-up of 1,000,000 waiting events (batch mode)
  (h) the consumer's and the broker's CPU, and offset records written, when committing every
      5 s and every 200 ms (bench/commit_cost.py)

First, the instructions pass (`instructions.py`: CPU instructions per event counted with
valgrind, per mode, and the gates they must hold). The throughput and latency phases deliver
to nginx (`nginx_server.py`), the phases that need latency or faults to the stand-in.

Every end-to-end figure comes with the consumer's CPU per delivered event (with `--profile`, by
stage) and the cores each process and the whole machine used meanwhile.

It prints a table and a final line starting `bench:`, and writes
`bench/results/bench-*.json` and `.png` (plus `bench-latest.*`). See bench/README.md for what
each figure means.

    .venv/bin/python bench/bench.py [--quick] [--events N] [--people N] [--partitions N] ...
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import commit_cost
import instructions
import kit
import measure
import report
from nginx_server import NginxServer

from devkit import broker


def _property(text: str) -> tuple[str, Any]:
    name, _, value = text.partition("=")
    return name, int(value) if value.lstrip("-").isdigit() else value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = kit.workload_parser(
        __doc__, "a small run (about 3 minutes)", "workload size (default 200,000)"
    )
    parser.add_argument("--catchup-events", type=int, help="(f) backlog (default 1,000,000)")
    parser.add_argument(
        "--phase-seconds", type=float, help="cap on each end-to-end measurement (default 45)"
    )
    parser.add_argument("--latency-ms", type=float, default=50.0, help="(d) stand-in latency")
    parser.add_argument(
        "--only", help="comma-separated phases: instructions,ceiling,decision,e2e,http,batch,"
        "scaleout,latency50,serial,latency,catchup,onedown,commits (default: all)",
    )  # fmt: skip
    parser.add_argument(
        "--profile",
        action="store_true",
        help="py-spy the consumer in each end-to-end phase: its CPU per event by stage",
    )
    parser.add_argument(
        "--latency-rate",
        type=float,
        default=0.0,
        help="events/s for (e) latency (default: 15 %% of (c)'s rate; (e) alone needs it)",
    )
    parser.add_argument("--keep-broker", action="store_true", help="leave the broker running")
    parser.add_argument(
        "--kafka-property",
        action="append",
        default=[],
        type=_property,
        metavar="NAME=VALUE",
        help="a librdkafka property for every consumer ([kafka.properties]), repeatable",
    )
    parser.add_argument(
        "--delivery-setting",
        action="append",
        default=[],
        type=_property,
        metavar="NAME=VALUE",
        help="a [delivery] setting for every consumer, e.g. max_buffered=5000, repeatable",
    )
    args = parser.parse_args(argv)
    quick = args.quick
    args.events = args.events or (20_000 if quick else 200_000)
    args.people = args.people or (2_000 if quick else 20_000)
    args.catchup_events = args.catchup_events or (100_000 if quick else 1_000_000)
    args.phase_seconds = args.phase_seconds or (15.0 if quick else 45.0)
    args.decision_events = min(args.events, 100_000)
    args.http_seconds = 5.0 if quick else 15.0
    args.serial_seconds = 10.0 if quick else 30.0
    args.latency_seconds = 10.0 if quick else 30.0
    args.catchup_cap = 600.0 if quick else 900.0
    args.commit_rate, args.commit_seconds = 1000.0, (10.0 if quick else 30.0)
    return args


def _phases(
    args: argparse.Namespace,
    wanted: set[str] | None,
    run_dir: Path,
    results: dict[str, Any],
    failures: list[str],
) -> None:
    """Every phase but the instructions pass, on the local broker, nginx and the stand-in."""
    kit.say(f"bench: {args.events:,} events, {args.people:,} people, {args.partitions} partitions")
    kit.say("bench: starting the local broker, nginx and the stand-in ...")
    kafka = broker.start(kit.STATE / "kafka")
    server = NginxServer(run_dir / "nginx")
    standin = kit.StandInProcess(log=run_dir / "standin.log")
    ctx = measure.Context(args, kafka.bootstrap, standin, server, run_dir)

    def phase(key: str, name: str, work: Any, *extra: Any) -> None:
        if wanted is not None and name not in wanted:
            return
        kit.say(f"bench: {key} ...")
        try:
            results[key] = work(ctx, *extra)
        except Exception as exc:  # one failed figure should not cost the others
            failures.append(f"{key}: {exc}")
            traceback.print_exc()

    try:
        measure.setup_workload(ctx)
        phase("ceiling", "ceiling", measure.ceiling)
        phase("decision", "decision", measure.decision_core)
        phase("e2e_0ms", "e2e", measure.end_to_end, "e2e_0ms")
        phase("http_ceiling", "http", measure.http_ceiling, args.http_seconds)
        phase(
            "batch_0ms", "batch",
            lambda c: measure.end_to_end(
                c, "batch_0ms", options={"batch": measure.BATCH}, cap_s=4 * args.phase_seconds
            ),
        )  # fmt: skip
        phase("scaleout", "scaleout", measure.scale_out)
        phase("e2e_50ms", "latency50", measure.end_to_end, "e2e_50ms")
        phase(
            "batch_50ms", "latency50",
            lambda c: measure.end_to_end(
                c, "batch_50ms", options={"batch": measure.BATCH}, cap_s=args.phase_seconds
            ),
        )  # fmt: skip
        phase("serial_50ms", "serial", measure.serial_baseline, args.serial_seconds)
        if args.latency_rate or "e2e_0ms" in results:
            rate = args.latency_rate or results["e2e_0ms"]["rate"] * measure.LATENCY_SHARE
            phase("latency", "latency", measure.latency, rate, args.latency_seconds)
        one_down_buffer = max(10_000, args.events)  # the bound never pauses this phase
        phase("one_down", "onedown", measure.one_down, args.phase_seconds, one_down_buffer)
        phase("catchup", "catchup", measure.catch_up)
        phase("commits", "commits", commit_cost.commit_cost, args.commit_rate, args.commit_seconds)
    finally:
        results["profiles"] = ctx.profiles
        standin.stop()
        server.stop()
        if not args.keep_broker:
            broker.stop(kit.STATE / "kafka")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wanted = set(args.only.split(",")) if args.only else None
    started = time.monotonic()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = kit.STATE / stamp
    run_dir.mkdir(parents=True, exist_ok=True)
    kit.RESULTS.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "started": stamp,
        "settings": {
            **{k: v for k, v in vars(args).items() if isinstance(v, int | float | str | bool)},
            "kafka_property": dict(args.kafka_property),
            "delivery_setting": dict(args.delivery_setting),
            "MALLOC_ARENA_MAX": os.environ.get("MALLOC_ARENA_MAX"),
        },
    }
    failures: list[str] = []
    if wanted is None or "instructions" in wanted:  # first, with nothing else of ours running
        kit.say("bench: instructions (valgrind, a few minutes) ...")
        try:
            results["instructions"] = instructions.measure(run_dir / "instructions")
        except Exception as exc:
            failures.append(f"instructions: {exc}")
            traceback.print_exc()
    if wanted is None or wanted - {"instructions"}:
        _phases(args, wanted, run_dir, results, failures)
    results["seconds"] = time.monotonic() - started
    results["failures"] = failures
    results.setdefault("profiles", [])
    json_path = kit.RESULTS / f"bench-{stamp}.json"
    png_path = kit.RESULTS / f"bench-{stamp}.png"
    report.write_json(results, json_path)
    drawn = report.chart(results, png_path)
    if wanted is None and not args.quick:  # the last full run
        report.write_json(results, kit.RESULTS / "bench-latest.json")
        report.chart(results, kit.RESULTS / "bench-latest.png")
    print()
    print(report.table(results))
    print()
    print(
        f"results: {json_path}"
        + (f", {png_path}" if drawn else " (no chart: pip install matplotlib)")
    )
    for failure in failures:
        print(f"failed: {failure}")
    print(f"took {results['seconds'] / 60:.1f} min")
    print(report.final_line(results))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
