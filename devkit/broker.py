"""A single-node Apache Kafka 4.x broker (KRaft, combined broker and controller) on 127.0.0.1.

The jars come from Maven Central through `devkit/maven/kafka/pom.xml` and are cached in
`.cache/kafka/<version>/` (git-ignored), so only the first run on a machine downloads anything.
The broker runs with `java -cp`, on free ports, and is ready when an AdminClient sees it: no
sleeps. Used by `make kafka-up` / `make kafka-down`, the test suite, the demo and the benchmarks.

    python -m devkit.broker fetch
    python -m devkit.broker up [--state-dir .run/kafka]     # prints the bootstrap address
    python -m devkit.broker up --brokers 3    # a three-node cluster (devkit/cluster.py)
    python -m devkit.broker down [--state-dir .run/kafka]
"""

from __future__ import annotations

import argparse
import base64
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from devkit import processes

ROOT = Path(__file__).resolve().parents[1]
POM = Path(__file__).resolve().parent / "maven" / "kafka" / "pom.xml"
LOG4J2 = Path(__file__).resolve().parent / "maven" / "kafka" / "log4j2.properties"
DEFAULT_STATE_DIR = ROOT / ".run" / "kafka"
START_TIMEOUT_S = 90.0
JVM_OPTS = ("-Xms256m", "-Xmx1g", "-XX:+UseG1GC", "-Djava.awt.headless=true")


class BrokerError(RuntimeError):
    """The local broker could not be fetched, started or stopped; the message says why."""


def kafka_version() -> str:
    """The version pinned in the POM, so the cache folder follows the POM."""
    version = processes.pom_property(POM, "kafka.version")
    if version is None:
        raise BrokerError(f"{POM} does not set <kafka.version>.")
    return version


def cache_dir() -> Path:
    return processes.cache_root(ROOT) / "kafka" / kafka_version()


def _require(tool: str, why: str) -> str:
    return processes.require(
        tool,
        subject="The local Kafka broker",
        why=why,
        instead="set KAFKA_BOOTSTRAP_SERVERS to a running broker",
        error=BrokerError,
    )


def fetch() -> Path:
    """Resolve the broker's jars with Maven unless they are cached; return the jar folder."""
    libs = cache_dir() / "libs"
    marker = cache_dir() / ".complete"
    if marker.exists():
        return libs
    mvn = _require("mvn", "to fetch the Kafka jars from Maven Central")
    tmp = cache_dir() / "libs.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        mvn, "-q", "-B", "-f", str(POM), "dependency:copy-dependencies",
        f"-DoutputDirectory={tmp}", "-DincludeScope=runtime",
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip().splitlines()[-5:]
        raise BrokerError("Maven could not fetch the Kafka jars: " + " | ".join(tail))
    shutil.rmtree(libs, ignore_errors=True)
    tmp.rename(libs)
    marker.touch()
    return libs


def _cluster_id(draw: Callable[[], bytes] = lambda: uuid.uuid4().bytes) -> str:
    """A Kafka `Uuid` in its text form (URL-safe base64 of 16 bytes, no padding).

    One text in 64 begins with '-', which `StorageTool format -t` reads as an option, so the
    broker would not start; like Kafka's own `Uuid.randomUuid`, draw again.
    """
    while True:
        text = base64.urlsafe_b64encode(draw()).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def _server_properties(data: Path, port: int, controller_port: int) -> str:
    return "\n".join(
        [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{controller_port}",
            f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            f"log.dirs={data}",
            "num.partitions=1",
            "auto.create.topics.enable=false",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=6",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "",
        ]
    )


@dataclass(frozen=True)
class Broker:
    """A running local broker: where to reach it and how to stop it."""

    bootstrap: str
    pid: int
    state_dir: Path

    def stop(self) -> None:
        stop(self.state_dir)


def _java_cmd(libs: Path, main: str, *args: str, jvm: tuple[str, ...] = JVM_OPTS) -> list[str]:
    java = _require("java", "Java 17 or newer runs the Kafka broker")
    return [
        java, *jvm, f"-Dlog4j2.configurationFile={LOG4J2}",
        "-cp", str(libs / "*"), main, *args,
    ]  # fmt: skip


def _wait_ready(bootstrap: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    from confluent_kafka.admin import AdminClient  # the venv has it; fetch/down do not need it

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BrokerError(
                f"The Kafka broker exited with status {proc.returncode} while starting; "
                f"see {log}: {processes.tail(log)}"
            )
        try:
            if admin.list_topics(timeout=1).brokers:
                return
        except Exception:  # not up yet; the deadline bounds the loop
            pass
    proc.kill()
    raise BrokerError(f"The Kafka broker was not ready within {START_TIMEOUT_S:.0f} s; see {log}.")


def start(state_dir: Path = DEFAULT_STATE_DIR, brokers: int = 1) -> Broker:
    """Format a fresh log directory and start the broker; return once it answers. With
    `brokers` above 1, a cluster of that many nodes (`devkit.cluster`); `pid` is the first's."""
    if brokers > 1:
        from devkit.cluster import Cluster

        cluster = Cluster.start(state_dir, brokers)
        return Broker(cluster.bootstrap, cluster.pid(1) or 0, state_dir)
    stop(state_dir)
    libs = fetch()
    shutil.rmtree(state_dir, ignore_errors=True)
    (state_dir / "data").mkdir(parents=True)
    port, controller_port = processes.free_port(), processes.free_port()
    props = state_dir / "server.properties"
    props.write_text(_server_properties(state_dir / "data", port, controller_port))
    log = state_dir / "broker.log"
    fmt = _java_cmd(
        libs, "kafka.tools.StorageTool", "format", "-t", _cluster_id(), "-c", str(props)
    )
    done = subprocess.run(fmt, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BrokerError(f"Formatting the Kafka log directory failed: {done.stderr.strip()}")
    proc = processes.spawn(_java_cmd(libs, "kafka.Kafka", str(props)), log, state_dir)
    bootstrap = f"127.0.0.1:{port}"
    try:
        _wait_ready(bootstrap, proc, log)
    except BaseException:
        stop(state_dir)
        raise
    (state_dir / "bootstrap").write_text(bootstrap)
    return Broker(bootstrap=bootstrap, pid=proc.pid, state_dir=state_dir)


def stop(state_dir: Path = DEFAULT_STATE_DIR) -> None:
    """Stop the broker (or every node of the cluster) recorded in `state_dir` by its PID:
    SIGTERM, then SIGKILL."""
    from devkit import cluster

    processes.stop(state_dir, "bootstrap")
    cluster.stop(state_dir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--brokers", type=int, default=1)
    known, rest = parser.parse_known_args(argv)
    return processes.cli(
        rest,
        doc=__doc__,
        default_state_dir=DEFAULT_STATE_DIR,
        fetch=fetch,
        start=lambda state_dir: start(state_dir, known.brokers),
        stop=stop,
        address=lambda broker: broker.bootstrap,
        ready=lambda broker, seconds: (
            f"kafka: ready in {seconds:.1f} s (pid {broker.pid}); stop it with `make kafka-down`"
        ),
        error=BrokerError,
    )


if __name__ == "__main__":
    sys.exit(main())
