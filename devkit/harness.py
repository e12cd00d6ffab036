"""What the tests, the demo and the benchmarks share to drive a real consumer: its config file,
the consumer as a process, its /metrics, and the Kafka clients that feed and check it.

One copy, so that a change to the config format, the process handling or the metric names is
made once and every user of the consumer sees the same behaviour. Needs only the consumer's own
dependencies (the demo and the benchmarks run without the test extra).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from consumer.core import segment
from consumer.core.decode import avro_codec
from devkit import processes

ROOT = Path(__file__).resolve().parents[1]
USERNAME, PASSWORD = "mi-access-id", "mi-secret-Zq9"
# The written configs read the credentials from these variables; ConsumerProcess sets them.
USERNAME_ENV, PASSWORD_ENV = "MI_USERNAME", "MI_PASSWORD"
CREDENTIALS = {USERNAME_ENV: USERNAME, PASSWORD_ENV: PASSWORD}

Headers = list[tuple[str, str | bytes | None]]
Record = tuple[bytes | None, bytes | None, Headers | None]  # key, value, headers


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, poll: float = 0.05) -> None:
    """Poll `predicate` until true; TimeoutError naming `what` when `timeout` passes."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(poll)


# -- the config file ----------------------------------------------------------------------------


def toml_value(value: Any) -> str:
    """A Python value as TOML (dicts as inline tables, in lists too)."""
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f'"{k}" = {toml_value(v)}' for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(value)


@dataclass(frozen=True)
class Destination:
    """One `[[destinations]]` table, with the credentials of `CREDENTIALS`."""

    name: str
    url: str
    options: Mapping[str, Any] = field(default_factory=dict)


def write_config(
    path: Path,
    *,
    bootstrap: str,
    topic: str,
    group: str,
    destinations: Sequence[Destination],
    metrics_port: int = -1,
    kafka: Mapping[str, Any] | None = None,
    properties: Mapping[str, Any] | None = None,
    delivery: Mapping[str, Any] | None = None,
    ordering: Mapping[str, Any] | None = None,
    schema_registry: str | None = None,
) -> Path:
    """A consumer config for one topic: `kafka`, `properties` (librdkafka), `delivery` and
    `ordering` add keys to their tables; the status server on loopback (`-1`: off)."""
    lines = [
        "[kafka]",
        f'bootstrap_servers = "{bootstrap}"',
        f'topics = ["{topic}"]',
        f'group_id = "{group}"',
        *(f"{k} = {toml_value(v)}" for k, v in (kafka or {}).items()),
        "[kafka.properties]",
        *(f'"{k}" = {toml_value(v)}' for k, v in (properties or {}).items()),
        "[metrics]",
        'host = "127.0.0.1"',
        f"port = {metrics_port}",
        "[delivery]",
        *(f"{k} = {toml_value(v)}" for k, v in (delivery or {}).items()),
        "[ordering]",
        *(f"{k} = {toml_value(v)}" for k, v in (ordering or {}).items()),
    ]
    if schema_registry is not None:
        lines += ["[schema_registry]", f'url = "{schema_registry}"']
    for d in destinations:
        lines += [
            "[[destinations]]",
            f'name = "{d.name}"',
            f'movable_ink_url = "{d.url}"',
            f'username = "${{{USERNAME_ENV}}}"',
            f'password = "${{{PASSWORD_ENV}}}"',
            *(f"{k} = {toml_value(v)}" for k, v in d.options.items()),
        ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


# -- /metrics -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Metrics:
    """One scrape of a consumer's /metrics (empty when it did not answer)."""

    samples: tuple[Sample, ...] = ()

    @classmethod
    def parse(cls, text: str, names: tuple[str, ...] = ()) -> Metrics:
        """The exposition's samples; only those of the families `names` when given (parsing
        every line costs CPU, and a bench polling one counter should not cost much of a core)."""
        if names:
            text = "\n".join(line for line in text.splitlines() if _family(line).startswith(names))
        families = text_string_to_metric_families(text)
        return cls(tuple(s for family in families for s in family.samples))

    def names(self) -> set[str]:
        """The sample names (`_total`, `_bucket`, ... included)."""
        return {s.name for s in self.samples}

    def total(self, name: str, **labels: str) -> float:
        """The sum of the samples called `name` whose labels include `labels`."""
        wanted = labels.items()
        return sum(s.value for s in self.samples if s.name == name and wanted <= s.labels.items())

    def series(self) -> dict[str, float]:
        """`name{label="value",...}` -> value, as the exposition writes them."""
        found = {}
        for s in self.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in s.labels.items())
            found[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
        return found


def _family(line: str) -> str:
    """The metric a line of the exposition is about (its HELP, its TYPE or a sample)."""
    return line.split(maxsplit=3)[2] if line.startswith(("# HELP ", "# TYPE ")) else line


def scrape(port: int, *names: str) -> Metrics:
    """The /metrics of the status server on a loopback port, only the families `names` when
    given (OSError when it does not answer)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        return Metrics.parse(answer.read().decode(), names)


# -- the consumer as a process ------------------------------------------------------------------


class ConsumerProcess:
    """`python -m consumer run` in its own session, so signals are the real ones; its output in
    `log`, its status server on `metrics_port` when the config has one."""

    def __init__(
        self,
        config: Path,
        log: Path,
        *,
        metrics_port: int = -1,
        env: Mapping[str, str] | None = None,
        log_level: str | None = None,
    ) -> None:
        self.log = log
        self.metrics_port = metrics_port
        self._out = log.open("ab")
        command = [sys.executable, "-m", "consumer", "run", "--config", str(config)]
        self.proc = subprocess.Popen(
            command + (["--log-level", log_level] if log_level else []),
            cwd=ROOT,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **CREDENTIALS, **(env or {})},
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def signal(self, sig: signal.Signals) -> None:
        if self.alive():
            self.proc.send_signal(sig)

    def wait(self, timeout: float = 60) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            self._out.close()

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM (drain, commit, leave), then its exit status; SIGKILL if it takes too long."""
        self.signal(signal.SIGTERM)
        try:
            return self.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return self.proc.returncode

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        self.wait()

    def logs(self) -> str:
        return self.log.read_text(errors="replace")

    def metrics(self, *names: str) -> Metrics:
        """Its /metrics now (only the families `names` when given); empty while it does not
        answer."""
        try:
            return scrape(self.metrics_port, *names)
        except OSError:
            return Metrics()

    def ready(self) -> bool:
        """/readyz answers 200: joined its group, partitions assigned."""
        url = f"http://127.0.0.1:{self.metrics_port}/readyz"
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    def outcomes(self, outcome: str = "delivered", **labels: str) -> int:
        """Records with this outcome so far (every destination unless `destination=` is given)."""
        name = "movableink_consumer_events_total"
        return int(self.metrics(name).total(name, outcome=outcome, **labels))

    def in_flight(self) -> int:
        """Requests under way now, every destination (0 while it does not answer)."""
        name = "movableink_consumer_in_flight_requests"
        return int(self.metrics(name).total(name))


def start_consumer(
    where: Path,
    *,
    bootstrap: str,
    topic: str,
    group: str,
    url: str,
    env: Mapping[str, str] | None = None,
    **settings: Any,
) -> ConsumerProcess:
    """A consumer process reading `topic` in `group` into one destination, "mi" at `url`, its
    status server on a free port; its config and log are `where` with `.toml` and `.log`.
    `settings`: `write_config`'s."""
    port = processes.free_port()
    config = write_config(
        where.with_name(f"{where.name}.toml"),
        bootstrap=bootstrap,
        topic=topic,
        group=group,
        destinations=[Destination("mi", url)],
        metrics_port=port,
        **settings,
    )
    return ConsumerProcess(config, where.with_name(f"{where.name}.log"), metrics_port=port, env=env)


# -- Kafka --------------------------------------------------------------------------------------
# Every helper takes `settings`: librdkafka settings added to its client's (the demo's are quiet).


def track(message_id: str, n: int, event: str, **ids: str) -> dict[str, Any]:
    """A track event, `n` in its properties (a person's count), `ids` its identity fields."""
    return {"type": "track", "messageId": message_id, **ids, "event": event, "properties": {"n": n}}


def encode(message: Mapping[str, Any], schema_id: int = 1) -> bytes:
    """A Segment message as Confluent-framed Avro."""
    return avro_codec.frame(schema_id, avro_codec.encode(dict(message)))


def keyed(message: Mapping[str, Any] | bytes, schema_id: int = 1) -> Record:
    """A message keyed by its person as the consumer keys it; raw bytes keyed `poison`."""
    if isinstance(message, bytes):
        return b"poison", message, None
    return segment.person_key(dict(message)).encode(), encode(message, schema_id), None


def create_topic(
    bootstrap: str,
    topic: str,
    partitions: int,
    config: Mapping[str, str] | None = None,
    settings: Mapping[str, Any] | None = None,
    replication: int = 1,
) -> str:
    """Create `topic` (`replication` -1: the cluster's default; topic `config`) and return its
    name."""
    admin = AdminClient({"bootstrap.servers": bootstrap, **(settings or {})})
    new = NewTopic(topic, partitions, replication, config=dict(config or {}))
    admin.create_topics([new], operation_timeout=30)[topic].result(timeout=30)
    return topic


def producer(bootstrap: str, settings: Mapping[str, Any] | None = None) -> Producer:
    """An idempotent producer: a batch retried by the client (a new topic's leader not ready
    yet) cannot land after a later one and reorder a person's events in the log."""
    return Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 5, "enable.idempotence": True}
        | dict(settings or {})
    )


def produce_records(
    bootstrap: str,
    topic: str,
    records: Iterable[Record],
    *,
    rate: float | None = None,
    partition: int = -1,
    timestamp: int = 0,
    on_count: Callable[[int], None] | None = None,
    settings: Mapping[str, Any] | None = None,
) -> int:
    """Produce (key, value, headers) records, as fast as the broker takes them or `rate` per
    second; `partition` -1 is the partitioner's choice, `timestamp` 0 the producer's clock;
    `on_count` hears the count every 1000 records (every record when paced). Returns how
    many; RuntimeError when some could not be produced."""
    out = producer(bootstrap, settings)
    if rate:
        out.list_topics(topic, timeout=10)  # connected before the pacing starts
    started, count = time.monotonic(), 0
    for key, value, headers in records:
        if rate:
            time.sleep(max(0.0, started + count / rate - time.monotonic()))
        while True:
            try:
                out.produce(topic, value, key, partition, timestamp=timestamp, headers=headers)
                break
            except BufferError:
                out.poll(0.05)
        count += 1
        if rate or count % 1000 == 0:
            out.poll(0)
            if on_count is not None:
                on_count(count)
    if out.flush(300) != 0:
        raise RuntimeError(f"could not produce every record to {topic}")
    return count


def produce(
    bootstrap: str,
    topic: str,
    messages: Iterable[Mapping[str, Any] | bytes],
    *,
    headers: Headers | None = None,
    partition: int = -1,
    timestamp: int = 0,
) -> int:
    """Segment messages as Confluent-framed Avro keyed by person (raw bytes as they are), each
    with `headers`."""
    records = ((key, value, headers) for key, value, _ in map(keyed, messages))
    return produce_records(bootstrap, topic, records, partition=partition, timestamp=timestamp)


def _client(bootstrap: str, group: str, settings: Mapping[str, Any] | None) -> Consumer:
    return Consumer({"bootstrap.servers": bootstrap, "group.id": group, **(settings or {})})


def end_offsets(
    bootstrap: str, topic: str, settings: Mapping[str, Any] | None = None
) -> dict[int, int]:
    """The end (high watermark) of each partition of `topic`."""
    client = _client(bootstrap, "harness-offsets", settings)
    try:
        metadata = client.list_topics(topic, timeout=10).topics[topic]
        return {
            p: client.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in metadata.partitions
        }
    finally:
        client.close()


def committed(
    bootstrap: str,
    group: str,
    topic: str,
    partitions: int,
    settings: Mapping[str, Any] | None = None,
) -> dict[int, int]:
    """The group's committed offset per partition (negative where none); KafkaException while
    the group coordinator cannot say yet."""
    client = _client(bootstrap, group, settings)
    try:
        parts = client.committed([TopicPartition(topic, p) for p in range(partitions)], 10)
    finally:
        client.close()
    return {p.partition: p.offset for p in parts}


def drained(
    bootstrap: str, group: str, topic: str, settings: Mapping[str, Any] | None = None
) -> bool:
    """The group has committed the end of every partition of `topic`: every record finished."""
    try:
        ends = end_offsets(bootstrap, topic, settings)
        done = committed(bootstrap, group, topic, len(ends), settings)
    except KafkaException:  # a leader or the group coordinator is moving: not yet
        return False
    return all(max(done[p], 0) >= end for p, end in ends.items())


def read_topic(
    bootstrap: str,
    topic: str,
    count: int | None = None,
    *,
    timeout: float = 30,
    idle_s: float | None = None,
) -> list[Any]:
    """The first `count` records of a topic (default: up to its current end), as confluent
    Messages; fewer when `timeout` passes, or `idle_s` after the last one found."""
    want = sum(end_offsets(bootstrap, topic).values()) if count is None else count
    client = _client(
        bootstrap,
        f"reader-{topic}-{time.monotonic_ns()}",
        {"auto.offset.reset": "earliest", "enable.auto.commit": False},
    )
    client.subscribe([topic])
    found: list[Any] = []
    last = time.monotonic()
    deadline = last + timeout
    try:
        while len(found) < want and time.monotonic() < deadline:
            batch = client.consume(min(1000, want - len(found)), 0.2)
            good = [m for m in batch if m.error() is None]
            found.extend(good)
            if good:
                last = time.monotonic()
            elif found and idle_s is not None and time.monotonic() - last > idle_s:
                break
    finally:
        client.close()
    return found
