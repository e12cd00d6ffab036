"""For one record: decode -> check -> route -> validate -> map. Pure: event in, decision out.

`run`, `explain` and `replay --dry-run` all call `decide_record`, so what `explain` shows is
exactly what the consumer does. Several destinations each get their own verdict: one may
deliver what another filters or dead-letters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from consumer import segment, signals
from consumer.decode import Decoder
from consumer.errors import Rejected
from consumer.movableink import Destination, InvalidRequest, Request, send_entire_event

Outcome = Literal["deliver", "filtered", "invalid"]


@dataclass(frozen=True)
class Delivery:
    """One request to make: a destination, the mapping that matched, and the request."""

    destination: Destination
    mapping: str
    request: Request


@dataclass(frozen=True)
class Verdict:
    """What one destination does with the message."""

    destination: str
    outcome: Outcome
    reason: str | None = None
    deliveries: tuple[Delivery, ...] = ()
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Decision:
    """What happens to one record, across every destination."""

    message_id: str
    message: dict[str, Any] | None
    verdicts: tuple[Verdict, ...]
    reason: str | None = None  # set when the record itself is invalid (decode, checks)
    detail: str = ""  # the sentence behind `reason`

    @property
    def outcome(self) -> Outcome:
        outcomes = {v.outcome for v in self.verdicts}
        if self.message is None or ("deliver" not in outcomes and "invalid" in outcomes):
            return "invalid"
        return "deliver" if "deliver" in outcomes else "filtered"

    @property
    def first_reason(self) -> str | None:
        if self.reason is not None:
            return self.reason
        outcome = self.outcome
        return next((v.reason for v in self.verdicts if v.outcome == outcome), None)

    @property
    def identity_keys(self) -> tuple[str, ...]:
        return () if self.message is None else segment.identity_keys(self.message)

    @property
    def deliveries(self) -> tuple[Delivery, ...]:
        return tuple(d for v in self.verdicts for d in v.deliveries)


def event_time(message: dict[str, Any]) -> datetime | None:
    """When the event happened: `timestamp`, else `receivedAt`, else `originalTimestamp`."""
    for key in ("timestamp", "receivedAt", "originalTimestamp"):
        text = message.get(key)
        if isinstance(text, str):
            try:
                moment = datetime.fromisoformat(text)
            except ValueError:
                continue
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return None


def _too_old(message: dict[str, Any], max_age_s: float | None, now: datetime) -> bool:
    if max_age_s is None:
        return False
    moment = event_time(message)
    return moment is not None and (now - moment).total_seconds() > max_age_s


def route(destination: Destination, message: dict[str, Any], now: datetime) -> Verdict:
    """One destination's verdict on a checked message."""
    name = destination.name
    if not segment.integration_enabled(message):
        return Verdict(name, "filtered", "integrations.disabled")
    matched = [s for s in destination.subscriptions if s.trigger.matches(message)]
    if not matched:
        return Verdict(name, "filtered", "trigger.no_match")
    if _too_old(message, destination.max_event_age_s, now):
        return Verdict(name, "invalid", "too_old")
    failed = () if destination.signals == "off" else tuple(signals.violations(message))
    if failed and destination.signals == "enforce":
        return Verdict(name, "invalid", failed[0], warnings=failed)
    try:
        deliveries = tuple(
            Delivery(destination, s.name, send_entire_event(destination, s, message))
            for s in matched
        )
    except InvalidRequest as exc:
        return Verdict(name, "invalid", exc.reason, warnings=(str(exc),))
    return Verdict(name, "deliver", deliveries=deliveries, warnings=failed)


def decide_message(
    message: Any,
    destinations: tuple[Destination, ...],
    *,
    topic: str = "",
    partition: int = -1,
    offset: int = -1,
    now: datetime | None = None,
) -> Decision:
    """The decision for an already-decoded message."""
    fallback_id = f"kafka-{topic}-{partition}-{offset}"
    try:
        checked = segment.check(message)
    except Rejected as exc:
        given = message.get("messageId") if isinstance(message, dict) else None
        message_id = given if isinstance(given, str) and given else fallback_id
        return Decision(message_id, None, (), exc.reason, str(exc))
    message_id = segment.message_id(checked, topic, partition, offset)
    if checked.get("messageId") != message_id:
        # Every request carries a messageId (spec section 7): add the derived one.
        checked = {**checked, "messageId": message_id}
    moment = now or datetime.now(UTC)
    verdicts = tuple(route(d, checked, moment) for d in destinations)
    return Decision(message_id, checked, verdicts)


def decide_record(
    value: bytes | None,
    decoder: Decoder,
    destinations: tuple[Destination, ...],
    *,
    topic: str = "",
    partition: int = -1,
    offset: int = -1,
    now: datetime | None = None,
) -> Decision:
    """The decision for one Kafka record value. May raise `Unavailable` (registry down)."""
    try:
        message = decoder.decode(value)
    except Rejected as exc:
        return Decision(f"kafka-{topic}-{partition}-{offset}", None, (), exc.reason, str(exc))
    return decide_message(
        message, destinations, topic=topic, partition=partition, offset=offset, now=now
    )
