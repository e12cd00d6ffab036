"""All the attempts of one request to one destination: the circuit gate and its probes,
the concurrency and rate limits, retries with backoff and `Retry-After` holds.

A `Sender` belongs to one destination's worker (`delivery`), which decides what to send and in
which order; the sender decides when each attempt may go and when to give up, and ends every
request in a `Result`: accepted, or with the reason code its dead letter carries. Runs on the
asyncio loop; the only I/O is the `Transport`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import NamedTuple

from consumer.core import retry
from consumer.core.circuit import Circuit
from consumer.core.deadletter import Failure
from consumer.core.errors import HTTP_REJECTED, INTERNAL_ERROR, RETRIES_EXHAUSTED, describe
from consumer.core.movableink import Destination, Request
from consumer.settings import DeliverySettings
from consumer.shell.delivery.limits import AdaptiveLimit, RateLimit
from consumer.shell.http.transport import Answer, Transport
from consumer.shell.metrics import Metrics

log = logging.getLogger(__name__)
TOO_MANY_REQUESTS = 429


class Result(NamedTuple):
    """How a request ended after all its attempts (a tuple, like `Answer`: one per request):
    accepted (`reason` None), or refused for good, out of retries or failed by an error of
    ours, with that reason code (`HTTP_REJECTED`, `RETRIES_EXHAUSTED`, `INTERNAL_ERROR`)."""

    reason: str | None
    answer: Answer
    attempts: int
    first: float
    last: float
    healthy_s: float = 0.0
    first_sent: float = 0.0  # when the first attempt went out (0: none did)
    last_sent: float = 0.0  # when the last one did

    @property
    def accepted(self) -> bool:
        return self.reason is None

    def failure(self, message_id: str, destination: str, mapping: str) -> Failure | None:
        answer, reason = self.answer, self.reason
        if reason is None:
            return None
        exception = None
        if reason == HTTP_REJECTED:
            text = f"Movable Ink answered {answer.status} for good."
        elif reason == INTERNAL_ERROR:
            text = answer.detail
            exception = answer.detail.partition(":")[0]
        else:
            text = (
                f"Gave up after {self.attempts} attempts over {self.healthy_s:.0f} s of "
                f"retrying; last answer {answer.status or answer.error}."
            )
        return Failure(
            reason,
            text,
            message_id,
            destination,
            answer.status,
            self.attempts,
            self.first,
            self.last,
            exception,
            mapping,
        )


def _unexpected(exc: Exception, destination: Destination) -> Answer:
    """An exception nobody expected, as an `internal` answer; the URL's key is masked."""
    text = describe(exc)
    text = text.replace(destination.movable_ink_url, destination.masked_url)
    log.error(  # the text, not the exception: its message could quote the URL's key
        "unexpected error delivering an event",
        extra={"destination": destination.name, "error": text},
    )
    return Answer(status=None, error="internal", detail=text)


class Sender:
    """Sends requests to one destination, each through all its attempts."""

    def __init__(
        self,
        destination: Destination,
        transport: Transport,
        settings: DeliverySettings,
        metrics: Metrics,
        *,
        clock: Callable[[], float] = time.time,
        rnd: random.Random | None = None,
    ) -> None:
        self.destination = destination
        name = destination.name
        self._transport = transport
        self._settings = settings
        self._metrics = metrics
        self._clock = clock
        self._rnd = rnd or random.Random()
        self._limit = AdaptiveLimit(
            settings.max_in_flight, adaptive=destination.adaptive_concurrency
        )
        self._rate = RateLimit(destination.max_requests_per_second)
        self._closed = asyncio.Event()  # set while the circuit is closed
        self._closed.set()
        self._prober_waiting = False  # one waiter times the next probe of an open circuit
        self._reported_state = "closed"
        self.circuit = Circuit(
            settings.circuit_threshold, settings.probe_interval, settings.max_probe_interval
        )
        # Bound once: labels() costs more than the update, and these change per request.
        self._sending = 0  # requests under way, read at scrape time
        metrics.in_flight.labels(name).set_function(lambda: self._sending)
        self._rate_waits = metrics.rate_waits.labels(name)
        self._request_seconds = metrics.request_seconds.labels(name)
        self._end_to_end = metrics.end_to_end_seconds.labels(name)
        metrics.circuit_open.labels(name).set(0)
        metrics.rate_ceiling.labels(name).set(destination.max_requests_per_second)
        metrics.concurrency_limit.labels(name).set_function(lambda: int(self._limit.limit))
        metrics.hold_seconds.labels(name).set_function(lambda: self.circuit.hold_s(self._clock()))

    async def send(self, request: Request, body: bytes, event_times: list[float | None]) -> Result:
        """Attempt until delivered, refused for good, or out of retries; any unexpected error
        of ours becomes an `internal` result (never raised, never a success)."""
        try:
            return await self._send(request, body, event_times)
        except Exception as exc:
            now = self._clock()
            self.circuit.abandon_probe()
            return Result(INTERNAL_ERROR, _unexpected(exc, self.destination), 0, now, now)

    def parks(self) -> bool:
        """True while the circuit is open and a request already waits to probe it (or is the
        probe): a new request would only wait behind it, so it need not start yet."""
        return self.circuit.state == "open" and (self._prober_waiting or self.circuit.probing)

    async def _gate(self) -> bool:
        """Wait until a request may go; True if it is the probe of an open circuit.

        While the circuit is open, one waiter (the would-be prober) waits for the next probe
        time; all others wait, without timers, for the circuit to close. With thousands of
        events waiting on a down destination, waking them all at every failed probe would
        burn the CPU the healthy destinations need.
        """
        while True:
            now = self._clock()
            wait = self.circuit.wait_s(now)
            if wait <= 0:
                return self.circuit.begin(now)
            if self.circuit.state == "open" and self._prober_waiting:
                await self._closed.wait()
                continue
            prober = self.circuit.state == "open"
            self._prober_waiting = self._prober_waiting or prober
            try:
                await asyncio.sleep(wait)
            finally:
                if prober:
                    self._prober_waiting = False

    def _signal(self) -> None:
        """The circuit or throttle may have changed: wake waiters, report a state change."""
        if self.circuit.state == "closed":
            self._closed.set()
        else:
            self._closed.clear()
        state = self.circuit.state
        if state != self._reported_state:
            self._reported_state = state
            self._metrics.circuit_open.labels(self.destination.name).set(state == "open")
            log.warning(
                "circuit %s: %s",
                "opened" if state == "open" else "closed",
                "destination down, requests wait for probes" if state == "open" else "recovered",
                extra={"destination": self.destination.name, "url": self.destination.masked_url},
            )

    async def _attempt(self, request: Request, body: bytes) -> tuple[bool, Answer, float]:
        """One attempt: True if it was the probe of an open circuit, the answer, and when it
        went out.

        The circuit is asked again once a concurrency slot is free: a request that queued for
        a slot while the destination went down goes back to the gate instead of going out
        anyway. Slots are never held at the gate, so a probe always finds one.
        """
        while True:
            if self._open() and self._limit.try_acquire():
                probe = False  # the common case, without a wait: no coroutine to run
                break
            probe = await self._gate()
            await self._limit.acquire()
            if probe or self._open():
                break
            self._limit.release()
        try:
            if self._rate.limited:
                waited = await self._rate.wait()
                if waited:
                    self._rate_waits.inc(waited)
            self._sending += 1
            sent = self._clock()
            started = time.perf_counter()
            try:
                return probe, await self._transport.post(request, body), sent
            except Exception as exc:  # not an answer: never a success, never a retry
                return probe, _unexpected(exc, self.destination), sent
            finally:
                self._request_seconds.observe(time.perf_counter() - started)
                self._sending -= 1
        finally:
            self._limit.release()

    def _open(self) -> bool:
        """A request may go now without being a probe: the circuit is closed, nothing holds."""
        return self.circuit.state == "closed" and self.circuit.wait_s(self._clock()) <= 0

    async def _send(self, request: Request, body: bytes, event_times: list[float | None]) -> Result:
        """Attempt until delivered, refused for good, or out of retries."""
        name = self.destination.name
        first = self._clock()
        down_at_first = self.circuit.down_total(first)
        attempts = 0
        first_sent = 0.0
        while True:
            probe, answer, sent = await self._attempt(request, body)
            now = self._clock()
            first_sent = first_sent or sent
            self._count(answer)
            if answer.error == "internal":
                if probe:
                    self.circuit.abandon_probe()
                return Result(INTERNAL_ERROR, answer, attempts + 1, first, now)
            kind = retry.classify(answer.status)
            if kind != "retry":
                self.circuit.succeeded(now)
                self._limit.succeeded()
                self._signal()
                if kind == "accepted":
                    self._end_to_end.observe_since(event_times, now)
                    return Result(None, answer, attempts + 1, first, now, 0.0, first_sent, sent)
                return Result(HTTP_REJECTED, answer, attempts + 1, first, now)
            if answer.status == TOO_MANY_REQUESTS:
                self._limit.throttled()
            was_closed = self.circuit.state == "closed" and not probe
            retry_after = retry.parse_retry_after(
                answer.retry_after,
                datetime.fromtimestamp(now, UTC),
                self._settings.max_retry_after,
            )
            self.circuit.failed(now, retry_after, probe=probe)
            self._signal()
            if was_closed:
                attempts += 1
            healthy = (now - first) - (self.circuit.down_total(now) - down_at_first)
            if retry.gives_up(self._settings, attempts, healthy):
                return Result(RETRIES_EXHAUSTED, answer, attempts, first, now, healthy)
            self._metrics.retries.labels(name).inc()
            if was_closed:
                await asyncio.sleep(retry.delay(self._settings, attempts, retry_after, self._rnd))

    def _count(self, answer: Answer) -> None:
        """One answer counted by status, or by error kind when none came back."""
        code = str(answer.status) if answer.status is not None else (answer.error or "error")
        self._metrics.http_responses.labels(self.destination.name, code).inc()

    async def aclose(self) -> None:
        await self._transport.aclose()
