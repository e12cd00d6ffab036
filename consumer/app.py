"""`run`: wire the stages together, start, and shut down gracefully on SIGTERM or SIGINT.

Kafka thread: consume -> decide (decode, route, validate, map) -> hand over. Loop: ordered
delivery per destination -> outcomes (dead letters) -> offsets finished. Kafka thread again:
commit. The shell is here; the rules are in the stages.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from prometheus_client import REGISTRY, CollectorRegistry

from consumer import status
from consumer.avro_codec import segment_schema
from consumer.config import Settings
from consumer.deadletter import topic_for
from consumer.decision import Decision, decide_record
from consumer.decode import Decoder
from consumer.delivery import DeliverySettings, DestinationWorker
from consumer.errors import BrokerError
from consumer.kafka import Admin, Consumer, Producer, TopicPartition, record_limit
from consumer.metrics import LagCollector, Metrics
from consumer.offsets import OffsetTracker
from consumer.outcome import DeadLetterWriter, Outcomes, Work
from consumer.records import Record
from consumer.registry import RegistryLookup
from consumer.retry import RetryPolicy
from consumer.source import KafkaSource, SourceSettings
from consumer.status import Health
from consumer.transport import open_transport

log = logging.getLogger(__name__)
T = TypeVar("T")
STARTUP_BACKOFF_S = (1.0, 30.0)


def _call(loop: asyncio.AbstractEventLoop, fn: Callable[[T], None], arg: T) -> None:
    loop.call_soon_threadsafe(fn, arg)


async def _heartbeat(health: Health) -> None:
    """Proves to /healthz that the delivery loop keeps turning."""
    while True:
        health.loop_beat = time.monotonic()
        await asyncio.sleep(1.0)


def build_decoder(settings: Settings) -> Decoder:
    """The decoder the configuration asks for (registry client only when configured)."""
    lookup = None
    if settings.schema_registry is not None:
        lookup = RegistryLookup(settings.schema_registry)
    local = None
    if settings.kafka.avro_schema:
        local = segment_schema(Path(settings.kafka.avro_schema))
    return Decoder(
        value_format=settings.kafka.value_format,
        lookup=lookup,
        local_schema=local,
        max_message_bytes=settings.kafka.max_message_bytes,
    )


def delivery_settings(settings: Settings) -> DeliverySettings:
    d = settings.delivery
    return DeliverySettings(
        max_in_flight=d.max_in_flight,
        policy=RetryPolicy(
            base_s=d.backoff_base,
            cap_s=d.backoff_cap,
            window_s=d.retry_window,
            max_attempts=d.max_attempts,
        ),
        circuit_threshold=d.circuit_threshold,
        probe_interval_s=d.probe_interval,
        max_probe_interval_s=d.max_probe_interval,
    )


def ensure_dead_letter_topics(settings: Settings) -> None:
    """Create each input topic's dead-letter topic (same partition count) if it is missing,
    able to take the largest record the consumer accepts, with its dead-letter headers."""
    admin = Admin(settings.kafka)
    limit = {"max.message.bytes": str(record_limit(settings.kafka))}
    for topic in settings.kafka.topics:
        target = topic_for(settings.kafka.dead_letter_topic, topic)
        if admin.ensure_topic(target, admin.partitions(topic) or 1, limit):
            log.info("created dead-letter topic", extra={"topic": target})


async def _until_done(
    step: Callable[[], None], what: str, health: Health, stop: threading.Event
) -> bool:
    """Run `step` in a thread until it succeeds (True) or `stop` is set (False).

    An unreachable broker is not a configuration error: keep trying with backoff, one log
    line per attempt, and say why in /readyz meanwhile.
    """
    delay = STARTUP_BACKOFF_S[0]
    attempt = 1
    while not stop.is_set():
        try:
            await asyncio.to_thread(step)
            return True
        except BrokerError as exc:
            health.starting = f"waiting for Kafka to {what}: {exc}"
            log.warning(
                "could not %s; trying again",
                what,
                extra={"attempt": attempt, "retry_s": delay, "error": str(exc)},
            )
        await asyncio.to_thread(stop.wait, delay)
        delay = min(delay * 2, STARTUP_BACKOFF_S[1])
        attempt += 1
    return False


@dataclass
class Pipeline:
    """The stages after the decision: delivery workers, outcomes, offsets, dead letters."""

    settings: Settings
    metrics: Metrics
    tracker: OffsetTracker
    producer: Producer
    dead_letters: DeadLetterWriter
    outcomes: Outcomes
    workers: dict[str, DestinationWorker]
    decoder: Decoder

    @classmethod
    def build(cls, settings: Settings, metrics: Metrics, *, replay: bool = False) -> Pipeline:
        decoder = build_decoder(settings)  # first: it may refuse its settings, talking to none
        tracker = OffsetTracker()
        producer = Producer(settings.kafka)
        writer = DeadLetterWriter(producer, settings.kafka.dead_letter_topic, metrics, replay)
        outcomes = Outcomes(tracker, writer, metrics)
        how = delivery_settings(settings)
        workers = {
            d.name: DestinationWorker(
                d,
                open_transport(
                    settings.delivery.http_client,
                    max_connections=how.max_in_flight,
                    timeout_s=settings.delivery.timeout,
                ),
                how,
                outcomes.job_finished,
                metrics,
            )
            for d in settings.destinations
        }
        outcomes.attach(workers)
        return cls(settings, metrics, tracker, producer, writer, outcomes, workers, decoder)

    def decide(self, record: Record) -> Decision:
        return decide_record(
            record.value,
            self.decoder,
            self.settings.destinations,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
        )

    def source_settings(self, topics: tuple[str, ...]) -> SourceSettings:
        d = self.settings.delivery
        return SourceSettings(
            topics=topics,
            max_buffered=d.max_buffered,
            commit_interval_s=d.commit_interval,
            revoke_timeout_s=d.revoke_timeout,
            shutdown_grace_s=d.shutdown_grace,
        )

    def submit_to(self, loop: asyncio.AbstractEventLoop) -> Callable[[list[Work]], None]:
        """How the Kafka thread hands decided records to the delivery loop."""
        return lambda batch: _call(loop, self.outcomes.accept, batch)

    def abandon_on(self, loop: asyncio.AbstractEventLoop) -> Callable[[set[TopicPartition]], None]:
        return lambda partitions: _call(loop, self.outcomes.abandon, partitions)

    async def aclose(self) -> None:
        for worker in self.workers.values():
            await worker.aclose()


def stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM and SIGINT set `stop` (only the main thread can install handlers)."""
    if threading.current_thread() is threading.main_thread():
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)


async def run(
    settings: Settings,
    *,
    registry: CollectorRegistry = REGISTRY,
    stop: threading.Event | None = None,
) -> int:
    """Consume and deliver until SIGTERM/SIGINT (or `stop`), then drain and commit."""
    stop = stop or threading.Event()
    stop_on_signals(stop)
    metrics = Metrics(registry)
    pipeline = Pipeline.build(settings, metrics)  # first: a bad Kafka property exits here
    consumer = Consumer(settings.kafka)
    health = Health(starting="starting")
    health.checks.append(pipeline.dead_letters.problem)
    if settings.metrics.port >= 0:
        server = status.serve(settings.metrics.host, settings.metrics.port, registry, health)
        log.info("status server listening", extra={"port": server.server_address[1]})
    beat = asyncio.create_task(_heartbeat(health))
    try:
        if settings.kafka.create_dead_letter_topic and not await _until_done(
            lambda: ensure_dead_letter_topics(settings),
            "create the dead-letter topics",
            health,
            stop,
        ):
            return 0
        health.starting = None
        return await _consume(settings, pipeline, consumer, metrics, health, stop, registry)
    finally:
        beat.cancel()
        stop.set()
        await pipeline.aclose()
        log.info("consumer stopped")


async def _consume(
    settings: Settings,
    pipeline: Pipeline,
    consumer: Consumer,
    metrics: Metrics,
    health: Health,
    stop: threading.Event,
    registry: CollectorRegistry,
) -> int:
    """The Kafka thread's loop, until `stop`; the delivery loop runs meanwhile."""
    loop = asyncio.get_running_loop()
    source = KafkaSource(
        pipeline.source_settings(settings.kafka.topics),
        consumer,
        pipeline.producer,
        pipeline.tracker,
        metrics,
        decide=pipeline.decide,
        submit=pipeline.submit_to(loop),
        abandon=pipeline.abandon_on(loop),
        stop=stop,
        health=health,
    )
    log.info(
        "consumer starting",
        extra={
            "topics": list(settings.kafka.topics),
            "destinations": [d.masked_url for d in settings.destinations],
        },
    )
    registry.register(LagCollector(source.positions))
    await asyncio.to_thread(source.run)
    return 0
