"""How long delivery stops when a member is SIGKILLed and started again at once, per group
protocol (classic, KIP-848 `consumer`) and membership (static instance id kept, or dynamic).

A paced stream runs throughout; each variant uses a fresh topic and group, kills its one member
after a few seconds of delivery, starts it again, and reports the seconds from the restart to the
next event the stand-in accepts, and to the new process answering on /metrics (its start-up).
Session timeouts are the defaults (librdkafka's 45 s for classic; the broker's
`group.consumer.session.timeout.ms`, 45 s, for `consumer`).

    .venv/bin/python bench/takeover.py [--bootstrap HOST:PORT] [--variants classic-static,...]
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
import threading
import time
from pathlib import Path
from typing import Any

import kit
from workload import event

from devkit import broker, harness, processes
from devkit.harness import ConsumerProcess, Destination

VARIANTS = ("classic-static", "consumer-static", "classic-dynamic", "consumer-dynamic")
RATE = 200.0
CAP_S = 120.0


def stream(bootstrap: str, topic: str, stop: threading.Event) -> None:
    """Produce workload events at `RATE` per second until `stop` is set."""
    rnd = random.Random(1)
    messages = (event(i, 1000, rnd) for i in itertools.count())
    records = map(harness.keyed, itertools.takewhile(lambda _: not stop.is_set(), messages))
    harness.produce_records(
        bootstrap, topic, records, rate=RATE, settings=kit.BULK | {"linger.ms": 5}
    )


def first_arrival_after(standin: kit.StandInProcess, moment: float, cap_s: float) -> float | None:
    """Epoch seconds of the first event accepted after `moment`, waiting up to `cap_s`."""
    since, deadline = 0, time.monotonic() + cap_s
    while time.monotonic() < deadline:
        page, since = standin.received(since)
        later = [item["time"] for item in page if item["time"] > moment]
        if later:
            return float(min(later))
        if not page:
            time.sleep(0.1)
    return None


def measure(bootstrap: str, variant: str, run_dir: Path) -> dict[str, Any]:
    protocol, membership = variant.split("-")
    topic = f"takeover-{variant}-{time.time_ns()}"
    harness.create_topic(bootstrap, topic, 6)
    standin = kit.StandInProcess(log=run_dir / f"standin-{variant}.log")
    port = processes.free_port()
    config = harness.write_config(
        run_dir / f"{variant}.toml",
        bootstrap=bootstrap,
        topic=topic,
        group=topic,
        destinations=[Destination("mi", standin.url)],
        metrics_port=port,
        properties={"group.protocol": protocol},
    )
    env = {"MIK__KAFKA__GROUP_INSTANCE_ID": f"{variant}-0"} if membership == "static" else {}
    stop = threading.Event()
    producer = threading.Thread(target=stream, args=(bootstrap, topic, stop), daemon=True)
    producer.start()
    members = [ConsumerProcess(config, run_dir / f"{variant}-1.log", metrics_port=port, env=env)]
    try:
        standin.wait_accepted(int(RATE * 3) + 1, 90)
        members[0].kill()
        restarted = time.time()
        log = run_dir / f"{variant}-2.log"
        members.append(ConsumerProcess(config, log, metrics_port=port, env=env))
        harness.wait_for(lambda: bool(members[1].metrics().samples), 60, f"{variant}: the restart")
        up = time.time() - restarted
        resumed = first_arrival_after(standin, restarted, CAP_S)
    finally:
        stop.set()
        producer.join(60)
        for member in members:
            member.kill()
        standin.stop()
    seconds = None if resumed is None else round(resumed - restarted, 1)
    kit.say(
        f"takeover: {variant}: delivery resumed {seconds} s after the restart "
        f"(the process was up after {up:.1f} s)"
    )
    return {"variant": variant, "recovery_s": seconds, "process_up_s": round(up, 1), "cap_s": CAP_S}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--bootstrap", help="a running broker (default: start the local one)")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args(argv)
    run_dir = kit.STATE.parent / "takeover" / time.strftime("%Y%m%d-%H%M%S")
    run_dir.mkdir(parents=True, exist_ok=True)
    bootstrap = args.bootstrap or broker.start(kit.STATE / "kafka").bootstrap
    try:
        results = [measure(bootstrap, v, run_dir) for v in args.variants.split(",")]
    finally:
        if not args.bootstrap:
            broker.stop(kit.STATE / "kafka")
    kit.RESULTS.mkdir(parents=True, exist_ok=True)
    (kit.RESULTS / f"takeover-{run_dir.name}.json").write_text(json.dumps(results, indent=2) + "\n")
    print(
        "takeover: "
        + " ".join(
            f"{r['variant']}="
            + (f"{r['recovery_s']}s" if r["recovery_s"] is not None else f"over{CAP_S:.0f}s")
            for r in results
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
