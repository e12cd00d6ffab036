"""Ordered, concurrent delivery to one destination: which job may start, and when it is done.

A `Job` is one record's requests for one destination. The `Scheduler` starts a job only after
the previous job of each of its identity keys has finished; started jobs run concurrently, each
request through the destination's `Sender` (circuit, limits, retries), so a retrying job holds
back only its own keys. In batch mode the started jobs' events are gathered into
`{"events": [...]}` requests, split in halves on a refusal to find the events at fault. A
finished job is handed to the `Finisher` (`outcome.Outcomes`). Runs on the asyncio loop.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol, get_args

from consumer.core.deadletter import Failure
from consumer.core.decision import Delivery
from consumer.core.envelope import Envelope, Timing
from consumer.core.errors import HTTP_REJECTED, ORDERING_HELD
from consumer.core.event_time_order import ReleaseReason
from consumer.core.movableink import Request
from consumer.core.ordering import Scheduler
from consumer.shell.delivery.batching import Batcher, Item, content
from consumer.shell.delivery.sender import Result, Sender
from consumer.shell.metrics import STAGES, Metrics

SWEEP_AT_LEAST = 1024  # tasks kept before finished ones are first swept out


@dataclass(eq=False, slots=True)
class Job:
    """One record's requests for one destination; identity is the object (eq=False). What
    the record is (ids, keys, event time, position) is its envelope's."""

    envelope: Envelope
    deliveries: tuple[Delivery, ...]
    timing: Timing = field(default_factory=Timing)
    failures: tuple[Failure, ...] = ()  # not a list: one object fewer per job held back
    started: bool = False
    outstanding: int = 0  # batch mode: deliveries not yet settled


# An accepted request's event, for the stage metrics: its job, when the job's wait for this
# request began (`Timing.started_at` then: a later request of the job moves it on), the result.
Accepted = tuple[Job, float, Result]


def _partition(job: Job) -> tuple[str, int]:
    record = job.envelope.record
    return (record.topic, record.partition)


class Finisher(Protocol):
    """Who is told when jobs are done: delivered, or failed for good (see `job.failures`);
    a batch's jobs in one call."""

    def jobs_finished(self, destination: str, jobs: list[Job]) -> None: ...


class DestinationWorker:
    """Delivers jobs to one destination; isolated from the others (own circuit, own pool)."""

    def __init__(self, sender: Sender, finisher: Finisher, metrics: Metrics) -> None:
        self.sender = sender
        self.destination = destination = sender.destination
        self._finisher = finisher
        self._scheduler: Scheduler[Job] = Scheduler()
        self._tasks: set[asyncio.Task[None]] = set()  # running, and some finished (`_spawn`)
        self._sweep_at = SWEEP_AT_LEAST
        self._held: set[str] = set()  # keys whose earlier job was dead-lettered ("hold" policy)
        self._parked: deque[Job] = deque()  # ready while the destination is down (`_unpark`)
        self._ending: list[Job] = []  # finished in this turn of the loop (`_finish_soon`)
        self._accepted: list[Accepted] = []  # their accepted requests, for `_observe`
        self._batcher = (
            Batcher(destination.batch, self._send_batch) if destination.batch.enabled else None
        )
        name = destination.name
        self._stages = tuple(metrics.stage_seconds.labels(name, stage) for stage in STAGES)
        metrics.events.labels(name, "delivered", "")  # exported at 0 from the start
        for reason in get_args(ReleaseReason):
            metrics.order_released_early.labels(name, reason)
        metrics.held_back.labels(name).set_function(self.held_back)
        metrics.oldest_held_age.labels(name).set_function(self.oldest_held_age)

    def __len__(self) -> int:
        """Jobs submitted and not finished."""
        return len(self._scheduler)

    def __contains__(self, job: Job) -> bool:
        """Whether the job was submitted and is not finished."""
        return job in self._scheduler

    def submit(self, jobs: list[Job]) -> None:
        """Jobs in consumption order, a hand-over's at once: those whose person has nothing
        unfinished here start together."""
        add = self._scheduler.add
        ready = [job for job in jobs if add(job, job.envelope.identity_keys)]
        if ready:
            self._start(ready)

    def abandon(self, partitions: set[tuple[str, int]]) -> list[Job]:
        """Drop the jobs of revoked partitions that have sent nothing (waiting or parked);
        their new owner delivers them. Returns the jobs dropped."""
        waiting = [j for j in self._scheduler if _partition(j) in partitions and not j.started]
        parked = [j for j in self._parked if _partition(j) in partitions]
        if parked:
            self._parked = deque(j for j in self._parked if _partition(j) not in partitions)
        ready = [r for job in waiting + parked for r in self._scheduler.remove(job)]
        if ready:
            self._start(ready)
        return waiting + parked

    def held_back(self) -> int:
        """Jobs waiting behind an unfinished earlier job of the same person."""
        return sum(1 for job in self._scheduler if not job.started)

    def oldest_held_age(self) -> float:
        """Seconds the longest-waiting held-back job has waited (0 if none)."""
        waiting = [job.timing.queued_at for job in self._scheduler if not job.started]
        return max(0.0, time.time() - min(waiting)) if waiting else 0.0

    # -- starting and finishing jobs ---------------------------------------------------

    def _start(self, jobs: list[Job]) -> None:
        """Jobs whose turn has come (their people's earlier jobs are done), started at once."""
        now = time.time()
        hold = self.destination.on_dead_letter == "hold" and bool(self._held)
        batcher = self._batcher
        parks = batcher is None and self.sender.parks()  # a task spawned does not change it
        refused = []
        for job in jobs:
            job.started = True
            job.timing.started_at = now
            if hold and self._held.intersection(job.envelope.identity_keys):
                job.failures += tuple(self._held_failure(job, d.mapping) for d in job.deliveries)
                refused.append(job)
            elif batcher is not None:
                job.outstanding = len(job.deliveries)
                for delivery in job.deliveries:
                    batcher.add(job, delivery)
            elif parks:
                self._parked.append(job)
            else:
                self._spawn(self._run(job))
        if refused:
            self._finish(refused)

    def _unpark(self) -> None:
        """Parked jobs: all go once the circuit has closed; one goes if nothing probes it.

        While the destination is down, a ready job waits here instead of in a task at the
        sender's gate: with thousands of records waiting for a down destination, a task each
        cost the CPU the healthy destinations need. Called whenever a job finishes, which is
        how the circuit closes (a probe's job ends) or loses its prober."""
        if self.sender.circuit.state == "closed":
            while self._parked:
                self._spawn(self._run(self._parked.popleft()))
        elif self._parked and not self.sender.parks():
            self._spawn(self._run(self._parked.popleft()))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """A task for `work`, kept (the loop holds tasks weakly) until `aclose`. Finished ones
        are swept out once the set has doubled: a done callback per task would be one more
        loop callback per event."""
        tasks = self._tasks
        if len(tasks) >= self._sweep_at:
            self._tasks = tasks = {task for task in tasks if not task.done()}
            self._sweep_at = max(SWEEP_AT_LEAST, 2 * len(tasks))
        tasks.add(asyncio.get_running_loop().create_task(work))

    def _held_failure(self, job: Job, mapping: str) -> Failure:
        return Failure(
            ORDERING_HELD,
            "An earlier event of this person was dead-lettered (on_dead_letter=hold).",
            job.envelope.message_id,
            self.destination.name,
            mapping=mapping,
        )

    async def _run(self, job: Job) -> None:
        """Deliver the job's requests in turn. Cancelled (shutdown), it does not finish: its
        record stays uncommitted and is delivered again by whoever reads it next."""
        envelope, timing = job.envelope, job.timing
        for delivery in job.deliveries:
            result = await self.sender.send(
                delivery.request, delivery.content, [envelope.event_time]
            )
            failure = result.failure(envelope.message_id, self.destination.name, delivery.mapping)
            if failure is not None:
                job.failures += (failure,)
            elif result.accepted:
                self._accepted.append((job, timing.started_at, result))
            timing.started_at = result.last  # the next request's wait starts here
        self._finish_soon(job)

    def _finish_soon(self, job: Job) -> None:
        """Single-event jobs that end in one turn of the loop are finished together, at its
        end (stage metrics, ordering, outcomes and offsets once for all of them), not each
        alone."""
        ending = self._ending
        if not ending:
            asyncio.get_running_loop().call_soon(self._finish_ended)
        ending.append(job)

    def _finish_ended(self) -> None:
        jobs, self._ending = self._ending, []
        accepted, self._accepted = self._accepted, []
        self._observe(accepted)
        self._finish(jobs)

    def _observe(self, accepted: list[Accepted]) -> None:
        """Where accepted requests' time went (`metrics.STAGES`), for each of their events:
        each stage's durations in one call, and a request's own stages once for its events
        (the rows of one request are consecutive)."""
        kafka, intake, ordering, slot = self._stages[:4]
        fetched, handed, waited, queued = [], [], [], []
        last: Result | None = None
        events = 0
        for job, started_at, result in accepted:
            envelope, queued_at = job.envelope, job.timing.queued_at
            read_at = envelope.read_at
            if read_at:
                if envelope.appended_at is not None:
                    fetched.append(read_at - envelope.appended_at)
                handed.append(queued_at - read_at)
            waited.append(started_at - queued_at)
            queued.append(result.first_sent - started_at)
            if result is not last:
                if last is not None:
                    self._observe_request(last, events)
                last, events = result, 0
            events += 1
        if last is not None:
            self._observe_request(last, events)
        kafka.observe_durations(fetched)
        intake.observe_durations(handed)
        ordering.observe_durations(waited)
        slot.observe_durations(queued)

    def _observe_request(self, result: Result, events: int) -> None:
        """An accepted request's own stages (retrying, the request), once for its events."""
        retrying, request = self._stages[-2:]
        retrying.observe(result.last_sent - result.first_sent, events)
        request.observe(max(0.0, result.last - result.last_sent), events)

    def _finish(self, jobs: list[Job]) -> None:
        hold = self.destination.on_dead_letter == "hold"
        scheduler = self._scheduler
        ready: list[Job] = []
        for job in jobs:
            if hold:
                keys = job.envelope.identity_keys
                if job.failures:
                    self._held.update(keys)
                # A key stays held only while events of it are waiting; then it is released.
                for key in keys:
                    if scheduler.waiting_behind(key) == 0:
                        self._held.discard(key)
            ready.extend(scheduler.finish(job))
        if ready:
            self._start(ready)
        self._unpark()
        self._finisher.jobs_finished(self.destination.name, jobs)

    # -- batch mode ------------------------------------------------------------------------

    def _send_batch(self, headers: dict[str, str], items: list[Item]) -> None:
        self._spawn(self._run_batch(headers, items))

    async def _run_batch(self, headers: dict[str, str], items: list[Item]) -> None:
        """Send a batch; on a permanent answer split it in halves (in order) to find the
        events at fault, so that only those are dead-lettered."""
        request = Request(self.destination.movable_ink_url, headers, None)
        times = [job.envelope.event_time for job, _ in items]
        result = await self.sender.send(request, content(items), times)
        if result.reason == HTTP_REJECTED and len(items) > 1:
            middle = len(items) // 2
            await self._run_batch(headers, items[:middle])
            await self._run_batch(headers, items[middle:])
            return
        self._settle(items, result)

    def _settle(self, items: list[Item], result: Result) -> None:
        """A batch's answer, for each of its events' jobs; those with no event left are done."""
        jobs: list[Job] = [job for job, _ in items]
        if result.accepted:
            self._observe([(job, job.timing.started_at, result) for job in jobs])
        else:
            name = self.destination.name
            for job, delivery in items:
                failure = result.failure(job.envelope.message_id, name, delivery.mapping)
                if failure is not None:
                    job.failures += (failure,)
        done = []
        for job in jobs:
            job.outstanding -= 1
            if job.outstanding == 0:
                done.append(job)
        if done:  # a job with events still in other batches is not done yet
            self._finish(done)

    # -- one request, all its attempts -----------------------------------------------------

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.sender.aclose()
