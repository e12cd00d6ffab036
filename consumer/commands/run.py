"""`run`: wire the stages together, start, and shut down gracefully on SIGTERM or SIGINT.

Kafka thread: consume -> decide (decode, route, validate, map) -> hand over. Loop: ordered
delivery per destination -> outcomes (dead letters) -> offsets finished. Kafka thread again:
commit. The shell is here; the rules are in the stages.
"""

from __future__ import annotations

import asyncio
import logging
import threading

from prometheus_client import REGISTRY, CollectorRegistry

from consumer.config import Settings
from consumer.shell import lifecycle, status
from consumer.shell.kafka.admin import ensure_dead_letter_topics
from consumer.shell.kafka.client import Consumer
from consumer.shell.kafka.identity_links import IdentityLinks
from consumer.shell.kafka.readers import GroupReader
from consumer.shell.kafka.source import KafkaSource
from consumer.shell.metrics import LagCollector, Metrics
from consumer.shell.pipeline import Pipeline
from consumer.shell.status import Health

log = logging.getLogger(__name__)


async def run(
    settings: Settings,
    *,
    registry: CollectorRegistry = REGISTRY,
    stop: threading.Event | None = None,
) -> int:
    """Consume and deliver until SIGTERM/SIGINT (or `stop`), then drain and commit."""
    stop = stop or threading.Event()
    lifecycle.stop_on_signals(stop)
    metrics = Metrics(registry)
    pipeline = Pipeline.build(settings, metrics)  # first: a bad Kafka property exits here
    consumer = Consumer(settings.kafka)
    health = Health(starting="starting")
    health.checks.append(pipeline.dead_letters.problem)
    if settings.metrics.port >= 0:
        server = status.serve(settings.metrics.host, settings.metrics.port, registry, health)
        log.info("status server listening", extra={"port": server.server_address[1]})
    beat = asyncio.create_task(lifecycle.heartbeat(health))
    try:
        if settings.kafka.create_dead_letter_topic and not await lifecycle.until_done(
            lambda: ensure_dead_letter_topics(settings.kafka),
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
    links = None
    if settings.ordering.gate != "off":
        links = IdentityLinks(settings.kafka, settings.ordering, metrics)
        pipeline.tracker.on_finish = links.finished
        links.start()
    source = KafkaSource(
        GroupReader(settings.kafka.topics),
        settings.delivery,
        consumer,
        pipeline.producer,
        pipeline.tracker,
        metrics,
        sink=pipeline,
        stop=stop,
        health=health,
        ordering=settings.ordering,
        links=links,
    )
    log.info(
        "consumer starting",
        extra={
            "topics": list(settings.kafka.topics),
            "destinations": [d.masked_url for d in settings.destinations],
        },
    )
    registry.register(LagCollector(source.positions))
    try:
        await asyncio.to_thread(source.run)
    finally:
        if links is not None:
            await asyncio.to_thread(links.close)
    return 0
