"""The stages after the decision, wired once for `run` and `replay`: decoder, delivery workers,
outcomes, offsets and dead letters, and the hand-over from the Kafka thread to the loop.

One record's way, hop by hop (Kafka thread, then the asyncio loop from `Pipeline.accept`):

    source.KafkaSource._step        kafka.Consumer.consume -> records.Record
    source.KafkaSource._take        readers.GroupReader.wanted (RangeReader for a replay)
    pipeline.Pipeline.decide        decision.decide_record: decode.Decoder.decode,
                                    segment.check, route (triggers, signals, mapping),
                                    decision._delivery (each body encoded once)
                                    -> decision.Decision (id, keys, event time, bodies)
    source.KafkaSource._envelop     offsets.OffsetTracker.add_many (50 decided at a time)
                                    -> envelope.Envelope (record, decision, ids, keys, event
                                    and Kafka time, offset handle): read by every later stage
    pipeline.Pipeline.accept        hop to the loop
    outcome.Outcomes.accept         a batch at once: filtered / invalid counted or
                                    dead-lettered here; one delivery.Job (envelope,
                                    requests, Timing) per delivering destination, each
                                    destination's submitted together
    delivery.DestinationWorker      submit -> ordering.Scheduler (per person) -> _run (its
                                    ends settled once per loop turn: _finish_soon),
                                    or batching.Batcher -> _run_batch
    sender.Sender.send              circuit, limits, retries -> transport.post -> Result
    outcome.Outcomes.jobs_finished  delivered, or _dead_letter -> DeadLetterWriter.send
    offsets.OffsetTracker.finish_many  then source.KafkaSource._commit -> GroupReader.save
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from pathlib import Path

from consumer.config import Settings
from consumer.core.decision import Decision, decide_record
from consumer.core.decode import Decoder
from consumer.core.decode.avro_codec import segment_schema
from consumer.core.envelope import Envelope
from consumer.core.offsets import OffsetTracker
from consumer.core.records import Record
from consumer.shell.delivery.sender import Sender
from consumer.shell.http import open_transport
from consumer.shell.kafka.client import Producer, TopicPartition
from consumer.shell.kafka.registry import RegistryLookup
from consumer.shell.metrics import Metrics
from consumer.shell.outcome import DeadLetterWriter, Outcomes

# How long the Kafka thread waits for the loop to take a batch before deciding on (see
# `Pipeline.accept`): long enough to cover a busy loop turn, short enough that a stuck loop
# cannot stall intake, shutdown or a rebalance for long.
HANDOVER_WAIT_S = 0.1


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
        avro_null_fields=settings.kafka.avro_null_fields,
    )


@dataclass
class Pipeline:
    """The stages after the decision. The Kafka thread calls `decide`, then hands batches
    over with `accept` (which waits for the loop to take them) and revoked partitions with
    `abandon`; both hop onto the loop."""

    settings: Settings
    tracker: OffsetTracker
    producer: Producer
    dead_letters: DeadLetterWriter
    outcomes: Outcomes
    decoder: Decoder
    loop: asyncio.AbstractEventLoop

    @classmethod
    def build(cls, settings: Settings, metrics: Metrics, *, replay: bool = False) -> Pipeline:
        """Built on the loop that will deliver (it must be running)."""
        decoder = build_decoder(settings)  # first: it may refuse its settings, talking to none
        tracker = OffsetTracker()
        producer = Producer(settings.kafka)
        writer = DeadLetterWriter(producer, settings.kafka.dead_letter_topic, metrics, replay)
        how = settings.delivery
        senders = [
            Sender(
                d,
                open_transport(
                    how.http_client, max_connections=how.max_in_flight, timeout_s=how.timeout
                ),
                how,
                metrics,
            )
            for d in settings.destinations
        ]
        outcomes = Outcomes(tracker, writer, metrics, senders)
        loop = asyncio.get_running_loop()
        return cls(settings, tracker, producer, writer, outcomes, decoder, loop)

    def decide(self, record: Record) -> Decision:
        return decide_record(
            record.value,
            self.decoder,
            self.settings.destinations,
            record,
        )

    def accept(self, batch: list[Envelope]) -> None:
        """From the Kafka thread: decided records, in consumption order, to the loop; returns
        once the loop has taken them (or after `HANDOVER_WAIT_S`).

        Waiting is what gives the loop its turns. The loop lets the GIL go at each of its
        socket calls, and a Kafka thread deciding the next records took it back each time, to
        keep it for the switch interval: the loop then crawled for as long as the Kafka thread
        had records to decide (a burst after intake resumed, or all the time under load).
        bench/README.md has the back-to-back figures."""
        taken = threading.Event()

        def take() -> None:
            try:
                self.outcomes.accept(batch)
            finally:
                taken.set()

        self.loop.call_soon_threadsafe(take)
        taken.wait(HANDOVER_WAIT_S)

    def abandon(self, partitions: set[TopicPartition]) -> None:
        """From the Kafka thread: revoked partitions' unstarted jobs are dropped on the loop."""
        self.loop.call_soon_threadsafe(self.outcomes.abandon, partitions)

    def ahead(self) -> int:
        return self.outcomes.ahead()

    async def aclose(self) -> None:
        await self.outcomes.aclose()
