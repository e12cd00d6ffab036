"""Helpers for end-to-end tests: a config file, the consumer as a real process, producing and
reading topics. The consumer runs as `python -m consumer run`, so signals are the real ones."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import httpx
from confluent_kafka import Consumer, Producer

from consumer import avro_codec, segment

USERNAME, PASSWORD = "mi-access-id", "mi-secret-Zq9"


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `predicate` until true; fail naming `what` when `timeout` passes."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def toml_value(value: Any) -> str:
    """A Python value as TOML (inline tables for dicts)."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f'"{k}" = {toml_value(v)}' for k, v in value.items()) + " }"
    return json.dumps(value)


def destination_table(name: str, url: str, options: dict[str, Any] | None = None) -> str:
    lines = [
        "[[destinations]]",
        f'name = "{name}"',
        f'movable_ink_url = "{url}"',
        'username = "${MI_USERNAME}"',
        'password = "${MI_PASSWORD}"',
        *(f"{k} = {toml_value(v)}" for k, v in (options or {}).items()),
    ]
    return "\n".join(lines)


def write_config(
    path: Path,
    *,
    bootstrap: str,
    topic: str,
    group: str,
    url: str,
    delivery: dict[str, Any] | None = None,
    destination: dict[str, Any] | None = None,
    extra: str = "",
    metrics_port: int = -1,
    properties: dict[str, Any] | None = None,
) -> Path:
    """A consumer config for one topic and one destination; `delivery` adds [delivery] keys,
    `properties` librdkafka properties."""
    lines = [
        "[kafka]",
        f'bootstrap_servers = "{bootstrap}"',
        f'topics = ["{topic}"]',
        f'group_id = "{group}"',
        "[kafka.properties]",
        '"fetch.wait.max.ms" = 50',
        *(f'"{k}" = {toml_value(v)}' for k, v in (properties or {}).items()),
        "[metrics]",
        f"port = {metrics_port}",
        "[delivery]",
        'backoff_base = "50ms"',
        'backoff_cap = "500ms"',
        'probe_interval = "200ms"',
        'max_probe_interval = "500ms"',
        *(f"{k} = {toml_value(v)}" for k, v in (delivery or {}).items()),
        destination_table("mi", url, destination),
        extra,
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


class ConsumerProcess:
    """`python -m consumer run` in its own process, its logs in a file."""

    def __init__(
        self,
        config: Path,
        log: Path,
        log_level: str = "INFO",
        env: dict[str, str] | None = None,
    ) -> None:
        self.log = log
        self._out = log.open("ab")
        env = {**os.environ, "MI_USERNAME": USERNAME, "MI_PASSWORD": PASSWORD, **(env or {})}
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "consumer",
                "run",
                "--config",
                str(config),
                "--log-level",
                log_level,
            ],
            stdout=self._out,
            stderr=subprocess.STDOUT,
            env=env,
        )

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 60) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            self._out.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.wait()

    def logs(self) -> str:
        return self.log.read_text(errors="replace")


def encode(message: dict[str, Any]) -> bytes:
    return avro_codec.frame(1, avro_codec.encode(message))


def produce(
    bootstrap: str,
    topic: str,
    messages: Iterable[dict[str, Any] | bytes],
    *,
    partition: int | None = None,
    headers: list[tuple[str, bytes]] | None = None,
) -> None:
    """Produce Confluent-framed Avro keyed by the person key (raw bytes as they are).

    Idempotent, so a batch retried by the client (a new topic's leader not ready yet)
    cannot land after a later one and reorder a person's events in the log.
    """
    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 5, "enable.idempotence": True}
    )
    for message in messages:
        if isinstance(message, bytes):
            value, key = message, b"poison"
        else:
            value, key = encode(message), segment.person_key(message).encode()
        extra = {} if partition is None else {"partition": partition}
        producer.produce(topic, value=value, key=key, headers=headers, **extra)
    assert producer.flush(30) == 0


def read_topic(bootstrap: str, topic: str, count: int, timeout: float = 30) -> list[Any]:
    """The first `count` records of a topic (all partitions), as confluent Messages."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{topic}-{time.monotonic_ns()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    found: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while len(found) < count and time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is not None and message.error() is None:
                found.append(message)
    finally:
        consumer.close()
    return found


def committed(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int]:
    """The group's committed offsets per partition (-1001 when none)."""
    from confluent_kafka import TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        parts = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], 10)
    finally:
        consumer.close()
    return {p.partition: p.offset for p in parts}


def scrape(port: int) -> dict[str, float]:
    """The consumer's /metrics as {"name{labels}": value}."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples
