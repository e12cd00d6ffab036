"""TOML file + environment -> one frozen, typed `Settings`, validated once at start-up.

Secrets come from the environment through `${VAR}` in any string value (`$$` is a literal `$`);
`MIK__SECTION__KEY=value` overrides a scalar of a top-level table (the value is read as TOML when
it parses, else as text). Every problem is reported as one `ConfigError` sentence naming the
setting.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import tomllib
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints
from urllib.parse import urlsplit

from consumer.core import movableink, urls
from consumer.core.errors import ConfigError
from consumer.core.mapping import FieldMapping, MappingError, compile_mapping, is_directive
from consumer.core.movableink import DeadLetterPolicy, Destination, Secret, Subscription
from consumer.core.signals import SignalsPolicy
from consumer.core.triggers import TriggerSyntaxError, parse
from consumer.settings import (
    LOG_LEVELS,
    BatchSettings,
    DeliverySettings,
    KafkaSettings,
    LoggingSettings,
    MetricsSettings,
    OrderingSettings,
    RegistrySettings,
    duration,
)

ENV_PREFIX = "MIK__"
_ENV_REF = re.compile(r"\$(\$|\{([A-Za-z_][A-Za-z0-9_]*)\})")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
T = TypeVar("T")


def parse_duration(value: Any, where: str) -> float:
    """Seconds from a number or a text such as `250ms`, `10s`, `5m`, `4h`, `30d`."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    match = _DURATION.match(value) if isinstance(value, str) else None
    if match is None:
        raise ConfigError(f"{where} must be a duration such as 10s, 5m, 4h or 30d, not {value!r}.")
    return float(match.group(1)) * _UNITS[match.group(2)]


@dataclass(frozen=True)
class DestinationTable:
    """The raw `[[destinations]]` table, before its mappings are compiled; the options it
    passes on unchanged take their defaults from `Destination`."""

    name: str
    movable_ink_url: str
    username: str = ""
    password: Secret = Secret("")
    apiKey: Secret = Secret("")  # noqa: N815 - Segment's setting name
    signals: SignalsPolicy = Destination.signals
    max_event_age: float | None = duration(Destination.max_event_age_s)
    on_dead_letter: DeadLetterPolicy = Destination.on_dead_letter
    batch: dict[str, Any] = field(default_factory=dict)
    max_requests_per_second: float = Destination.max_requests_per_second
    adaptive_concurrency: bool = Destination.adaptive_concurrency
    mappings: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class MappingTable:
    name: str
    subscribe: str = movableink.PRESET_SUBSCRIBE
    data: Any = field(default_factory=lambda: dict(movableink.PRESET_DATA))
    headers: Any = None
    enabled: bool = True


@dataclass(frozen=True)
class Settings:
    kafka: KafkaSettings
    destinations: tuple[Destination, ...]
    schema_registry: RegistrySettings | None = None
    delivery: DeliverySettings = DeliverySettings()
    metrics: MetricsSettings = MetricsSettings()
    logging: LoggingSettings = LoggingSettings()
    ordering: OrderingSettings = OrderingSettings()


# -- reading -------------------------------------------------------------------------------


def load(path: str | Path, environ: Mapping[str, str] | None = None) -> Settings:
    """Read, interpolate and validate the configuration file."""
    env = os.environ if environ is None else environ
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"Cannot read the configuration file {path}: {exc.strerror}.") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"The configuration file {path} is not valid TOML: {exc}.") from exc
    return parse_settings(_apply_overrides(raw, env), env)


def parse_settings(raw: dict[str, Any], environ: Mapping[str, str]) -> Settings:
    """Validate an already-parsed TOML document."""
    data = _interpolate(raw, "", environ)
    _no_unknown(
        data,
        {"kafka", "schema_registry", "delivery", "metrics", "logging", "ordering", "destinations"},
        "",
    )
    kafka = _build(KafkaSettings, _table(data, "kafka"), "kafka")
    if not kafka.topics:
        raise ConfigError("kafka.topics must name at least one topic.")
    if "{topic}" not in kafka.dead_letter_topic and len(kafka.topics) > 1:
        raise ConfigError(
            "kafka.dead_letter_topic must contain {topic} when several topics are consumed."
        )
    registry = None
    if "schema_registry" in data:
        registry = _build(RegistrySettings, _table(data, "schema_registry"), "schema_registry")
    tables = data.get("destinations")
    if not isinstance(tables, list) or not tables:
        raise ConfigError("At least one [[destinations]] table is required.")
    compiled: dict[str, FieldMapping] = {}
    destinations = tuple(_destination(t, i, compiled) for i, t in enumerate(tables))
    names = [d.name for d in destinations]
    if len(set(names)) != len(names):
        raise ConfigError(f"Destination names must be unique: {names}.")
    delivery = _build(DeliverySettings, _table(data, "delivery"), "delivery")
    for name in ("max_in_flight", "max_buffered", "circuit_threshold"):
        if getattr(delivery, name) < 1:
            raise ConfigError(f"delivery.{name} must be at least 1.")
    if 0 < delivery.max_attempts <= delivery.circuit_threshold:
        raise ConfigError(
            "delivery.circuit_threshold must be below delivery.max_attempts, or an outage "
            "could dead-letter events before it is detected."
        )
    metrics = _build(MetricsSettings, _table(data, "metrics"), "metrics")
    if not -1 <= metrics.port <= 65535:
        raise ConfigError("metrics.port must be a TCP port, 0 for any free one, or -1 for none.")
    logging = _build(LoggingSettings, _table(data, "logging"), "logging")
    if logging.level and logging.level.upper() not in LOG_LEVELS:
        raise ConfigError(
            f"logging.level must be one of {', '.join(LOG_LEVELS)}, not {logging.level!r}."
        )
    ordering = _build(OrderingSettings, _table(data, "ordering"), "ordering")
    if ordering.gate != "off" and ordering.hold_max <= 0:
        raise ConfigError("ordering.hold_max must be above 0 while ordering.gate is on.")
    if not _TOPIC.match(ordering.links_topic.replace("{group}", kafka.group_id)):
        raise ConfigError(
            f"ordering.links_topic must give a valid Kafka topic name, not "
            f"{ordering.links_topic!r}."
        )
    return Settings(
        kafka=kafka,
        destinations=destinations,
        schema_registry=registry,
        delivery=delivery,
        metrics=metrics,
        logging=logging,
        ordering=ordering,
    )


def _apply_overrides(raw: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    for name, text in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        parts = name[len(ENV_PREFIX) :].lower().split("__")
        if len(parts) != 2 or not all(parts):
            raise ConfigError(f"{name} must have the form {ENV_PREFIX}SECTION__KEY.")
        try:
            value = tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            value = text
        section = raw.setdefault(parts[0], {})
        if not isinstance(section, dict):
            raise ConfigError(
                f"{name} cannot be applied: {parts[0]} is not a table, and environment "
                "overrides only reach the keys of top-level tables."
            )
        section[parts[1]] = value
    return raw


def _interpolate(value: Any, where: str, environ: Mapping[str, str]) -> Any:
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            var = match.group(2)
            if var is None:
                return "$"
            if var not in environ:
                raise ConfigError(f"{where} refers to ${{{var}}}, which is not set.")
            return environ[var]

        return _ENV_REF.sub(substitute, value)
    if isinstance(value, dict):
        return {k: _interpolate(v, _join(where, k), environ) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, f"{where}[{i}]", environ) for i, v in enumerate(value)]
    return value


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _table(data: dict[str, Any], key: str) -> dict[str, Any]:
    table = data.get(key, {})
    if not isinstance(table, dict):
        raise ConfigError(f"{key} must be a table ([{key}]).")
    return table


def _no_unknown(table: Mapping[str, Any], known: set[str], where: str) -> None:
    for key in table:
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f" (did you mean {_join(where, close[0])}?)" if close else ""
            raise ConfigError(f"Unknown setting {_join(where, key)}{hint}.")


# -- typed building ------------------------------------------------------------------------


def _build(cls: type[T], table: Mapping[str, Any], where: str) -> T:
    """An instance of the settings dataclass `cls`, every value checked against its type."""
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    _no_unknown(table, set(fields), where)
    hints = get_type_hints(cls)
    values: dict[str, Any] = {}
    for name, spec in fields.items():
        if not spec.init:
            continue
        path = _join(where, name)
        if name not in table:
            if spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
                raise ConfigError(f"{path} is required.")
            continue
        raw = table[name]
        is_duration = spec.metadata.get("duration")
        values[name] = parse_duration(raw, path) if is_duration else _check(raw, hints[name], path)
    return cls(**values)


def _describe(kind: Any) -> str:
    if get_origin(kind) is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(kind))
    names = {str: "text", int: "a whole number", float: "a number", bool: "true or false"}
    return names.get(kind, getattr(kind, "__name__", str(kind)))


def _check(value: Any, kind: Any, where: str) -> Any:
    origin = get_origin(kind)
    if origin in (Union, types.UnionType):
        options = [a for a in get_args(kind) if a is not type(None)]
        return _check(value, options[0], where)
    if origin is Literal:
        if value not in get_args(kind):
            raise ConfigError(f"{where} must be {_describe(kind)}, not {value!r}.")
        return value
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(f"{where} must be a list.")
        item = get_args(kind)[0]
        return tuple(_check(v, item, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where} must be a table.")
        return dict(value)
    if kind is Any:
        return value
    if kind is Secret:
        if not isinstance(value, str):  # the value is not shown: it may be the secret
            raise ConfigError(f"{where} must be text (a secret: its value is not shown).")
        return Secret(value)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"{where} must be {_describe(kind)}, not {value!r}.")
    return value


# -- destinations --------------------------------------------------------------------------


def _destination(raw: Any, index: int, compiled: dict[str, FieldMapping]) -> Destination:
    where = f"destinations[{index}]"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a table ([[destinations]]).")
    table = _build(DestinationTable, raw, where)
    where = f"destinations.{table.name}"
    if not _NAME.match(table.name):
        raise ConfigError(f"{where}.name must be letters, digits, '.', '_' or '-' (1-63).")
    try:  # as Segment's URL parser reads it: punycode host, spaces percent-encoded, ...
        url = urls.normalise_url(table.movable_ink_url)
    except ValueError as exc:
        raise ConfigError(
            f"{where}.movable_ink_url cannot be read as a URL (Segment cannot either): {exc}."
        ) from None
    _check_url(url, f"{where}.movable_ink_url")
    username, password = table.username, table.password
    if table.apiKey.reveal():
        if username or "password" in raw:
            raise ConfigError(f"{where} sets apiKey and username/password: choose one.")
        username, password = table.apiKey.reveal(), Secret("")
    elif not username or "password" not in raw:
        # An empty password is one: Segment sends Basic base64("username:").
        raise ConfigError(f"{where} needs username and password (or the legacy apiKey).")
    mappings = table.mappings or ({"name": movableink.PRESET_NAME},)
    if len(mappings) > movableink.MAX_MAPPINGS:
        raise ConfigError(f"{where} has {len(mappings)} mappings; at most 50 are allowed.")
    subscriptions = tuple(
        s
        for i, m in enumerate(mappings)
        if (s := _subscription(m, f"{where}.mappings[{i}]", compiled))
    )
    names = [s.name for s in subscriptions]
    if len(set(names)) != len(names):
        raise ConfigError(f"{where}.mappings names must be unique: {names}.")
    batch = _build(BatchSettings, table.batch, f"{where}.batch")
    if batch.max_events < 1 or batch.max_bytes < 1024:
        raise ConfigError(f"{where}.batch needs max_events >= 1 and max_bytes >= 1024.")
    if table.max_requests_per_second < 0:
        raise ConfigError(f"{where}.max_requests_per_second must be 0 (no limit) or more.")
    return Destination(
        name=table.name,
        movable_ink_url=url,
        username=username,
        password=password,
        subscriptions=subscriptions,
        signals=table.signals,
        max_event_age_s=table.max_event_age,
        on_dead_letter=table.on_dead_letter,
        batch=batch,
        max_requests_per_second=table.max_requests_per_second,
        adaptive_concurrency=table.adaptive_concurrency,
    )


def _check_url(url: str, where: str) -> None:
    if "@" in urlsplit(url).netloc:
        raise ConfigError(
            f"{where} must not carry credentials (user:password@); set username and password."
        )
    if not re.match(r"^https?://[^/\s]+/\S*[^/\s]/?$", url, re.IGNORECASE):
        raise ConfigError(
            f"{where} must be the full http(s) endpoint ending in your key, "
            f"such as https://collector.movableink-dmz.com/behavioral/KEY; got "
            f"{movableink.mask_url(url)!r}."
        )


def _subscription(raw: Any, where: str, compiled: dict[str, FieldMapping]) -> Subscription | None:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a table ([[destinations.mappings]]).")
    table = _build(MappingTable, raw, where)
    where = f"{where.rpartition('[')[0]}.{table.name!r}"
    if not table.enabled:
        return None
    try:
        trigger = parse(table.subscribe)
    except TriggerSyntaxError as exc:
        raise ConfigError(f"{where}.subscribe is not a valid trigger: {exc}") from exc
    try:
        data = _data_mapping(table.data, f"{where}.data", compiled)
        headers = (
            None
            if table.headers is None
            else compile_mapping(table.headers, name=f"{where}.headers")
        )
    except MappingError as exc:
        raise ConfigError(str(exc)) from exc
    if table.headers is not None and not is_directive(table.headers):
        _check_literal_headers(table.headers, f"{where}.headers")
    return Subscription(name=table.name, trigger=trigger, data=data, headers=headers)


def _data_mapping(source: Any, where: str, compiled: dict[str, FieldMapping]) -> FieldMapping:
    """One compiled mapping per distinct `data` mapping (`repr` tells them apart, key order
    and number types included), so that what it gives an event is mapped and encoded once for
    every subscription using it (see `decision._delivery`)."""
    key = repr(source)
    if key not in compiled:
        compiled[key] = compile_mapping(source, name=where)
    return compiled[key]


def _check_literal_headers(headers: Any, where: str) -> None:
    """Header names, and text values known at start-up, must be sendable (ASCII only)."""
    if not isinstance(headers, dict):
        raise ConfigError(f"{where} must be a table of header names to values.")
    for name, value in headers.items():
        problem = movableink.header_problem(name, value if isinstance(value, str) else "")
        if problem is not None:
            raise ConfigError(f"{where}: {problem}.")
