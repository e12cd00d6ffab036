"""Restart the local broker of `devkit/broker.py` in place: same data, same ports.

`broker.start` formats a fresh log directory on new ports; the chaos suite needs the broker to
come back as it was (the topics, the offsets the group committed, on the address the clients
know). This reuses the broker module's pieces: its `server.properties` in the state folder (the
ports and the data folder are written there), `_java_cmd`, `processes.spawn` and `_wait_ready`.

    restart(state_dir, down_s=5.0)       # stop (SIGTERM, then SIGKILL), wait, start again
    stop(state_dir); start_existing(state_dir)
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from devkit import broker, processes


def stop(state_dir: Path, hard: bool = False) -> str:
    """Stop the broker but keep its data; returns its bootstrap address. `hard`: SIGKILL."""
    bootstrap = (state_dir / "bootstrap").read_text().strip()
    if hard:
        pid = int((state_dir / "pid").read_text())
        if processes.alive(pid):
            os.kill(pid, signal.SIGKILL)
            while processes.alive(pid):
                time.sleep(0.05)
    broker.stop(state_dir)  # SIGTERM (a controlled shutdown), then SIGKILL; removes the pid file
    (state_dir / "bootstrap").write_text(bootstrap)  # stop() removed it; the address stays
    return bootstrap


def start_existing(state_dir: Path) -> broker.Broker:
    """Start the broker on its existing data folder and ports; return once it answers."""
    props = state_dir / "server.properties"
    if not props.exists():
        raise broker.BrokerError(f"No broker was ever started in {state_dir}.")
    bootstrap = (state_dir / "bootstrap").read_text().strip()
    log = state_dir / f"broker-restart-{time.strftime('%H%M%S')}.log"
    command = broker._java_cmd(broker.fetch(), "kafka.Kafka", str(props))
    proc = processes.spawn(command, log, state_dir)
    try:
        broker._wait_ready(bootstrap, proc, log)
    except BaseException:
        broker.stop(state_dir)
        raise
    return broker.Broker(bootstrap=bootstrap, pid=proc.pid, state_dir=state_dir)


def restart(state_dir: Path, down_s: float = 5.0, hard: bool = False) -> broker.Broker:
    """Stop the broker, leave it down for `down_s` seconds, start it again as it was."""
    stop(state_dir, hard)
    time.sleep(down_s)
    return start_existing(state_dir)
