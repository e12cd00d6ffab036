"""What the stand-in saw: accepted events in arrival order, by person, and rejected requests.

Written from the server's event loop and read from test threads, so every access holds one lock;
a condition on that lock lets tests wait for arrivals instead of sleeping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any


def person_keys(event: Mapping[str, Any]) -> tuple[str, ...]:
    """The identity keys the consumer orders by: anonymousId (previousId for alias) and userId."""
    first = "previousId" if event.get("type") == "alias" else "anonymousId"
    keys: list[str] = []
    for field in (first, "userId"):
        value = event.get(field)
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str) and value and value not in keys:
            keys.append(value)
    return tuple(keys)


def _json(record: Received | Rejected) -> dict[str, Any]:
    """A record's fields as JSON values (its tuples as lists), as the control API sends them."""
    found = {f.name: getattr(record, f.name) for f in fields(record)}
    return {name: list(v) if isinstance(v, tuple) else v for name, v in found.items()}


@dataclass(frozen=True, slots=True)
class Received:
    """One accepted event. `seq` counts accepted events, `request` counts all answered requests."""

    seq: int
    time: float  # epoch seconds when it was accepted (after any injected latency)
    request: int
    api_key: str
    message_id: str | None
    person_keys: tuple[str, ...]
    event: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        return _json(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Received:
        """Rebuild a record fetched from `GET /_standin/received`, so the checks run on it too."""
        return cls(
            **{f.name: data[f.name] for f in fields(cls)}
            | {"person_keys": tuple(data["person_keys"])}
        )


@dataclass(frozen=True, slots=True)
class Rejected:
    """One request not accepted; `status` is None when it was held unanswered (timeout fault)."""

    request: int
    time: float
    api_key: str | None
    status: int | None
    reason: str
    message_ids: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return _json(self)


def message_ids(events: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    return tuple(m for e in events if isinstance(m := e.get("messageId"), str))


class Recorder:
    """Thread-safe, append-only log of one stand-in's traffic until `clear()`."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._requests = 0
        self._received: list[Received] = []
        self._by_person: dict[str, list[Received]] = {}
        self._rejected: list[Rejected] = []
        self._rejected_by_status: dict[str, int] = {}

    def accept(self, api_key: str, events: Sequence[Mapping[str, Any]]) -> None:
        with self._changed:
            now = time.time()
            request = self._requests
            self._requests += 1
            for event in events:
                mid = event.get("messageId")
                item = Received(
                    seq=len(self._received),
                    time=now,
                    request=request,
                    api_key=api_key,
                    message_id=mid if isinstance(mid, str) else None,
                    person_keys=person_keys(event),
                    event=event,
                )
                self._received.append(item)
                for key in item.person_keys:
                    self._by_person.setdefault(key, []).append(item)
            self._changed.notify_all()

    def reject(
        self, api_key: str | None, status: int | None, reason: str, ids: tuple[str, ...] = ()
    ) -> None:
        with self._changed:
            now = time.time()
            self._rejected.append(Rejected(self._requests, now, api_key, status, reason, ids))
            self._requests += 1
            label = "hang" if status is None else str(status)
            self._rejected_by_status[label] = self._rejected_by_status.get(label, 0) + 1
            self._changed.notify_all()

    def received(self, person: str | None = None, since: int = 0) -> list[Received]:
        """Accepted events with `seq >= since`, all or only those carrying identity key `person`."""
        with self._changed:
            if person is None:
                return self._received[since:]
            return [r for r in self._by_person.get(person, ()) if r.seq >= since]

    def rejected(self, since: int = 0) -> list[Rejected]:
        with self._changed:
            return self._rejected[since:]

    def counts(self) -> dict[str, Any]:
        with self._changed:
            return {
                "requests": self._requests,
                "accepted_events": len(self._received),
                "rejected": dict(self._rejected_by_status),
            }

    def clear(self) -> None:
        with self._changed:
            self._requests = 0
            self._received = []
            self._by_person = {}
            self._rejected = []
            self._rejected_by_status = {}
            self._changed.notify_all()

    def wait_until(self, ready: Callable[[], bool], timeout: float) -> None:
        """Block until `ready()`, checked under the lock, holds; TimeoutError after `timeout`."""
        with self._changed:
            if not self._changed.wait_for(ready, timeout):
                raise TimeoutError(f"The stand-in did not see the expected traffic in {timeout} s.")

    def received_count(self) -> int:
        return len(self._received)

    def rejected_count(self) -> int:
        return len(self._rejected)
