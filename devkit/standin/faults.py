"""Fault injection: what the stand-in answers instead of 200, steered from Python or over HTTP.

`Faults` is the whole wish, immutable and JSON round-trippable; `FaultPlan` is its live state
(rule counters, the seeded random stream, the rate-limit clock). Setting new faults restarts all
three, so with a seed the same sequence of requests gets the same sequence of answers.
"""

from __future__ import annotations

import dataclasses
import random
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

JSONScalar = str | int | float | bool | None


def _check_status(status: int, what: str) -> None:
    if not 100 <= status <= 599:
        raise ValueError(f"{what} must be an HTTP status between 100 and 599, not {status}.")


def _check_fraction(value: float, what: str) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{what} must be a fraction between 0 and 1, not {value}.")


@dataclass(frozen=True)
class Rule:
    """Answer `status` (or hold unanswered, if `hang`) to the first `times` requests (None: all)
    that carry an event whose top-level fields equal every entry of `match`, e.g.
    `{"messageId": "m1"}`, `{"userId": "u1", "type": "track"}`, `{"event": "Order Completed"}`.
    The count is per rule, and a batch counts once."""

    match: Mapping[str, JSONScalar]
    status: int = 503
    times: int | None = None
    retry_after: str | None = None
    hang: bool = False

    def __post_init__(self) -> None:
        if not self.match:
            raise ValueError("A rule needs at least one field in `match`.")
        _check_status(self.status, "A rule's status")
        if self.times is not None and self.times < 1:
            raise ValueError("A rule's `times` must be at least 1, or null for forever.")

    def matches(self, event: Mapping[str, Any]) -> bool:
        return all(event.get(name) == value for name, value in self.match.items())

    @classmethod
    def from_json(cls, data: object) -> Rule:
        d = _object(data, cls, "a rule")
        match = d.get("match")
        if not isinstance(match, dict) or not all(
            isinstance(v, str | int | float | bool | None) for v in match.values()
        ):
            raise ValueError("A rule's `match` must be an object of field names to JSON scalars.")
        retry_after = d.get("retry_after")
        if isinstance(retry_after, int) and not isinstance(retry_after, bool):
            retry_after = str(retry_after)
        if not isinstance(retry_after, str | None):
            raise ValueError("A rule's `retry_after` must be a string, a whole number or null.")
        return cls(
            match=match,
            status=_int(d, "status", 503),
            times=_optional_int(d, "times"),
            retry_after=retry_after,
            hang=_bool(d, "hang", False),
        )


@dataclass(frozen=True)
class RateLimit:
    """Answer 429 with `Retry-After: retry_after_s` to a `fraction` of requests, for `duration_s`
    seconds from when the faults were set (None: until they change)."""

    fraction: float = 1.0
    retry_after_s: int = 1
    duration_s: float | None = None

    def __post_init__(self) -> None:
        _check_fraction(self.fraction, "rate_limit.fraction")
        if self.retry_after_s < 0:
            raise ValueError("rate_limit.retry_after_s must not be negative.")

    @classmethod
    def from_json(cls, data: object) -> RateLimit:
        d = _object(data, cls, "rate_limit")
        duration = d.get("duration_s")
        return cls(
            fraction=_number(d, "fraction", 1.0),
            retry_after_s=_int(d, "retry_after_s", 1),
            duration_s=None if duration is None else _number(d, "duration_s", 0.0),
        )


@dataclass(frozen=True)
class Faults:
    """Everything the stand-in does wrong on purpose; the default does nothing wrong.

    Order of precedence for a valid request: the first rule with attempts left, then `hang`
    (hold every request unanswered), then the rate limit, then the random `error_rate`.
    Latency (`latency_ms` plus up to `jitter_ms`) is added to every request first.
    """

    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    error_rate: float = 0.0
    error_status: int = 503
    rate_limit: RateLimit | None = None
    hang: bool = False
    rules: tuple[Rule, ...] = ()
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.latency_ms < 0 or self.jitter_ms < 0:
            raise ValueError("latency_ms and jitter_ms must not be negative.")
        _check_fraction(self.error_rate, "error_rate")
        _check_status(self.error_status, "error_status")

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["rules"] = list(data["rules"])
        return data

    @classmethod
    def from_json(cls, data: object) -> Faults:
        """Parse the body of `POST /_standin/faults`; a ValueError says what is wrong."""
        d = _object(data, cls, "the faults")
        rate_limit = d.get("rate_limit")
        rules = d.get("rules", [])
        if not isinstance(rules, list):
            raise ValueError("`rules` must be a list.")
        return cls(
            latency_ms=_number(d, "latency_ms", 0.0),
            jitter_ms=_number(d, "jitter_ms", 0.0),
            error_rate=_number(d, "error_rate", 0.0),
            error_status=_int(d, "error_status", 503),
            rate_limit=None if rate_limit is None else RateLimit.from_json(rate_limit),
            hang=_bool(d, "hang", False),
            rules=tuple(Rule.from_json(r) for r in rules),
            seed=_optional_int(d, "seed"),
        )


@dataclass(frozen=True, slots=True)
class Decision:
    """A fault chose the answer: `status` (None: hold unanswered) and an optional Retry-After."""

    reason: str
    status: int | None
    retry_after: str | None = None


class FaultPlan:
    """The faults in force and their live state; thread-safe."""

    def __init__(self, faults: Faults) -> None:
        self._lock = threading.Lock()
        self._faults = faults
        self._remaining: list[int | None] = []
        self._random = random.Random()
        self._jitter = random.Random()
        self._since = 0.0
        self.replace(faults)

    @property
    def faults(self) -> Faults:
        return self._faults

    def remaining(self) -> list[int | None]:
        """Attempts each rule will still fail (None: forever)."""
        with self._lock:
            return list(self._remaining)

    def replace(self, faults: Faults) -> None:
        with self._lock:
            self._faults = faults
            self._remaining = [rule.times for rule in faults.rules]
            self._random = random.Random(faults.seed)
            self._jitter = random.Random(None if faults.seed is None else faults.seed + 1)
            self._since = time.monotonic()

    def delay_s(self) -> float:
        faults = self._faults
        if not faults.jitter_ms:
            return faults.latency_ms / 1000
        with self._lock:
            return (faults.latency_ms + self._jitter.uniform(0, faults.jitter_ms)) / 1000

    def decide(self, events: Sequence[Mapping[str, Any]]) -> Decision | None:
        """The fault that answers this valid request, or None to accept it."""
        with self._lock:
            faults = self._faults
            for i, rule in enumerate(faults.rules):
                left = self._remaining[i]
                if left != 0 and any(rule.matches(e) for e in events):
                    self._remaining[i] = None if left is None else left - 1
                    return Decision("rule", None if rule.hang else rule.status, rule.retry_after)
            if faults.hang:
                return Decision("hang", None)
            limit = faults.rate_limit
            if (
                limit is not None
                and (limit.duration_s is None or time.monotonic() - self._since < limit.duration_s)
                and self._random.random() < limit.fraction
            ):
                return Decision("rate_limit", 429, str(limit.retry_after_s))
            if faults.error_rate and self._random.random() < faults.error_rate:
                return Decision("error_rate", faults.error_status)
            return None


def _object(data: object, cls: type, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValueError(f"{what[0].upper()}{what[1:]} must be a JSON object.")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"Unknown field(s) {unknown} in {what}; known: {sorted(known)}.")
    return data


def _number(d: Mapping[str, Any], name: str, default: float) -> float:
    value = d.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"`{name}` must be a number.")
    return float(value)


def _int(d: Mapping[str, Any], name: str, default: int) -> int:
    value = d.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"`{name}` must be a whole number.")
    return value


def _optional_int(d: Mapping[str, Any], name: str) -> int | None:
    return None if d.get(name) is None else _int(d, name, 0)


def _bool(d: Mapping[str, Any], name: str, default: bool) -> bool:
    value = d.get(name, default)
    if not isinstance(value, bool):
        raise ValueError(f"`{name}` must be true or false.")
    return value
