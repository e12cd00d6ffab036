"""For one record: decode -> check -> route -> validate -> map. Pure: event in, decision out.

`run`, `explain` and `replay --dry-run` all call `decide_record`, so what `explain` shows is
exactly what the consumer does. Several destinations each get their own verdict: one may
deliver what another filters or dead-letters.

Deciding is total: whatever a record holds, the result is a `Decision` (an unexpected error is
the record's `internal.error`, never the process's). The decision carries what later stages
need, computed once: message id, identity keys, event time, and each request's body bytes.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any, NamedTuple

from consumer.core import segment, signals
from consumer.core.deadletter import Failure
from consumer.core.decode import Decoder
from consumer.core.errors import (
    INTEGRATIONS_DISABLED,
    INTERNAL_ERROR,
    MAPPING_UNENCODABLE,
    TOO_OLD,
    TRIGGER_NO_MATCH,
    Action,
    Rejected,
    Unavailable,
    describe,
)
from consumer.core.movableink import (
    Destination,
    InvalidRequest,
    Request,
    Subscription,
    body_bytes,
    send_entire_event,
)
from consumer.core.segment import NOWHERE, Located
from consumer.core.tuples import record


class Delivery(NamedTuple):
    """One request to make: a destination, the mapping that matched, the request, and its
    body encoded once (every attempt, retry and batch sends these bytes).

    Immutable records built for every event are named tuples here, not frozen dataclasses,
    whose `__init__` costs about four times as much (and are made with `tuples.record`).
    """

    destination: Destination
    mapping: str
    request: Request
    content: bytes


class Verdict(NamedTuple):
    """What one destination does with the message.

    "deliver" when at least one matching mapping made its request (`deliveries`); the
    mappings that could not are in `rejected` either way, each as the `Failure` its dead letter
    carries (it alone is dead-lettered, with its mapping's name; the others still deliver).
    "invalid" with no `rejected`: the event itself is at fault for this destination (too old,
    signals), whatever the mapping.
    """

    destination: str
    action: Action  # what to do, not an outcome: "deliver" ends delivered or dead-lettered
    reason: str | None = None
    deliveries: tuple[Delivery, ...] = ()
    warnings: tuple[str, ...] = ()
    rejected: tuple[Failure, ...] = ()


class Decision(NamedTuple):
    """What happens to one record, across every destination."""

    message_id: str
    message: dict[str, Any] | None
    verdicts: tuple[Verdict, ...]
    reason: str | None = None  # set when the record itself is invalid (decode, checks)
    detail: str = ""  # the sentence behind `reason`
    identity_keys: tuple[str, ...] = ()
    event_time: float | None = None  # epoch seconds of the event, if it says

    @property
    def action(self) -> Action:
        """The record's verdict across destinations: delivered if any destination delivers."""
        actions = {v.action for v in self.verdicts}
        if self.message is None or ("deliver" not in actions and "invalid" in actions):
            return "invalid"
        return "deliver" if "deliver" in actions else "filtered"

    @property
    def first_reason(self) -> str | None:
        if self.reason is not None:
            return self.reason
        action = self.action
        return next((v.reason for v in self.verdicts if v.action == action), None)

    @property
    def deliveries(self) -> tuple[Delivery, ...]:
        return tuple(d for v in self.verdicts for d in v.deliveries)


def event_time(message: dict[str, Any]) -> float | None:
    """When the event happened, in epoch seconds: `timestamp`, else `receivedAt`, else
    `originalTimestamp`; a text that is not an ISO-8601 time is passed over."""
    for key in ("timestamp", "receivedAt", "originalTimestamp"):
        text = message.get(key)
        if isinstance(text, str):
            try:
                moment = datetime.fromisoformat(text)
                return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
            except (ValueError, OverflowError):
                continue
    return None


def _too_old(moment: float | None, max_age_s: float | None, now: float) -> bool:
    return max_age_s is not None and moment is not None and now - moment > max_age_s


class _Unencodable(Exception):
    """A mapped body JSON cannot carry (NaN, infinity, a lone surrogate, too deep)."""


# The encoded-body cache, the decision's one speed trick beyond `tuples.record`: per compiled
# mapping (by `id`: `config` makes one mapping object per distinct `data`, so subscriptions and
# destinations with the same `data` share it), the body it gave this event and the body's
# bytes. With several destinations or mappings, what one mapping gives one event is then mapped
# and encoded once; with one destination of one mapping it could never be used again, and is
# not made (`_body_cache`). The figures either way are in bench/README.md.
_Mapped = dict[int, tuple[Any, bytes]]


def _body_cache(destinations: tuple[Destination, ...]) -> _Mapped | None:
    """An empty encoded-body cache for one event, or None when no mapping could share one."""
    if len(destinations) == 1 and len(destinations[0].subscriptions) == 1:
        return None
    return {}


def _delivery(
    destination: Destination,
    subscription: Subscription,
    message: dict[str, Any],
    mapped: _Mapped | None,
) -> Delivery:
    if mapped is not None:
        cached = mapped.get(id(subscription.data))
        if cached is not None:
            request = send_entire_event(destination, subscription, message, cached[0])
            return record(Delivery, (destination, subscription.name, request, cached[1]))
    request = send_entire_event(destination, subscription, message)
    try:
        content = body_bytes(request.body)
    except (ValueError, UnicodeError, RecursionError) as exc:
        reason = f"The mapped body cannot be sent as JSON: {describe(exc)}"
        raise _Unencodable(reason) from exc
    if mapped is not None:
        mapped[id(subscription.data)] = (request.body, content)
    return record(Delivery, (destination, subscription.name, request, content))


def _rejection(
    destination: Destination, subscription: Subscription, message_id: str, exc: Exception
) -> Failure:
    """Why one mapping cannot make its request: its dead letter's failure."""
    if isinstance(exc, InvalidRequest):
        reason, detail = exc.reason, str(exc)
    elif isinstance(exc, _Unencodable):
        reason, detail = MAPPING_UNENCODABLE, str(exc)
    else:
        reason, detail = INTERNAL_ERROR, describe(exc)
    return Failure(reason, detail, message_id, destination.name, mapping=subscription.name)


def route(
    destination: Destination,
    message: dict[str, Any],
    now: float,
    moment: float | None,
    mapped: _Mapped | None,
) -> Verdict:
    """One destination's verdict on a checked message (`moment`: its event time; `mapped`:
    what the message's destinations have mapped and encoded so far, see `_body_cache`).

    Each matching mapping is mapped on its own, as Segment runs each subscription on its own:
    one that fails on this event is rejected alone (`Verdict.rejected`)."""
    name = destination.name
    try:
        if not segment.integration_enabled(message):
            return Verdict(name, "filtered", INTEGRATIONS_DISABLED)
        # Loops, not comprehensions: in Python 3.11 each comprehension is a function call.
        matched = []
        for subscription in destination.subscriptions:
            if subscription.trigger.matches(message):
                matched.append(subscription)
        if not matched:
            return Verdict(name, "filtered", TRIGGER_NO_MATCH)
        if _too_old(moment, destination.max_event_age_s, now):
            return Verdict(name, "invalid", TOO_OLD)
        failed = () if destination.signals == "off" else tuple(signals.violations(message))
        if failed and destination.signals == "enforce":
            return Verdict(name, "invalid", failed[0], warnings=failed)
    except Exception as exc:  # a bug must cost one record, not the process
        return Verdict(name, "invalid", INTERNAL_ERROR, warnings=(describe(exc),))
    deliveries = []
    rejected = []
    for subscription in matched:
        try:
            deliveries.append(_delivery(destination, subscription, message, mapped))
        except Exception as exc:  # InvalidRequest, _Unencodable, or a bug: this mapping's
            rejected.append(
                _rejection(destination, subscription, message.get("messageId", ""), exc)
            )
    if not deliveries:
        details = tuple(r.message for r in rejected)
        return Verdict(name, "invalid", rejected[0].reason, (), details, tuple(rejected))
    return record(Verdict, (name, "deliver", None, tuple(deliveries), failed, tuple(rejected)))


def decide_message(
    message: Any,
    destinations: tuple[Destination, ...],
    place: Located = NOWHERE,
    *,
    now: datetime | None = None,
) -> Decision:
    """The decision for an already-decoded message (total, like `decide_record`)."""
    message_id = segment.message_id(message, place.topic, place.partition, place.offset)
    try:
        checked = segment.check(message)
        if checked.get("messageId") != message_id:
            # Every request carries a messageId (spec section 7): add the derived one.
            checked = {**checked, "messageId": message_id}
        moment = event_time(checked)
        clock = time.time() if now is None else now.timestamp()
        verdicts = []
        mapped = _body_cache(destinations)
        for destination in destinations:
            verdicts.append(route(destination, checked, clock, moment, mapped))
        keys = segment.identity_keys(checked)
    except Rejected as exc:
        return Decision(message_id, None, (), exc.reason, str(exc))
    except Exception as exc:  # a bug must cost one record, not the process
        return Decision(message_id, None, (), INTERNAL_ERROR, describe(exc))
    return record(Decision, (message_id, checked, tuple(verdicts), None, "", keys, moment))


def decide_record(
    value: bytes | None,
    decoder: Decoder,
    destinations: tuple[Destination, ...],
    place: Located = NOWHERE,
    *,
    now: datetime | None = None,
) -> Decision:
    """The decision for one Kafka record value. May raise `Unavailable` (registry down): the
    record is not at fault and is read again later. Any other error decides the record."""
    try:
        message = decoder.decode(value)
    except Unavailable:
        raise
    except Rejected as exc:
        reason, detail = exc.reason, str(exc)
    except Exception as exc:  # a bug must cost one record, not the process
        reason, detail = INTERNAL_ERROR, describe(exc)
    else:
        return decide_message(message, destinations, place, now=now)
    return Decision(
        segment.fallback_id(place.topic, place.partition, place.offset), None, (), reason, detail
    )
