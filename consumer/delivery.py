"""Ordered, concurrent delivery to one destination: scheduling, retries, circuit, outcomes.

A `Job` is one record's requests for one destination. The `Scheduler` starts a job only after
the previous job of each of its identity keys has finished; started jobs run concurrently, at
most `max_in_flight` requests at a time. A retrying job holds back only its own keys. Runs on
the asyncio loop; the only I/O is the `Transport`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from consumer.circuit import Circuit
from consumer.deadletter import Failure
from consumer.decision import Delivery
from consumer.metrics import Metrics
from consumer.movableink import Destination
from consumer.ordering import Scheduler
from consumer.retry import RetryPolicy, classify, parse_retry_after
from consumer.transport import Answer, Transport

log = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class DeliverySettings:
    max_in_flight: int = 256
    policy: RetryPolicy = RetryPolicy()
    circuit_threshold: int = 10
    probe_interval_s: float = 1.0
    max_probe_interval_s: float = 30.0


class DestinationWorker:
    """Delivers jobs to one destination; isolated from the others (own circuit, own pool)."""

    def __init__(
        self,
        destination: Destination,
        transport: Transport,
        settings: DeliverySettings,
        on_finished: Callable[[Job], None],
        metrics: Metrics,
        *,
        clock: Callable[[], float] = time.time,
        rnd: random.Random | None = None,
    ) -> None:
        self.destination = destination
        self._transport = transport
        self._settings = settings
        self._on_finished = on_finished
        self._metrics = metrics
        self._clock = clock
        self._rnd = rnd or random.Random()
        self._scheduler: Scheduler[Job] = Scheduler()
        self._slots = asyncio.Semaphore(settings.max_in_flight)
        self._changed = asyncio.Event()  # the circuit or throttle changed: waiters look again
        self._tasks: set[asyncio.Task[None]] = set()
        self._held: set[str] = set()  # keys whose earlier job was dead-lettered ("hold" policy)
        self._reported_state = "closed"
        metrics.circuit_open.labels(destination.name).set(0)
        self.circuit = Circuit(
            threshold=settings.circuit_threshold,
            probe_interval_s=settings.probe_interval_s,
            max_probe_interval_s=settings.max_probe_interval_s,
        )

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
        """Jobs waiting behind a running one of the same person."""
        return len(self._scheduler) - len(self._tasks)

    def _start(self, job: Job) -> None:
        job.started = True
        task = asyncio.get_running_loop().create_task(self._run(job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, job: Job) -> None:
        try:
            held = self.destination.on_dead_letter == "hold" and self._held.intersection(job.keys)
            for delivery in job.deliveries:
                failure: Failure | None
                if held:
                    failure = Failure(
                        "ordering.held",
                        "An earlier event of this person was dead-lettered (on_dead_letter=hold).",
                        job.message_id,
                        self.destination.name,
                    )
                else:
                    failure = await self._deliver(job, delivery)
                if failure is not None:
                    job.failures.append(failure)
            self._update_held(job)
        finally:
            for ready in self._scheduler.finish(job):
                self._start(ready)
            self._on_finished(job)

    def _update_held(self, job: Job) -> None:
        if self.destination.on_dead_letter != "hold":
            return
        if job.failures:
            self._held.update(job.keys)
        # A key stays held only while events of it are still waiting; then it is released.
        for key in job.keys:
            if self._scheduler.waiting_behind(key) == 0:
                self._held.discard(key)

    async def _gate(self) -> bool:
        """Wait until a request may go; True if it is the probe of an open circuit."""
        while True:
            wait = self.circuit.wait_s(self._clock())
            if wait <= 0:
                return self.circuit.begin(self._clock())
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=wait)

    def _signal(self) -> None:
        """The circuit or throttle may have changed: wake waiters, report a state change."""
        self._changed.set()
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

    async def _deliver(self, job: Job, delivery: Delivery) -> Failure | None:
        """Attempt until delivered, refused for good, or out of retries; None if delivered."""
        name = self.destination.name
        policy = self._settings.policy
        first = self._clock()
        down_at_first = self.circuit.down_total(first)
        attempts = 0
        while True:
            probe = await self._gate()
            async with self._slots:
                self._metrics.in_flight.labels(name).inc()
                started = time.perf_counter()
                answer = await self._transport.post(delivery.request)
                self._metrics.request_seconds.labels(name).observe(time.perf_counter() - started)
                self._metrics.in_flight.labels(name).dec()
            now = self._clock()
            outcome = "permanent" if answer.error == "body" else classify(answer.status)
            self._count(answer)
            if outcome != "retry":
                self.circuit.succeeded(now)
                self._signal()
                if outcome == "delivered":
                    if job.event_time is not None:
                        self._metrics.end_to_end_seconds.labels(name).observe(now - job.event_time)
                    return None
                return Failure(
                    "http.rejected",
                    f"Movable Ink answered {answer.status} for good.",
                    job.message_id,
                    name,
                    answer.status,
                    attempts + 1,
                    first,
                    now,
                )
            was_closed = self.circuit.state == "closed" and not probe
            retry_after = parse_retry_after(answer.retry_after, datetime.fromtimestamp(now, UTC))
            self.circuit.failed(now, retry_after)
            self._signal()
            if was_closed:
                attempts += 1
            healthy = (now - first) - (self.circuit.down_total(now) - down_at_first)
            if policy.gives_up(attempts, healthy):
                return Failure(
                    "retries.exhausted",
                    f"Gave up after {attempts} attempts over {healthy:.0f} s of retrying; "
                    f"last answer {answer.status or answer.error}.",
                    job.message_id,
                    name,
                    answer.status,
                    attempts,
                    first,
                    now,
                )
            self._metrics.retries.labels(name).inc()
            if was_closed:
                await asyncio.sleep(policy.delay(attempts, retry_after, self._rnd))

    def _count(self, answer: Answer) -> None:
        code = str(answer.status) if answer.status is not None else (answer.error or "error")
        self._metrics.http_responses.labels(self.destination.name, code).inc()

    async def drain(self, timeout_s: float) -> bool:
        """Wait for the running jobs; True if all finished in time."""
        deadline = time.monotonic() + timeout_s
        while self._tasks:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            await asyncio.wait(set(self._tasks), timeout=remaining)
        return True

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._transport.aclose()
