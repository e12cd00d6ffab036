"""Ordered, concurrent delivery to one destination: scheduling, retries, circuit, outcomes.

A `Job` is one record's requests for one destination. The `Scheduler` starts a job only after
the previous job of each of its identity keys has finished; started jobs run concurrently, at
most `max_in_flight` requests at a time (fewer while Movable Ink answers 429), and within the
optional request-rate ceiling. A retrying job holds back only its own keys. In batch mode the
started jobs' events are gathered into `{"events": [...]}` requests. Runs on the asyncio loop;
the only I/O is the `Transport`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from consumer.batching import Batcher, Item, content
from consumer.circuit import Circuit
from consumer.deadletter import Failure
from consumer.decision import INTERNAL_ERROR, MAX_DETAIL_CHARS, Delivery
from consumer.limits import AdaptiveLimit, RateLimit
from consumer.metrics import Metrics
from consumer.movableink import Destination, Request
from consumer.ordering import Scheduler
from consumer.retry import RetryPolicy, classify, parse_retry_after
from consumer.transport import Answer, Transport

log = logging.getLogger(__name__)
TOO_MANY_REQUESTS = 429


@dataclass(eq=False)
class Job:
    """One record's requests for one destination; identity is the object (eq=False)."""

    message_id: str
    keys: tuple[str, ...]
    deliveries: tuple[Delivery, ...]
    event_time: float | None = None  # epoch seconds of the event, for end-to-end latency
    partition: tuple[str, int] = ("", -1)
    failures: list[Failure] = field(default_factory=list)
    started: bool = False
    queued_at: float = field(default_factory=time.time)
    outstanding: int = 0  # batch mode: deliveries not yet settled


@dataclass(frozen=True)
class DeliverySettings:
    max_in_flight: int = 256
    policy: RetryPolicy = RetryPolicy()
    circuit_threshold: int = 10
    probe_interval_s: float = 1.0
    max_probe_interval_s: float = 30.0


@dataclass(frozen=True)
class Result:
    """How a request ended after all its attempts."""

    outcome: Literal["delivered", "permanent", "exhausted", "internal"]
    answer: Answer
    attempts: int
    first: float
    last: float
    healthy_s: float = 0.0

    def failure(self, message_id: str, destination: str) -> Failure | None:
        answer = self.answer
        if self.outcome == "delivered":
            return None
        exception = None
        if self.outcome == "permanent":
            reason, text = "http.rejected", f"Movable Ink answered {answer.status} for good."
        elif self.outcome == "internal":
            reason, text = INTERNAL_ERROR, answer.detail
            exception = answer.detail.partition(":")[0]
        else:
            reason = "retries.exhausted"
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
        )


def _unexpected(exc: Exception, destination: Destination) -> Answer:
    """An exception nobody expected, as an `internal` answer; the URL's key is masked."""
    text = f"{type(exc).__name__}: {exc}"[:MAX_DETAIL_CHARS]
    text = text.replace(destination.movable_ink_url, destination.masked_url)
    log.error(  # the text, not the exception: its message could quote the URL's key
        "unexpected error delivering an event",
        extra={"destination": destination.name, "error": text},
    )
    return Answer(status=None, error="internal", detail=text)


class Finisher(Protocol):
    """Who is told when a job is done: delivered, or failed for good (see `job.failures`)."""

    def job_finished(self, job: Job) -> None: ...


class DestinationWorker:
    """Delivers jobs to one destination; isolated from the others (own circuit, own pool)."""

    def __init__(
        self,
        destination: Destination,
        transport: Transport,
        settings: DeliverySettings,
        outcomes: Finisher,
        metrics: Metrics,
        *,
        clock: Callable[[], float] = time.time,
        rnd: random.Random | None = None,
    ) -> None:
        self.destination = destination
        name = destination.name
        self._transport = transport
        self._settings = settings
        self._outcomes = outcomes
        self._metrics = metrics
        self._clock = clock
        self._rnd = rnd or random.Random()
        self._scheduler: Scheduler[Job] = Scheduler()
        self._limit = AdaptiveLimit(
            settings.max_in_flight, adaptive=destination.adaptive_concurrency
        )
        self._rate = RateLimit(destination.max_requests_per_second)
        self._closed = asyncio.Event()  # set while the circuit is closed
        self._closed.set()
        self._prober_waiting = False  # one waiter times the next probe of an open circuit
        self._tasks: set[asyncio.Task[None]] = set()
        self._held: set[str] = set()  # keys whose earlier job was dead-lettered ("hold" policy)
        self._batcher = (
            Batcher(destination.batch, self._send_batch) if destination.batch.enabled else None
        )
        self._reported_state = "closed"
        self.circuit = Circuit(
            threshold=settings.circuit_threshold,
            probe_interval_s=settings.probe_interval_s,
            max_probe_interval_s=settings.max_probe_interval_s,
        )
        metrics.circuit_open.labels(name).set(0)
        metrics.events.labels(name, "delivered", "")  # exported at 0 from the start
        metrics.rate_ceiling.labels(name).set(destination.max_requests_per_second)
        metrics.rate_waits.labels(name)
        metrics.held_back.labels(name).set_function(self.held_back)
        metrics.oldest_held_age.labels(name).set_function(self.oldest_held_age)
        metrics.concurrency_limit.labels(name).set_function(lambda: int(self._limit.limit))
        metrics.hold_seconds.labels(name).set_function(lambda: self.circuit.hold_s(self._clock()))

    def __len__(self) -> int:
        """Jobs submitted and not finished."""
        return len(self._scheduler)

    def submit(self, job: Job) -> None:
        if self._scheduler.add(job, job.keys):
            self._start(job)

    def abandon(self, partitions: set[tuple[str, int]]) -> None:
        """Drop the not-yet-started jobs of revoked partitions; their new owner delivers them."""
        waiting = [j for j in self._scheduler if j.partition in partitions and not j.started]
        for job in waiting:
            for ready in self._scheduler.remove(job):
                self._start(ready)

    def held_back(self) -> int:
        """Jobs waiting behind an unfinished earlier job of the same person."""
        return sum(1 for job in self._scheduler if not job.started)

    def oldest_held_age(self) -> float:
        """Seconds the longest-waiting held-back job has waited (0 if none)."""
        waiting = [job.queued_at for job in self._scheduler if not job.started]
        return max(0.0, time.time() - min(waiting)) if waiting else 0.0

    # -- starting and finishing jobs ---------------------------------------------------

    def _start(self, job: Job) -> None:
        job.started = True
        if self.destination.on_dead_letter == "hold" and self._held.intersection(job.keys):
            job.failures.extend(self._held_failure(job) for _ in job.deliveries)
            self._finish(job)
        elif self._batcher is not None:
            job.outstanding = len(job.deliveries)
            for delivery in job.deliveries:
                # A mapping whose data resolves to nothing is an empty event in a batch.
                self._batcher.add(delivery.request.headers, Item(job, delivery.content or b"{}"))
        else:
            self._spawn(self._run(job))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _held_failure(self, job: Job) -> Failure:
        return Failure(
            "ordering.held",
            "An earlier event of this person was dead-lettered (on_dead_letter=hold).",
            job.message_id,
            self.destination.name,
        )

    async def _run(self, job: Job) -> None:
        """Deliver the job's requests in turn. Cancelled (shutdown), it does not finish: its
        record stays uncommitted and is delivered again by whoever reads it next."""
        for delivery in job.deliveries:
            result = await self._send_total(delivery.request, delivery.content, [job.event_time])
            failure = result.failure(job.message_id, self.destination.name)
            if failure is not None:
                job.failures.append(failure)
        self._finish(job)

    def _finish(self, job: Job) -> None:
        if self.destination.on_dead_letter == "hold":
            if job.failures:
                self._held.update(job.keys)
            # A key stays held only while events of it are still waiting; then it is released.
            for key in job.keys:
                if self._scheduler.waiting_behind(key) == 0:
                    self._held.discard(key)
        for ready in self._scheduler.finish(job):
            self._start(ready)
        self._outcomes.job_finished(job)

    # -- batch mode ------------------------------------------------------------------------

    def _send_batch(self, headers: dict[str, str], items: list[Item]) -> None:
        self._spawn(self._run_batch(headers, items))

    async def _run_batch(self, headers: dict[str, str], items: list[Item]) -> None:
        """Send a batch; on a permanent answer split it in halves (in order) to find the
        events at fault, so that only those are dead-lettered."""
        request = Request(self.destination.movable_ink_url, headers, None)
        times = [item.owner.event_time for item in items]
        result = await self._send_total(request, content(items), times)
        if result.outcome == "permanent" and len(items) > 1:
            middle = len(items) // 2
            await self._run_batch(headers, items[:middle])
            await self._run_batch(headers, items[middle:])
            return
        for item in items:
            self._settle(item, result)

    def _settle(self, item: Item, result: Result) -> None:
        job: Job = item.owner
        failure = result.failure(job.message_id, self.destination.name)
        if failure is not None:
            job.failures.append(failure)
        job.outstanding -= 1
        if job.outstanding == 0:
            self._finish(job)

    # -- one request, all its attempts -----------------------------------------------------

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

    async def _attempt(self, request: Request, body: bytes) -> tuple[bool, Answer]:
        """One attempt; True with the answer if it was the probe of an open circuit.

        The circuit is asked again once a concurrency slot is free: a request that queued for
        a slot while the destination went down goes back to the gate instead of going out
        anyway. Slots are never held at the gate, so a probe always finds one.
        """
        name = self.destination.name
        while True:
            probe = await self._gate()
            await self._limit.acquire()
            circuit = self.circuit
            if probe or (circuit.state == "closed" and circuit.wait_s(self._clock()) <= 0):
                break
            self._limit.release()
        try:
            waited = await self._rate.wait()
            if waited:
                self._metrics.rate_waits.labels(name).inc(waited)
            self._metrics.in_flight.labels(name).inc()
            started = time.perf_counter()
            try:
                return probe, await self._transport.post(request, body)
            except Exception as exc:  # not an answer: never a success, never a retry
                return probe, _unexpected(exc, self.destination)
            finally:
                self._metrics.request_seconds.labels(name).observe(time.perf_counter() - started)
                self._metrics.in_flight.labels(name).dec()
        finally:
            self._limit.release()

    async def _send_total(
        self, request: Request, body: bytes, event_times: list[float | None]
    ) -> Result:
        """`_send`, with any unexpected error of ours turned into an `internal` result."""
        try:
            return await self._send(request, body, event_times)
        except Exception as exc:
            now = self._clock()
            self.circuit.abandon_probe()
            return Result("internal", _unexpected(exc, self.destination), 0, now, now)

    async def _send(self, request: Request, body: bytes, event_times: list[float | None]) -> Result:
        """Attempt until delivered, refused for good, or out of retries."""
        name = self.destination.name
        policy = self._settings.policy
        first = self._clock()
        down_at_first = self.circuit.down_total(first)
        attempts = 0
        while True:
            probe, answer = await self._attempt(request, body)
            now = self._clock()
            self._count(answer)
            if answer.error == "internal":
                if probe:
                    self.circuit.abandon_probe()
                return Result("internal", answer, attempts + 1, first, now)
            outcome = classify(answer.status)
            if outcome != "retry":
                self.circuit.succeeded(now)
                self._limit.succeeded()
                self._signal()
                if outcome == "delivered":
                    for moment in event_times:
                        if moment is not None:
                            self._metrics.end_to_end_seconds.labels(name).observe(now - moment)
                    return Result("delivered", answer, attempts + 1, first, now)
                return Result("permanent", answer, attempts + 1, first, now)
            if answer.status == TOO_MANY_REQUESTS:
                self._limit.throttled()
            was_closed = self.circuit.state == "closed" and not probe
            retry_after = parse_retry_after(
                answer.retry_after, datetime.fromtimestamp(now, UTC), policy.max_retry_after_s
            )
            self.circuit.failed(now, retry_after, probe=probe)
            self._signal()
            if was_closed:
                attempts += 1
            healthy = (now - first) - (self.circuit.down_total(now) - down_at_first)
            if policy.gives_up(attempts, healthy):
                return Result("exhausted", answer, attempts, first, now, healthy)
            self._metrics.retries.labels(name).inc()
            if was_closed:
                await asyncio.sleep(policy.delay(attempts, retry_after, self._rnd))

    def _count(self, answer: Answer) -> None:
        """One answer counted by status, or by error kind when none came back."""
        code = str(answer.status) if answer.status is not None else (answer.error or "error")
        self._metrics.http_responses.labels(self.destination.name, code).inc()

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._transport.aclose()
