"""The exceptions users and operators see: each says in one sentence what is at fault."""

from __future__ import annotations


class ConfigError(ValueError):
    """The configuration is unusable; the message names the setting. Start-up stops."""


class Rejected(Exception):
    """A record that can never be delivered: it goes to the dead-letter topic with `reason`."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class Unavailable(Exception):
    """A dependency (schema registry, broker) did not answer: retry the record later."""
