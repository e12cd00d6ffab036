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

from prometheus_client import REGISTRY, CollectorRegistry

from consumer import status
from consumer.config import Settings
from consumer.errors import BrokerError
from consumer.kafka import Consumer
from consumer.metrics import LagCollector, Metrics
from consumer.pipeline import Pipeline
from consumer.readers import GroupReader
from consumer.source import KafkaSource
from consumer.status import Health
from consumer.topics import ensure_dead_letter_topics

log = logging.getLogger(__name__)
STARTUP_BACKOFF_S = (1.0, 30.0)


async def _heartbeat(health: Health) -> None:
    """Proves to /healthz that the delivery loop keeps turning."""
    while True:
        health.loop_beat = time.monotonic()
        await asyncio.sleep(1.0)


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
