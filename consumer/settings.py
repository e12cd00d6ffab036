"""The runtime settings types, one per table of the configuration file, each default written
once, here. A leaf: `config` builds these from TOML and the environment; the Kafka wrapper,
the source, the delivery workers and the circuit read them without importing `config`.

A field whose metadata has `duration` is read by `config` from `250ms`, `10s`, `5m`, `4h`...
and held in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

ValueFormat = Literal["confluent", "avro", "json"]
AvroNullFields = Literal["omit", "keep"]
HttpClient = Literal["builtin", "httpx"]
LogFormat = Literal["auto", "json", "text"]
GateMode = Literal["off", "observe", "enforce"]
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
DEFAULT_MAX_MESSAGE_BYTES = 1_000_000


def duration(default: float | None) -> Any:
    """A dataclass field given in the file as a duration, held in seconds."""
    return field(default=default, metadata={"duration": True})


@dataclass(frozen=True)
class KafkaSettings:
    """`[kafka]`: the input topics, the group, the encoding, the dead-letter topics."""

    bootstrap_servers: str
    topics: tuple[str, ...]
    group_id: str = "movableink-consumer"
    group_instance_id: str = ""
    value_format: ValueFormat = "confluent"
    avro_schema: str = ""
    # A null field of a record nested in an Avro value: left out (Avro cannot tell it from an
    # absent one) or kept as JSON null. See docs/avro.md.
    avro_null_fields: AvroNullFields = "omit"
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    dead_letter_topic: str = "{topic}.dlq"
    create_dead_letter_topic: bool = True
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RegistrySettings:
    """`[schema_registry]`: Confluent Schema Registry, for `value_format = "confluent"`."""

    url: str
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DeliverySettings:
    """`[delivery]`: how requests are made, retried and bounded (every destination alike),
    and how far intake may run ahead of delivery."""

    max_in_flight: int = 256
    timeout: float = duration(10.0)
    http_client: HttpClient = "builtin"
    retry_window: float = duration(4 * 3600.0)
    max_attempts: int = 0
    backoff_base: float = duration(0.5)
    backoff_cap: float = duration(60.0)
    max_retry_after: float = duration(300.0)
    circuit_threshold: int = 10
    probe_interval: float = duration(1.0)
    max_probe_interval: float = duration(30.0)
    max_buffered: int = 10_000
    commit_interval: float = duration(0.2)
    revoke_timeout: float = duration(10.0)
    shutdown_grace: float = duration(25.0)


@dataclass(frozen=True)
class OrderingSettings:
    """`[ordering]`: order across the partitions one process reads.

    `window`: how long a record may wait for the other partitions this process reads to be read
    past its event time, so that a person's events on several partitions start in event-time
    order (`consumer/core/event_time_order.py`); 0 hands records on in arrival order.

    `gate` and the rest: order across the pods of a consumer group, a userId-only event waiting
    for the identifies other pods hold (`consumer/core/identity_gate.py`), through the
    `links_topic` (`{group}`: the group id), at most `hold_max`; `skew` is how far two records'
    timestamps may be out of the order they were written in."""

    window: float = duration(2.0)
    gate: GateMode = "off"
    hold_max: float = duration(10.0)
    links_topic: str = "{group}.identity-links"
    skew: float = duration(0.25)


@dataclass(frozen=True)
class BatchSettings:
    """`[destinations.batch]`: batch mode (off by default), `{"events": [...]}` requests
    (RudderStack's shape)."""

    enabled: bool = False
    max_events: int = 1000
    max_bytes: int = 1_000_000
    linger: float = duration(0.05)


@dataclass(frozen=True)
class MetricsSettings:
    """`[metrics]`: /metrics, /healthz and /readyz (`port = 0`: any free port; -1: off)."""

    host: str = "0.0.0.0"
    port: int = 9464


@dataclass(frozen=True)
class LoggingSettings:
    """`[logging]`: "auto" is text on a terminal, else JSON lines; "" the command's level."""

    format: LogFormat = "auto"
    level: str = ""
