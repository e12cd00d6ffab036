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
import json
import random
import sys
import threading
import time
from pathlib import Path
from typing import Any

import harness as h
from workload import event

from consumer import avro_codec, segment

VARIANTS = ("classic-static", "consumer-static", "classic-dynamic", "consumer-dynamic")
RATE = 200.0
CAP_S = 120.0


def stream(bootstrap: str, topic: str, stop: threading.Event) -> None:
    """Produce workload events at `RATE` per second until `stop` is set."""
    out = h.producer(bootstrap, **{"linger.ms": 5})
    rnd = random.Random(1)
    started, i = time.monotonic(), 0
    while not stop.is_set():
        message = event(i, 1000, rnd)
        value = avro_codec.frame(1, avro_codec.encode(message))
        out.produce(topic, value=value, key=segment.person_key(message).encode())
        out.poll(0)
        i += 1
        time.sleep(max(0.0, started + i / RATE - time.monotonic()))
    out.flush(30)


def first_arrival_after(standin: h.StandInProcess, moment: float, cap_s: float) -> float | None:
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
    h.create_topic(bootstrap, topic, 6)
    standin = h.StandInProcess(log=run_dir / f"standin-{variant}.log")
    port = h.consumer_metrics_port()
    config = h.write_config(
        run_dir / f"{variant}.toml",
        bootstrap=bootstrap,
        topic=topic,
        group=topic,
        destinations=[h.Destination("mi", standin.url)],
        metrics_port=port,
        properties={"group.protocol": protocol},
    )
    env = {"MIK__KAFKA__GROUP_INSTANCE_ID": f"{variant}-0"} if membership == "static" else {}
    stop = threading.Event()
    producer = threading.Thread(target=stream, args=(bootstrap, topic, stop), daemon=True)
    producer.start()
    members = [h.ConsumerProcess(config, run_dir / f"{variant}-1.log", port, env)]
    try:
        h.wait_until(lambda: standin.accepted() > RATE * 3, 90, f"{variant}: delivery")
        members[0].kill()
        restarted = time.time()
        members.append(h.ConsumerProcess(config, run_dir / f"{variant}-2.log", port, env))
        h.wait_until(lambda: bool(members[1].metrics()), 60, f"{variant}: the restart", 0.05)
        up = time.time() - restarted
        resumed = first_arrival_after(standin, restarted, CAP_S)
    finally:
        stop.set()
        producer.join(60)
        for member in members:
            member.kill()
        standin.stop()
    seconds = None if resumed is None else round(resumed - restarted, 1)
    h.say(
        f"takeover: {variant}: delivery resumed {seconds} s after the restart "
        f"(the process was up after {up:.1f} s)"
    )
    return {"variant": variant, "recovery_s": seconds, "process_up_s": round(up, 1), "cap_s": CAP_S}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--bootstrap", help="a running broker (default: start the local one)")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args(argv)
    run_dir = h.STATE.parent / "takeover" / time.strftime("%Y%m%d-%H%M%S")
    run_dir.mkdir(parents=True, exist_ok=True)
    bootstrap = args.bootstrap or h.broker.start(h.STATE / "kafka").bootstrap
    try:
        results = [measure(bootstrap, v, run_dir) for v in args.variants.split(",")]
    finally:
        if not args.bootstrap:
            h.broker.stop(h.STATE / "kafka")
    h.RESULTS.mkdir(parents=True, exist_ok=True)
    (h.RESULTS / f"takeover-{run_dir.name}.json").write_text(json.dumps(results, indent=2) + "\n")
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
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
