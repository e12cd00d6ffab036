"""The delivery worker in-process, over a fake transport: nothing is counted delivered without
a 2xx, holds are capped, and the first probe after an outage is not pushed back."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry

from consumer.core.decision import Decision, Delivery
from consumer.core.envelope import Envelope, envelope
from consumer.core.errors import INTERNAL_ERROR
from consumer.core.movableink import Destination, Request, Secret
from consumer.core.offsets import OffsetTracker
from consumer.core.records import Record
from consumer.settings import BatchSettings, DeliverySettings
from consumer.shell.delivery.sender import Sender
from consumer.shell.delivery.worker import DestinationWorker, Job
from consumer.shell.http.transport import Answer, Transport
from consumer.shell.metrics import STAGES, Metrics

URL = "http://127.0.0.1:1/behavioral/KEY123"
FAST = DeliverySettings(backoff_base=0.01, backoff_cap=0.05, max_retry_after=0.3)


class FakeTransport:
    """Answers each POST with `answer(n)` (n counts from 0); an exception is raised as is."""

    def __init__(self, answer: Callable[[int], Any]) -> None:
        self._answer = answer
        self.sent: list[float] = []

    async def post(self, request: Request, content: bytes) -> Answer:
        n = len(self.sent)
        self.sent.append(time.monotonic())
        result = self._answer(n)
        if asyncio.iscoroutine(result):
            result = await result
        if isinstance(result, Exception):
            raise result
        return result  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        pass


class Finished(list[Job]):
    """The jobs the worker reported finished, in order; `calls`: how many at a time."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[int] = []

    def jobs_finished(self, destination: str, jobs: list[Job]) -> None:
        self.extend(jobs)
        self.calls.append(len(jobs))


def read(message_id: str, keys: tuple[str, ...], offset: int = 0, partition: int = 0) -> Envelope:
    """The envelope of a record read at `offset` whose event has `message_id` and `keys`."""
    record = Record("in", partition, offset, None, b"{}", ())
    decision = Decision(message_id, {}, (), identity_keys=keys)
    handle = OffsetTracker().add("in", partition, offset, None)
    return envelope(record, decision, handle, None)


def job(n: int, destination: Destination, partition: int = 0) -> Job:
    request = Request(URL, {"Authorization": "Basic x"}, {"n": n})
    delivery = Delivery(destination, "m", request, b'{"n":%d}' % n)
    return Job(read(f"m{n}", (f"person-{n}",), n, partition), (delivery,))


def worker(
    destination: Destination,
    transport: Transport,
    finished: Finished,
    metrics: Metrics,
    settings: DeliverySettings = FAST,
    clock: Callable[[], float] = time.time,
) -> DestinationWorker:
    sender = Sender(destination, transport, settings, metrics, clock=clock)
    return DestinationWorker(sender, finished, metrics)


def run(
    transport: FakeTransport,
    jobs: int,
    *,
    batch: bool = False,
    settings: DeliverySettings | None = None,
    timeout: float = 10.0,
) -> tuple[Finished, Metrics]:
    destination = Destination(
        "mi", URL, "u", Secret("p"), (), batch=BatchSettings(batch, linger=0.01)
    )
    metrics = Metrics(CollectorRegistry())
    finished = Finished()

    async def scenario() -> None:
        w = worker(destination, transport, finished, metrics, settings or FAST)
        for n in range(jobs):
            w.submit([job(n, destination)])
        while len(finished) < jobs:
            await asyncio.sleep(0.01)
        await w.aclose()

    asyncio.run(asyncio.wait_for(scenario(), timeout))
    return finished, metrics


def test_an_exception_from_the_client_is_a_failure_never_a_delivery() -> None:
    transport = FakeTransport(lambda n: ValueError("Newline in header value"))
    finished, _ = run(transport, 3)
    for done in finished:
        (failure,) = done.failures
        assert failure.reason == INTERNAL_ERROR and failure.exception == "ValueError"
        assert "Newline in header value" in failure.message
    assert len(transport.sent) == 3  # one attempt each: it is not retried


def test_in_batch_mode_an_exception_fails_every_event_of_the_batch() -> None:
    finished, _ = run(FakeTransport(lambda n: RuntimeError("boom")), 5, batch=True)
    assert all(f.failures and f.failures[0].reason == INTERNAL_ERROR for f in finished)


def test_an_unexpected_error_never_shows_the_url_key() -> None:
    finished, _ = run(FakeTransport(lambda n: OSError(f"cannot reach {URL}")), 1)
    assert "KEY123" not in finished[0].failures[0].message


def test_a_retry_after_hold_is_capped() -> None:
    def answer(n: int) -> Answer:
        return Answer(429, retry_after="400") if n == 0 else Answer(200)

    transport = FakeTransport(answer)
    started = time.monotonic()
    finished, _ = run(transport, 1)
    assert not finished[0].failures
    assert transport.sent[1] - started < 2.0  # not 400 s: the cap is 0.3 s here


def test_the_first_probe_after_an_outage_comes_after_probe_interval() -> None:
    """Twenty requests in flight when the circuit opens fail afterwards: their answers must
    not each double the probe interval (which would push the first probe out to the cap)."""
    release = asyncio.Event()

    async def answer(n: int) -> Answer:
        if n < 2:  # these two open the circuit once all 22 are out
            await asyncio.sleep(0.05)
            asyncio.get_running_loop().call_later(0.05, release.set)
        elif n < 22:
            await release.wait()
        return Answer(503 if n < 22 else 200)

    transport = FakeTransport(answer)
    settings = dataclasses.replace(FAST, circuit_threshold=2, probe_interval=0.3)
    finished, _ = run(transport, 22, settings=settings)
    assert all(not f.failures for f in finished)
    opened_at = transport.sent[21]  # the last of the first wave
    first_probe = transport.sent[22]
    assert first_probe - opened_at < 2.0, first_probe - opened_at


def test_a_shutdown_never_finishes_an_unsent_job() -> None:
    never = asyncio.Event()

    async def hang(n: int) -> Answer:
        await never.wait()
        return Answer(200)

    destination = Destination("mi", URL, "u", Secret("p"), ())
    finished = Finished()

    async def scenario() -> None:
        w = worker(destination, FakeTransport(hang), finished, Metrics(CollectorRegistry()))
        w.submit([job(0, destination)])
        await asyncio.sleep(0.05)
        await w.aclose()

    asyncio.run(scenario())
    assert finished == []


def test_a_hold_is_exported_while_it_lasts() -> None:
    destination = Destination("mi", URL, "u", Secret("p"), ())
    metrics = Metrics(CollectorRegistry())
    now = [100.0]

    async def scenario() -> None:
        w = worker(
            destination,
            FakeTransport(lambda n: Answer(200)),
            Finished(),
            metrics,
            clock=lambda: now[0],
        )
        w.sender.circuit.failed(100.0, retry_after_s=30.0)
        now[0] = 110.0

    asyncio.run(scenario())
    value = metrics.registry.get_sample_value(
        "movableink_consumer_hold_seconds", {"destination": "mi"}
    )
    assert value == 20.0


def test_a_retrying_event_holds_back_only_its_own_person() -> None:
    """Person 0's first event fails twice; person 0's later events wait for it, in order,
    while person 1's go at once."""
    destination = Destination("mi", URL, "u", Secret("p"), ())
    sent: list[str] = []
    failures = {"a1": 2}

    class Recording(FakeTransport):
        async def post(self, request: Request, content: bytes) -> Answer:
            message = content.decode()
            sent.append(message)
            if failures.get(message, 0) > 0:
                failures[message] -= 1
                return Answer(503)
            return Answer(200)

    def person_job(message: str, person: str) -> Job:
        request = Request(URL, {}, {})
        delivery = Delivery(destination, "m", request, message.encode())
        return Job(read(message, (person,)), (delivery,))

    finished = Finished()

    async def scenario() -> None:
        w = worker(destination, Recording(lambda n: None), finished, Metrics(CollectorRegistry()))
        for message, person in [("a1", "A"), ("a2", "A"), ("b1", "B"), ("a3", "A"), ("b2", "B")]:
            w.submit([person_job(message, person)])
        while len(finished) < 5:
            await asyncio.sleep(0.01)
        await w.aclose()

    asyncio.run(asyncio.wait_for(scenario(), 10))
    assert [m for m in sent if m.startswith("a")] == ["a1", "a1", "a1", "a2", "a3"]
    assert sent.index("b2") < sent.index("a2")  # B was not held back by A's retries
    assert all(not job.failures for job in finished)


def test_a_refused_batch_is_split_until_only_the_event_at_fault_is_dead_lettered() -> None:
    def answer(batch: bytes) -> Answer:
        return Answer(400) if b'"n":5' in batch else Answer(200)

    class Judging(FakeTransport):
        async def post(self, request: Request, content: bytes) -> Answer:
            self.sent.append(time.monotonic())
            return answer(content)

    transport = Judging(lambda n: None)
    finished, _ = run(transport, 8, batch=True)
    failed = {job.envelope.message_id: job.failures for job in finished if job.failures}
    assert list(failed) == ["m5"]
    assert failed["m5"][0].reason == "http.rejected"
    assert len(transport.sent) == 7  # 8, then 4+4, then 2+2 of the refused half, then 1+1


def _stages(metrics: Metrics) -> dict[str, tuple[float, float]]:
    """(count, sum) per stage of the `mi` destination."""
    got = {}
    for stage in STAGES:
        labels = {"destination": "mi", "stage": stage}
        count = metrics.registry.get_sample_value("movableink_consumer_stage_seconds_count", labels)
        total = metrics.registry.get_sample_value("movableink_consumer_stage_seconds_sum", labels)
        got[stage] = (count or 0.0, total or 0.0)
    return got


def test_each_accepted_request_says_where_its_time_went() -> None:
    """Six stages per delivered event, adding up to its time from the Kafka timestamp: a
    503 then a 200 puts the retry in `retrying` and the 200's own time in `request`."""

    async def answer(n: int) -> Answer:
        await asyncio.sleep(0.05)
        return Answer(503 if n == 0 else 200)

    destination = Destination("mi", URL, "u", Secret("p"), ())
    metrics = Metrics(CollectorRegistry())
    finished = Finished()
    now = time.time()

    async def scenario() -> None:
        w = worker(destination, FakeTransport(answer), finished, metrics)
        one = job(0, destination)
        one.envelope.appended_at, one.envelope.read_at = now - 0.3, now - 0.1
        w.submit([one])
        while not finished:
            await asyncio.sleep(0.01)
        await w.aclose()

    asyncio.run(asyncio.wait_for(scenario(), 10))
    got = _stages(metrics)
    assert {stage: count for stage, (count, _) in got.items()} == dict.fromkeys(STAGES, 1.0)
    assert 0.19 < got["kafka"][1] < 0.21
    assert 0.09 < got["intake"][1] < 0.2
    assert got["ordering"][1] < 0.05 and got["slot"][1] < 0.05
    assert 0.05 <= got["retrying"][1] < 0.3  # the 503's 50 ms and the backoff
    assert 0.04 < got["request"][1] < 0.2


def test_batch_mode_observes_every_event_of_an_accepted_batch() -> None:
    finished, metrics = run(FakeTransport(lambda n: Answer(200)), 5, batch=True)
    assert len(finished) == 5
    counts = {stage: count for stage, (count, _) in _stages(metrics).items()}
    assert counts == {**dict.fromkeys(STAGES, 5.0), "kafka": 0.0, "intake": 0.0}  # no record


def test_a_batch_settles_its_events_at_once() -> None:
    """One call to the finisher for a whole batch, not one per event: the calls per event
    were a quarter of the delivery loop's work in batch mode."""
    finished, _ = run(FakeTransport(lambda n: Answer(200)), 5, batch=True)
    assert finished.calls == [5]
    assert [done.envelope.message_id for done in finished] == [f"m{n}" for n in range(5)]


def test_while_a_destination_is_down_its_new_jobs_wait_without_a_task_each() -> None:
    """One job probes the open circuit; the jobs that become ready meanwhile are parked (a
    task each cost the CPU the healthy destinations need) and all go once it closes."""
    up = False
    destination = Destination("mi", URL, "u", Secret("p"), ())
    settings = dataclasses.replace(
        FAST, circuit_threshold=2, probe_interval=0.05, max_probe_interval=0.05
    )
    metrics = Metrics(CollectorRegistry())
    finished = Finished()

    def answer(n: int) -> Answer:
        return Answer(200) if up else Answer(None, error="connect")

    async def scenario() -> int:
        nonlocal up
        w = worker(destination, FakeTransport(answer), finished, metrics, settings)
        for n in range(2):
            w.submit([job(n, destination)])
        while not w.sender.parks():  # the circuit is open and a job waits to probe it
            await asyncio.sleep(0.01)
        for n in range(2, 200):
            w.submit([job(n, destination)])
        tasks = len(asyncio.all_tasks())  # a job started is a task at once
        up = True
        while len(finished) < 200:
            await asyncio.sleep(0.01)
        await w.aclose()
        return tasks

    tasks = asyncio.run(asyncio.wait_for(scenario(), 10))
    assert tasks < 10, tasks
    assert not any(done.failures for done in finished)


def test_parked_jobs_of_a_revoked_partition_are_dropped_unsent() -> None:
    destination = Destination("mi", URL, "u", Secret("p"), ())
    settings = dataclasses.replace(FAST, circuit_threshold=1, probe_interval=5.0)
    transport = FakeTransport(lambda n: Answer(None, error="connect"))
    metrics = Metrics(CollectorRegistry())

    async def scenario() -> list[Job]:
        w = worker(destination, transport, Finished(), metrics, settings)
        w.submit([job(0, destination)])
        while not w.sender.parks():  # the circuit is open and a job waits to probe it
            await asyncio.sleep(0.01)
        parked = [job(n, destination, partition=1) for n in (1, 2)]
        for one in parked:
            w.submit([one])
        dropped = w.abandon({("in", 1)})
        assert dropped == parked and len(w) == 1  # the probing job stays
        await w.aclose()
        return dropped

    asyncio.run(asyncio.wait_for(scenario(), 10))
    assert len(transport.sent) == 1  # only the first job's attempt went out
