"""(h) What committing more often costs: the same paced stream under two commit intervals.

For each `[delivery] commit_interval`, a fresh topic and group, one consumer, events produced at a
fixed rate; over the production window it reads the consumer's and the broker's CPU seconds and
the records written to `__consumer_offsets` (one per partition and commit: the broker's work).
"""

from __future__ import annotations

import time
from typing import Any

import kit
from measure import Context

from devkit import harness

INTERVALS = ("5s", "200ms")  # the old default, the new one


def offsets_written(bootstrap: str) -> int:
    """Records in `__consumer_offsets` so far (its end offsets, summed)."""
    return sum(harness.end_offsets(bootstrap, "__consumer_offsets").values())


def one(ctx: Context, interval: str, rate: float, seconds: float) -> dict[str, Any]:
    ctx.standin.reset()
    topic = f"bench-commits-{time.time_ns()}"
    harness.create_topic(ctx.bootstrap, topic, ctx.args.partitions)
    proc = ctx.consumer(f"commits-{interval}", topic, ctx.mi(), {"commit_interval": interval})
    total = int(rate * seconds)
    try:
        harness.wait_for(proc.ready, 60, "the consumer to join its group", poll=0.25)
        time.sleep(1.0)  # the assignment settles
        records = list(ctx.next_events(total))
        broker = kit.broker_pid()

        def readings() -> tuple[float, float, int]:
            cpu = kit.cpu_seconds
            return cpu(proc.pid), cpu(broker), offsets_written(ctx.bootstrap)

        before = readings()
        started = time.monotonic()
        kit.produce_paced(ctx.bootstrap, topic, records, rate, f"commits every {interval}")
        ctx.standin.wait_accepted(total, 120)
        elapsed = time.monotonic() - started
        after = readings()
    finally:
        proc.kill()
    consumer_cpu, broker_cpu, offset_records = (b - a for a, b in zip(before, after, strict=True))
    return {
        "commit_interval": interval,
        "events": total,
        "seconds": elapsed,
        "consumer_cpu_s": consumer_cpu,
        "broker_cpu_s": broker_cpu,
        "consumer_cpu_us_per_event": consumer_cpu / total * 1e6,
        "broker_cpu_us_per_event": broker_cpu / total * 1e6,
        "offset_records_per_s": offset_records / elapsed,
    }


def commit_cost(ctx: Context, rate: float, seconds: float) -> dict[str, Any]:
    """Both intervals, one after the other, at `rate` events per second for `seconds`."""
    return {"rate": rate, "runs": [one(ctx, i, rate, seconds) for i in INTERVALS]}
