"""A local KRaft cluster of several brokers from the jars of `devkit/broker.py`, and the faults
of a production cluster: stop (clean), kill (SIGKILL) and start again any broker, in place.

Each node is broker and controller at once (three voters), its own JVM with a small heap, on
its own ports, in `state_dir/node-N/`. Topics created without a replication factor get three
replicas and `min.insync.replicas=2`, and so do the internal topics (committed offsets), so a
commit or a dead letter cannot be written while two brokers are down. Each node has two client
listeners: `PLAINTEXT`, advertised as the address of its Toxiproxy proxy when there is one (every
consumer connection then passes through the proxy), and `INTERNAL`, direct, which the brokers
replicate over and the harness uses to look at the cluster while the network is faulty.

    cluster = Cluster.start(state_dir, brokers=3, proxy=Toxiproxy.start(...))
    cluster.stop(2); cluster.start_node(2); cluster.wait_in_sync(["topic"])
    cluster.kill(cluster.controller()); cluster.leaders("topic")
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devkit import broker, processes
from devkit.toxiproxy import Toxiproxy

JVM_OPTS = ("-Xms128m", "-Xmx320m", "-XX:+UseSerialGC", "-Djava.awt.headless=true")
INTERNAL_TOPICS = ("__consumer_offsets",)
WAIT_S = 120.0


@dataclass(frozen=True)
class Node:
    """One broker: its id, folder and ports (`advertised`: where clients reach it)."""

    id: int
    dir: Path
    port: int
    internal_port: int
    controller_port: int
    advertised: int


def _properties(node: Node, nodes: list[Node]) -> str:
    voters = ",".join(f"{n.id}@127.0.0.1:{n.controller_port}" for n in nodes)
    replicas = len(nodes)
    min_isr = min(2, replicas)
    return "\n".join(
        [
            "process.roles=broker,controller",
            f"node.id={node.id}",
            f"controller.quorum.voters={voters}",
            f"listeners=PLAINTEXT://127.0.0.1:{node.port},"
            f"INTERNAL://127.0.0.1:{node.internal_port},"
            f"CONTROLLER://127.0.0.1:{node.controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{node.advertised},"
            f"INTERNAL://127.0.0.1:{node.internal_port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=INTERNAL",
            "listener.security.protocol.map="
            "PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT",
            f"log.dirs={node.dir / 'data'}",
            "num.partitions=1",
            f"default.replication.factor={replicas}",
            f"min.insync.replicas={min_isr}",
            "auto.create.topics.enable=false",
            "unclean.leader.election.enable=false",
            f"offsets.topic.replication.factor={replicas}",
            "offsets.topic.num.partitions=6",
            f"transaction.state.log.replication.factor={replicas}",
            f"transaction.state.log.min.isr={min_isr}",
            f"share.coordinator.state.topic.replication.factor={replicas}",
            f"share.coordinator.state.topic.min.isr={min_isr}",
            "group.initial.rebalance.delay.ms=0",
            "num.io.threads=2",
            "num.network.threads=2",
            "num.replica.fetchers=1",
            "background.threads=2",
            "",
        ]
    )


def _java(libs: Path, main: str, *args: str) -> list[str]:
    return broker._java_cmd(libs, main, *args, jvm=JVM_OPTS)


@dataclass
class Cluster:
    """A running local cluster; every operation waits for its effect, never a fixed time."""

    state_dir: Path
    nodes: list[Node]
    proxy: Toxiproxy | None = None
    _admin: Any = field(default=None, repr=False)
    _why: str = ""  # why the replicas were last found not in sync

    @property
    def bootstrap(self) -> str:
        """The clients' bootstrap: the advertised (proxied, when proxied) addresses."""
        return ",".join(f"127.0.0.1:{n.advertised}" for n in self.nodes)

    @property
    def direct(self) -> str:
        """The harness's bootstrap: the brokers' own listeners, past any proxy."""
        return ",".join(f"127.0.0.1:{n.internal_port}" for n in self.nodes)

    def node(self, node_id: int) -> Node:
        return next(n for n in self.nodes if n.id == node_id)

    @staticmethod
    def proxy_name(node_id: int) -> str:
        return f"broker-{node_id}"

    # -- start and stop ------------------------------------------------------------------

    @classmethod
    def start(cls, state_dir: Path, brokers: int = 3, proxy: Toxiproxy | None = None) -> Cluster:
        """Format `brokers` fresh nodes, start them together, return once all are registered."""
        stop(state_dir)
        libs = broker.fetch()
        state_dir.mkdir(parents=True, exist_ok=True)
        for old in state_dir.glob("node-*"):
            shutil.rmtree(old)
        nodes = []
        for i in range(1, brokers + 1):
            port, internal, controller = (processes.free_port() for _ in range(3))
            advertised = processes.free_port() if proxy else port
            nodes.append(Node(i, state_dir / f"node-{i}", port, internal, controller, advertised))
        cluster_id = broker._cluster_id()
        for node in nodes:
            (node.dir / "data").mkdir(parents=True)
            props = node.dir / "server.properties"
            props.write_text(_properties(node, nodes))
            fmt = _java(
                libs, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", f"{props}"
            )
            done = subprocess.run(fmt, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise broker.BrokerError(f"Formatting node {node.id} failed: {done.stderr.strip()}")
            if proxy is not None:
                proxy.add(cls.proxy_name(node.id), node.advertised, node.port)
        (state_dir / "cluster.json").write_text(
            json.dumps([{**vars(n), "dir": str(n.dir)} for n in nodes])
        )
        cluster = cls(state_dir, nodes, proxy)
        (state_dir / "bootstrap").write_text(cluster.bootstrap)
        try:
            for node in nodes:
                cluster._spawn(node)
            cluster.wait_brokers(len(nodes))
        except BaseException:
            cluster.shutdown()
            raise
        return cluster

    def _spawn(self, node: Node) -> None:
        log = node.dir / f"broker-{time.strftime('%H%M%S')}.log"
        command = _java(broker.fetch(), "kafka.Kafka", str(node.dir / "server.properties"))
        processes.spawn(command, log, node.dir)

    def pid(self, node_id: int) -> int | None:
        pid_file = self.node(node_id).dir / "pid"
        if not pid_file.exists():
            return None
        pid = int(pid_file.read_text())
        return pid if processes.alive(pid) else None

    def running(self) -> list[int]:
        return [n.id for n in self.nodes if self.pid(n.id) is not None]

    def stop(self, node_id: int) -> None:
        """A clean shutdown (SIGTERM: leadership moved away first), data kept."""
        processes.stop(self.node(node_id).dir)

    def kill(self, node_id: int) -> None:
        """SIGKILL, data kept: as a machine that loses power."""
        pid = self.pid(node_id)
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            while processes.alive(pid):
                time.sleep(0.05)
        processes.stop(self.node(node_id).dir)  # reaps it, removes the pid file

    def start_node(self, node_id: int, wait: bool = True) -> None:
        """Start a stopped node on its own data and ports; with `wait`, until it answers
        metadata requests itself (the cluster's list may still show it from before)."""
        if self.pid(node_id) is None:
            self._spawn(self.node(node_id))
        if wait:
            self.wait_answers(node_id)

    def wait_answers(self, node_id: int) -> None:
        from confluent_kafka.admin import AdminClient

        node = self.node(node_id)
        own = AdminClient({"bootstrap.servers": f"127.0.0.1:{node.internal_port}", "log_level": 0})
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            if self.pid(node_id) is None:
                raise broker.BrokerError(f"Broker {node_id} exited; see {node.dir}.")
            try:
                if node_id in own.list_topics(timeout=1).brokers:
                    return
            except Exception:  # not up yet; the deadline bounds the loop
                time.sleep(0.2)
        raise broker.BrokerError(f"Broker {node_id} did not answer in time; see {node.dir}.")

    def shutdown(self) -> None:
        for node in self.nodes:
            processes.stop(node.dir)

    # -- looking at it -------------------------------------------------------------------

    def admin(self) -> Any:
        if self._admin is None:
            from confluent_kafka.admin import AdminClient

            self._admin = AdminClient({"bootstrap.servers": self.direct, "log_level": 0})
        return self._admin

    def brokers(self, timeout: float = 5.0) -> set[int]:
        """The ids of the brokers the cluster has registered now."""
        found = self.admin().describe_cluster(request_timeout=timeout).result(timeout=timeout)
        return {n.id for n in found.nodes}

    def wait_brokers(self, count: int | None, include: int | None = None) -> None:
        """Until `count` brokers (or at least `include`) are registered."""
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            for node in self.nodes:
                pid_file = node.dir / "pid"
                if pid_file.exists() and not processes.alive(int(pid_file.read_text())):
                    raise broker.BrokerError(f"Broker {node.id} exited; see {node.dir}.")
            try:
                seen = self.brokers()
            except Exception:  # not up yet; the deadline bounds the loop
                time.sleep(0.2)
                continue
            if (count is None or len(seen) >= count) and (include is None or include in seen):
                return
            time.sleep(0.2)
        raise broker.BrokerError(f"The cluster in {self.state_dir} did not come up in time.")

    def describe(self, topics: Iterable[str], timeout: float = 5.0) -> dict[str, list[Any]]:
        """Topic -> its partitions' descriptions (leader, replicas, isr), by partition."""
        from confluent_kafka import TopicCollection

        names = list(topics)
        futures = self.admin().describe_topics(TopicCollection(names), request_timeout=timeout)
        found = {}
        for name, future in futures.items():
            found[name] = sorted(future.result(timeout=timeout).partitions, key=lambda p: p.id)
        return found

    def leaders(self, topic: str, timeout: float = 30.0) -> dict[int, int | None]:
        """Partition -> the id of its leader (None while it has none); waits while the
        topic is not known yet to the broker asked (metadata reaches brokers in turn)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                (parts,) = self.describe([topic]).values()
                return {p.id: (p.leader.id if p.leader is not None else None) for p in parts}
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def in_sync(self, topics: Iterable[str]) -> bool:
        """Every partition of `topics` (and of the internal ones, once they exist) has all
        replicas in sync."""
        try:
            found = self.describe(topics)
            if INTERNAL_TOPICS[0] in self.admin().list_topics(timeout=5).topics:
                found |= self.describe(INTERNAL_TOPICS)
        except Exception as exc:
            self._why = repr(exc)
            return False
        behind = [
            f"{name}[{p.id}] isr {len(p.isr)}/{len(p.replicas)}"
            for name, parts in found.items()
            for p in parts
            if len(p.isr) < len(p.replicas) or p.leader is None
        ]
        self._why = ", ".join(behind[:5])
        return not behind

    def wait_in_sync(self, topics: Iterable[str], timeout: float = WAIT_S) -> float:
        """Until every replica is in sync again; returns the seconds it took."""
        names, started = list(topics), time.monotonic()
        while not self.in_sync(names):
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"not in sync after {timeout:.0f} s: {self._why}")
            time.sleep(0.25)
        return time.monotonic() - started

    def coordinator(self, group: str, timeout: float = 30.0) -> int:
        """The broker coordinating `group` (the leader of its `__consumer_offsets`
        partition); waits while the group is not known yet."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                futures = self.admin().describe_consumer_groups([group], request_timeout=5)
                return int(futures[group].result(timeout=5).coordinator.id)
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def controller(self, timeout: float = 60.0) -> int:
        """The active KRaft controller: the leader of the newest epoch that a running voter
        wrote to its `quorum-state` (describe_cluster names a random broker under KRaft);
        waits while that leader is not running (an election is under way)."""
        deadline = time.monotonic() + timeout
        while True:
            found = self._quorum_leader()
            if found is not None and found in self.running():
                return found
            if time.monotonic() > deadline:
                raise broker.BrokerError("No running controller has been elected in time.")
            time.sleep(0.2)

    def _quorum_leader(self) -> int | None:
        best: tuple[int, int] | None = None
        for node_id in self.running():
            path = self.node(node_id).dir / "data" / "__cluster_metadata-0" / "quorum-state"
            try:
                state = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            leader, epoch = state.get("leaderId", -1), state.get("leaderEpoch", -1)
            if leader > 0 and (best is None or epoch > best[0]):
                best = (epoch, leader)
        return None if best is None else best[1]


def load(state_dir: Path, proxy: Toxiproxy | None = None) -> Cluster:
    """The cluster recorded in `state_dir` (started by `Cluster.start`)."""
    rows = json.loads((state_dir / "cluster.json").read_text())
    nodes = [Node(**{**row, "dir": Path(row["dir"])}) for row in rows]
    return Cluster(state_dir, nodes, proxy)


def stop(state_dir: Path) -> None:
    """Stop every node recorded under `state_dir` (SIGTERM, then SIGKILL)."""
    for node_dir in sorted(state_dir.glob("node-*")):
        processes.stop(node_dir)
    (state_dir / "bootstrap").unlink(missing_ok=True)
