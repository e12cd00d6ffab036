"""(h) What committing more often costs: the same paced stream under two commit intervals.

For each `[delivery] commit_interval`, a fresh topic and group, one consumer, events produced at a
fixed rate; over the production window it reads the consumer's and the broker's CPU seconds and
the records written to `__consumer_offsets` (one per partition and commit: the broker's work).
"""

from __future__ import annotations

import time
from typing import Any

import harness as h
from measure import Context, ready

INTERVALS = ("5s", "200ms")  # the old default, the new one


def broker_pid() -> int:
    """The bench broker's PID (written by `deploy/local/broker.py` into its state folder)."""
    return int((h.STATE / "kafka" / "pid").read_text().split()[0])


def offsets_written(bootstrap: str) -> int:
    """Records in `__consumer_offsets` so far (its end offsets, summed)."""
    return sum(h.end_offsets(bootstrap, "__consumer_offsets").values())


def one(ctx: Context, interval: str, rate: float, seconds: float) -> dict[str, Any]:
    ctx.standin.reset()
    topic = f"bench-commits-{time.time_ns()}"
    h.create_topic(ctx.bootstrap, topic, ctx.args.partitions)
    proc = ctx.consumer(f"commits-{interval}", topic, ctx.mi(), {"commit_interval": interval})
    total = int(rate * seconds)
    try:
        h.wait_until(lambda: ready(proc.metrics_port), 60, "the consumer to join its group")
        time.sleep(1.0)  # the assignment settles
        pairs = list(ctx.next_events(total))
        broker = broker_pid()
        before = (h.cpu_seconds(proc.pid), h.cpu_seconds(broker), offsets_written(ctx.bootstrap))
        started = time.monotonic()
        h.produce_paced(ctx.bootstrap, topic, pairs, rate, f"commits every {interval}")
        h.wait_until(lambda: ctx.standin.accepted() >= total, 120, "the paced events to arrive")
        elapsed = time.monotonic() - started
        after = (h.cpu_seconds(proc.pid), h.cpu_seconds(broker), offsets_written(ctx.bootstrap))
    finally:
        proc.kill()
    consumer_cpu, broker_cpu, records = (b - a for a, b in zip(before, after, strict=True))
    return {
        "commit_interval": interval,
        "events": total,
        "seconds": elapsed,
        "consumer_cpu_s": consumer_cpu,
        "broker_cpu_s": broker_cpu,
        "consumer_cpu_us_per_event": consumer_cpu / total * 1e6,
        "broker_cpu_us_per_event": broker_cpu / total * 1e6,
        "offset_records_per_s": records / elapsed,
    }


def commit_cost(ctx: Context, rate: float, seconds: float) -> dict[str, Any]:
    """Both intervals, one after the other, at `rate` events per second for `seconds`."""
    return {"rate": rate, "runs": [one(ctx, i, rate, seconds) for i in INTERVALS]}
