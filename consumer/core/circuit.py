"""Outage detector for one destination: a circuit breaker with probes, and a throttle.

Closed: requests flow. After `threshold` retryable failures in a row (5xx, 429, timeouts,
refused connections) with no success between them, it opens: requests wait, and one probe at a
time is let through every `probe_interval_s` (doubling at each failed probe, up to
`max_probe_interval_s`); answers to requests sent before it opened are not probes and change
nothing. The first success closes it. Time spent open is summed in `down_total`, so a
per-event retry window counts only the time the destination was otherwise healthy: an outage
of any length dead-letters nothing. A `Retry-After` (429, 503) holds every request of the
destination until it passes (at most 5 minutes, however long the answer asks).
Pure state: the caller passes the clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

State = Literal["closed", "open"]


@dataclass
class Circuit:
    threshold: int
    probe_interval_s: float
    max_probe_interval_s: float
    failures: int = 0
    state: State = "closed"
    opened_at: float = 0.0
    next_probe_at: float = 0.0
    probing: bool = False
    throttled_until: float = 0.0
    _interval: float = field(default=0.0, repr=False)
    _down_before: float = field(default=0.0, repr=False)

    def down_total(self, now: float) -> float:
        """Seconds the circuit has been open, over its whole life."""
        current = now - self.opened_at if self.state == "open" else 0.0
        return self._down_before + current

    def wait_s(self, now: float) -> float:
        """0 if a request may go now (see `begin`), else seconds worth waiting before asking."""
        if self.throttled_until > now:
            return self.throttled_until - now
        if self.state == "closed":
            return 0.0
        if self.probing:
            return self._interval
        return max(0.0, self.next_probe_at - now)

    def begin(self, now: float) -> bool:
        """Claim the right to send now; True if this request is the probe of an open circuit."""
        if self.state == "open":
            self.probing = True
            return True
        return False

    def succeeded(self, now: float) -> None:
        self.failures = 0
        self.probing = False
        if self.state == "open":
            self._down_before += now - self.opened_at
            self.state = "closed"

    def hold_s(self, now: float) -> float:
        """Seconds left of a `Retry-After` hold (0 if none)."""
        return max(0.0, self.throttled_until - now)

    def abandon_probe(self) -> None:
        """The probe ended with no answer of the destination's (an error of ours): the next
        request may probe at once."""
        self.probing = False

    def failed(self, now: float, retry_after_s: float | None = None, probe: bool = False) -> None:
        """A retryable failure (a permanent 4xx is an answer: call `succeeded`). `probe`: the
        request was the probe of the open circuit; only a failed probe delays the next one."""
        if retry_after_s:
            self.throttled_until = max(self.throttled_until, now + retry_after_s)
        if self.state == "open":
            if probe:
                self.probing = False
                self._interval = min(self._interval * 2, self.max_probe_interval_s)
                self.next_probe_at = now + self._interval
            return
        self.failures += 1
        if self.failures >= self.threshold:
            self.state = "open"
            self.opened_at = now
            self._interval = self.probe_interval_s
            self.next_probe_at = now + self._interval
