"""The exceptions users and operators see, under one root: each says in one sentence what is
at fault. Dead letters name these classes in `__connect.errors.exception.class.name`."""

from __future__ import annotations

INTERNAL_ERROR = "internal.error"  # the reason code of an error nobody expected
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
