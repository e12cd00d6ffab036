"""The exceptions users and operators see, under one root: each says in one sentence what is
at fault. Dead letters name these classes in `__connect.errors.exception.class.name`."""

from __future__ import annotations

from typing import Literal

# -- One vocabulary for how a record ends, from the answer to the dead letter ----------------
# The decision's verdict on a record at one destination.
Action = Literal["deliver", "filtered", "invalid"]
# What one answer of Movable Ink means (`retry.classify`).
Attempt = Literal["accepted", "retry", "refused"]
# Why an attempt has no HTTP status (`Answer.error`); "internal" is an error of ours.
AnswerError = Literal["timeout", "connect", "protocol", "network", "internal"]
# How a record ends at a destination: the words of `events_total` and of the summaries.
Outcome = Literal["delivered", "filtered", "dead_lettered"]

# Reason codes: a dead letter's `movableink.reason`, the `reason` label of `events_total`. A
# request that did not end accepted ends with one of the first four.
INTERNAL_ERROR = "internal.error"  # an error nobody expected
HTTP_REJECTED = "http.rejected"  # Movable Ink refused the request for good
RETRIES_EXHAUSTED = "retries.exhausted"  # retried for the whole retry window
ORDERING_HELD = "ordering.held"  # an earlier event of the person was dead-lettered
MESSAGE_INVALID = "message.invalid"  # the record is no message (when nothing more precise)
MAPPING_UNENCODABLE = "mapping.unencodable"  # the mapped body cannot be JSON
TOO_OLD = "too_old"  # older than the destination's `max_event_age`
INTEGRATIONS_DISABLED = "integrations.disabled"  # filtered: the event's `integrations` say so
TRIGGER_NO_MATCH = "trigger.no_match"  # filtered: no mapping's trigger matches
REPLAY_FILTER = "replay.filter"  # filtered: a replay's `--filter` does not match

MAX_DETAIL_CHARS = 500  # an exception's text in a dead letter, bounded


def describe(exc: BaseException) -> str:
    """An unexpected error as one bounded line: its class and message, never a traceback."""
    return f"{type(exc).__name__}: {exc}"[:MAX_DETAIL_CHARS]


class ConsumerError(Exception):
    """The root of every error this package raises on purpose."""


class ConfigError(ConsumerError, ValueError):
    """The configuration is unusable; the message names the setting. Start-up stops."""


class BrokerError(ConsumerError):
    """Kafka refused or failed an operation; the message says which and why."""


class Unavailable(ConsumerError):
    """A dependency (schema registry, broker) did not answer: retry the record later."""


class Rejected(ConsumerError):
    """A record that can never be delivered: it goes to the dead-letter topic with `reason`."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class DecodeError(Rejected):
    """The record's bytes are not a message in the configured encoding (`decode.*`)."""


class InvalidMessage(Rejected):
    """The decoded message is not one Segment would accept (`message.*`)."""


class InvalidEvent(Rejected):
    """A destination cannot take the event as mapped (`signals.*`, `mapping.*`, `too_old`)."""


class DeliveryRejected(Rejected):
    """Movable Ink refused the event for good (`http.rejected`)."""


class RetriesExhausted(Rejected):
    """The event was retried for the whole retry window (`retries.exhausted`)."""


class HeldBack(Rejected):
    """An earlier event of the person was dead-lettered (`ordering.held`)."""


def described_class(detail: str) -> str | None:
    """The class name `describe` put at the start of `detail`, or None if it has none."""
    name, colon, _ = detail.partition(": ")
    return name if colon and name.isidentifier() else None


def class_for(reason: str) -> type[Rejected]:
    """The exception class a dead letter with this reason code names."""
    family = reason.split(".", 1)[0]
    return _BY_FAMILY.get(family, Rejected)


_BY_FAMILY: dict[str, type[Rejected]] = {
    "decode": DecodeError,
    "message": InvalidMessage,
    "signals": InvalidEvent,
    "mapping": InvalidEvent,
    "too_old": InvalidEvent,
    "http": DeliveryRejected,
    "retries": RetriesExhausted,
    "ordering": HeldBack,
}
