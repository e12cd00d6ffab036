"""The Kafka clients, typed and thin: consumer and producer (the admin side is in `topics`).

It owns the librdkafka settings correctness depends on (no auto-commit, no auto offset store,
cooperative-sticky assignment, an idempotent producer that waits for all replicas); those win
over the pass-through `[kafka.properties]`. It also makes a static member (group.instance.id)
leave on a clean close. Kafka errors become `BrokerError` with one sentence.
librdkafka's own log lines go to the `librdkafka` Python logger (its `logger` setting), so they
come out in the process's log format instead of as raw text on standard error; a line repeated
within 30 s is counted, not written again.
"""

from __future__ import annotations

import functools
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

import confluent_kafka

from consumer.core.errors import BrokerError, ConfigError
from consumer.core.records import Headers, Record
from consumer.core.tuples import record
from consumer.settings import KafkaSettings
from consumer.shell.logs import RepeatFilter

log = logging.getLogger(__name__)
LIBRDKAFKA_LOG = logging.getLogger("librdkafka")
LIBRDKAFKA_LOG.addFilter(RepeatFilter())
log.addFilter(RepeatFilter())
TopicPartition = tuple[str, int]
T = TypeVar("T")
P = ParamSpec("P")
LEAVE_TIMEOUT_S = 5.0  # for a static member to leave on close, within the shutdown budget
SERVE_S = 0.05
# An offset sent and not answered yet is not sent again before this (librdkafka answers every
# commit, if only with a timeout; this bounds what a lost answer could hold back).
COMMIT_RESEND_S = 30.0

CONSUMER_OVERRIDES: dict[str, Any] = {
    "enable.auto.commit": False,
    "enable.auto.offset.store": False,
    "partition.assignment.strategy": "cooperative-sticky",
}
PRODUCER_OVERRIDES: dict[str, Any] = {"acks": "all", "enable.idempotence": True}
CONSUMER_DEFAULTS: dict[str, Any] = {
    "auto.offset.reset": "earliest",
    # librdkafka prefetches up to 64 MB per partition by default; the delivery buffer, not
    # prefetch, is what keeps us busy, so a smaller prefetch saves memory at the same rate.
    "queued.max.messages.kbytes": 4096,
}
PRODUCER_DEFAULTS: dict[str, Any] = {"linger.ms": 5, "compression.type": "lz4"}
# Properties that only mean something to a consumer: not passed to producers and admins.
_CONSUMER_ONLY_PREFIXES = (
    "group.", "auto.offset.reset", "fetch.", "max.poll.", "session.timeout", "heartbeat.",
    "queued.", "isolation.level", "partition.assignment", "enable.auto.", "auto.commit.",
    "check.crcs", "enable.partition.eof", "max.partition.fetch", "client.rack",
)  # fmt: skip


# Room for a dead letter's headers and key above the largest value the consumer accepts.
DEAD_LETTER_HEADROOM = 256 * 1024


@dataclass(frozen=True)
class ProduceError:
    """Why a record was not stored; `too_large`: it is over a size limit (cut it to fit)."""

    text: str
    too_large: bool = False


def record_limit(settings: KafkaSettings) -> int:
    """The largest record the consumer produces: the largest value it accepts, plus room for
    a dead letter's headers, so that any record it reads can be dead-lettered whole."""
    return max(1_000_000, settings.max_message_bytes + DEAD_LETTER_HEADROOM)


def common_config(settings: KafkaSettings) -> dict[str, Any]:
    shared = {
        k: v for k, v in settings.properties.items() if not k.startswith(_CONSUMER_ONLY_PREFIXES)
    }
    return {**shared, "bootstrap.servers": settings.bootstrap_servers, "logger": LIBRDKAFKA_LOG}


_SECRET_WORDS = ("password", "secret", "token", "key", "jaas", "credentials", "user.info")


def build_client(
    factory: Callable[[dict[str, Any]], T], conf: dict[str, Any], given: dict[str, Any]
) -> T:
    """Build a librdkafka client. A property it refuses is a `ConfigError` naming the one in
    `given` (the user's `[kafka.properties]`) at fault, never showing a secret's value."""
    try:
        return factory(conf)
    except (confluent_kafka.KafkaException, TypeError, ValueError) as exc:
        why = _refusal(exc)
    base = {k: v for k, v in conf.items() if k not in given} | {"log_level": 0}  # quiet probes
    for name, value in given.items():  # which one? ask librdkafka one at a time
        try:
            factory({**base, name: value})
        except (confluent_kafka.KafkaException, TypeError, ValueError) as exc:
            shown = "***" if any(w in name for w in _SECRET_WORDS) else repr(value)
            raise ConfigError(
                f'kafka.properties."{name}" = {shown} is refused by librdkafka: {_refusal(exc)}.'
            ) from None
    raise ConfigError(f"librdkafka refuses the Kafka settings: {why}.")


def _refusal(exc: Exception) -> str:
    """librdkafka's reason, without the value it quotes (which may be a secret)."""
    return re.sub(r'value "[^"]*" for', "value for", _reason(exc))


def _reason(exc: Exception) -> str:
    """The KafkaError's text a librdkafka exception carries, or the exception's own."""
    first = exc.args[0] if exc.args else exc
    return first.str() if isinstance(first, confluent_kafka.KafkaError) else str(first)


def _broker_errors(doing: str) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """The boundary: a librdkafka exception raised by the wrapped call becomes `BrokerError`."""

    def wrap(method: Callable[P, T]) -> Callable[P, T]:
        @functools.wraps(method)
        def call(*args: P.args, **kwargs: P.kwargs) -> T:
            try:
                return method(*args, **kwargs)
            except confluent_kafka.KafkaException as exc:
                raise BrokerError(f"Kafka failed to {doing}: {_reason(exc)}.") from exc

        return call

    return wrap


def _raise_on_error(err: Any, doing: str) -> None:
    if err is not None:
        raise BrokerError(f"Kafka failed to {doing}: {err.str()}.")


def _headers(raw: Any) -> Headers:
    """A message's headers as (name, bytes) pairs."""
    pairs = raw.items() if isinstance(raw, dict) else raw
    return tuple([(k, v.encode() if isinstance(v, str) else v) for k, v in pairs])


def _check_event(err: Any) -> None:
    """An event librdkafka hands out among the records: a fatal error raises, others are
    logged."""
    if err is None:
        return
    # A fatal error can come as an event of code _FATAL whose `fatal()` is false (seen:
    # KIP-848's UNRELEASED_INSTANCE_ID); the client is unusable either way.
    if err.fatal() or err.code() == confluent_kafka.KafkaError._FATAL:
        raise BrokerError(f"The Kafka consumer hit a fatal error: {err.str()}.")
    log.warning("kafka consumer error", extra={"error": err.str()})


class Consumer:
    """confluent_kafka.Consumer with our settings; offsets are only ever committed explicitly."""

    def __init__(
        self,
        settings: KafkaSettings,
        group_id: str | None = None,
        overrides: dict[str, Any] | None = None,
    ) -> None:
        """`overrides`: properties a caller needs whatever `[kafka.properties]` says."""
        conf = {
            **CONSUMER_DEFAULTS,
            **settings.properties,
            **(overrides or {}),
            "bootstrap.servers": settings.bootstrap_servers,
            "group.id": group_id or settings.group_id,
            "error_cb": self._on_error,
            "on_commit": self._on_commit,
            "logger": LIBRDKAFKA_LOG,
            **CONSUMER_OVERRIDES,
        }
        # A replay reads under its own group: the live member's instance id is not its to use.
        self._static = bool(settings.group_instance_id) and group_id is None
        if self._static:
            conf["group.instance.id"] = settings.group_instance_id
        if conf.get("group.protocol") == "consumer":
            del conf["partition.assignment.strategy"]  # KIP-848: the broker assigns
        self.brokers_reachable = True
        self._sent: dict[TopicPartition, tuple[int, float]] = {}  # offset, when; unanswered
        self._confirmed: dict[TopicPartition, int] = {}
        self._newest: dict[TopicPartition, int] = {}  # the highest offset ever confirmed
        self._unanswered = 0
        self._consumer = build_client(confluent_kafka.Consumer, conf, settings.properties)

    def _on_error(self, err: Any) -> None:
        """librdkafka's client-wide errors: it retries them itself; we only keep score."""
        if err.code() == confluent_kafka.KafkaError._ALL_BROKERS_DOWN:
            self.brokers_reachable = False
        log.warning("kafka client error", extra={"error": err.str()})

    @_broker_errors("subscribe")
    def subscribe(
        self,
        topics: Sequence[str],
        on_assign: Callable[[list[TopicPartition]], None],
        on_revoke: Callable[[list[TopicPartition]], None],
        on_lost: Callable[[list[TopicPartition]], None],
    ) -> None:
        def wrap(callback: Callable[[list[TopicPartition]], None]) -> Callable[..., None]:
            def called(_: Any, partitions: list[Any]) -> None:
                callback([(p.topic, p.partition) for p in partitions])

            return called

        self._consumer.subscribe(
            list(topics),
            on_assign=wrap(on_assign),
            on_revoke=wrap(on_revoke),
            on_lost=wrap(on_lost),
        )

    def _fetch(self, max_records: int, timeout_s: float) -> list[Any]:
        """What librdkafka already holds, at once; else wait for the *first* record only.

        `consume(n, t)` alone blocks until n records or t seconds, which idles the pipeline
        for up to t whenever fewer than n are ready (measured in bench/: a throughput cap).
        """
        messages = self._consumer.consume(max_records, 0)
        if messages or timeout_s <= 0:
            return messages
        first = self._consumer.consume(1, timeout_s)
        if not first or max_records == 1:
            return first
        return first + self._consumer.consume(max_records - 1, 0)

    @_broker_errors("read records")
    def consume(self, max_records: int, timeout_s: float) -> list[Record]:
        """Records, skipping informational events; a fatal error raises `BrokerError`.

        The records are built in one comprehension, which skips the events; the events, rare,
        are looked at after (per record, a loop body cost about as much as building it)."""
        messages = self._fetch(max_records, timeout_s)
        if not messages:
            return []
        self.brokers_reachable = True
        records = [
            record(
                Record,
                (
                    m.topic(),
                    m.partition(),
                    m.offset(),
                    m.key(),
                    m.value(),
                    _headers(raw) if (raw := m.headers()) else (),
                    stamp if stamp_type else None,
                ),
            )
            for m in messages
            if m.error() is None
            for stamp_type, stamp in (m.timestamp(),)
        ]
        if len(records) < len(messages):
            for message in messages:
                _check_event(message.error())
        return records

    def commit(self, offsets: dict[TopicPartition, int]) -> None:
        """Send `offsets` (the next offsets to read) to be committed, without waiting: a
        synchronous commit holds the Kafka thread for as long as the group coordinator is
        away (45 s with no broker reachable), past what the poll interval and the liveness
        probe allow. The broker's answer comes to `confirmed`; an offset already sent and
        not answered yet is not sent again."""
        now = time.monotonic()
        wanted = {
            tp: o
            for tp, o in offsets.items()
            if (sent := self._sent.get(tp)) is None
            or sent[0] != o
            or now - sent[1] > COMMIT_RESEND_S
        }
        if not wanted:
            return
        parts = [confluent_kafka.TopicPartition(t, p, o) for (t, p), o in wanted.items()]
        try:
            self._consumer.commit(offsets=parts, asynchronous=True)
        except confluent_kafka.KafkaException as exc:
            raise BrokerError(f"Kafka failed to commit offsets: {_reason(exc)}.") from exc
        self._unanswered += 1
        self._sent.update({tp: (o, now) for tp, o in wanted.items()})

    def _on_commit(self, err: Any, partitions: list[Any]) -> None:
        """librdkafka's answer to one commit (served inside `consume`, on the Kafka thread)."""
        self._unanswered = max(0, self._unanswered - 1)
        failed = []
        for part in partitions:
            tp = (part.topic, part.partition)
            sent = self._sent.get(tp)
            if sent is not None and sent[0] <= part.offset:
                del self._sent[tp]  # answered; a failure is sent again by the next commit
            if err is None and part.error is None:
                self._confirm(tp, part.offset)
            else:
                failed.append(f"{part.topic}[{part.partition}]")
        if err is not None or failed:
            why = err.str() if err is not None else "see the partitions"
            log.warning(
                "commit failed; it is sent again", extra={"error": why, "partitions": failed}
            )
        else:
            self.brokers_reachable = True

    def _confirm(self, tp: TopicPartition, offset: int) -> None:
        """The broker now holds `offset`: answers come in the order the coordinator wrote the
        commits, and a commit librdkafka retried after the coordinator moved can be written
        after a newer one, taking the partition's offset back. The last answer wins, so that
        the newer offset is sent again instead of being taken as committed."""
        newest = self._newest.get(tp)
        if newest is not None and offset < newest:
            log.info(
                "an older commit was written after a newer one; the newer is sent again",
                extra={"topic": tp[0], "partition": tp[1], "offset": offset, "newer": newest},
            )
        self._newest[tp] = max(offset, newest if newest is not None else offset)
        self._confirmed[tp] = offset

    def confirmed(self) -> dict[TopicPartition, int]:
        """The offsets the broker confirmed as committed since the last call."""
        found, self._confirmed = self._confirmed, {}
        return found

    @_broker_errors("serve commit answers")
    def settle(self, timeout_s: float) -> bool:
        """Serve commit answers until every commit sent is answered or `timeout_s` passes
        (call with the partitions paused: a record served meanwhile is dropped, and read again
        from the committed offset)."""
        deadline = time.monotonic() + timeout_s
        while self._unanswered and time.monotonic() < deadline:
            self._consumer.poll(SERVE_S)
        return not self._unanswered

    @_broker_errors("seek")
    def seek(self, topic: str, partition: int, offset: int) -> None:
        self._consumer.seek(confluent_kafka.TopicPartition(topic, partition, offset))

    @_broker_errors("pause partitions")
    def pause(self, partitions: Sequence[TopicPartition]) -> None:
        if partitions:
            self._consumer.pause([confluent_kafka.TopicPartition(t, p) for t, p in partitions])

    @_broker_errors("resume partitions")
    def resume(self, partitions: Sequence[TopicPartition]) -> None:
        if partitions:
            self._consumer.resume([confluent_kafka.TopicPartition(t, p) for t, p in partitions])

    @_broker_errors("tell the assignment")
    def assignment(self) -> list[TopicPartition]:
        return [(p.topic, p.partition) for p in self._consumer.assignment()]

    @_broker_errors("tell the watermarks")
    def watermarks(self, topic: str, partition: int) -> tuple[int, int]:
        """Low and high watermark from the last fetch (no broker round trip)."""
        low, high = self._consumer.get_watermark_offsets(
            confluent_kafka.TopicPartition(topic, partition), cached=True
        )
        return int(low), int(high)

    @_broker_errors("assign partitions")
    def assign(self, starts: dict[TopicPartition, int]) -> None:
        """Read these partitions from these offsets, outside any consumer group's assignment."""
        self._consumer.assign(
            [confluent_kafka.TopicPartition(t, p, o) for (t, p), o in starts.items()]
        )

    @_broker_errors("list partitions")
    def partitions(self, topic: str, timeout_s: float = 10.0) -> list[int]:
        metadata = self._consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
        if metadata is None or metadata.error is not None:
            raise BrokerError(f"Topic {topic} does not exist.")
        return sorted(metadata.partitions)

    @_broker_errors("look up offsets by time")
    def offsets_at(self, topic: str, partitions: list[int], ms: int) -> dict[int, int]:
        """Per partition, the first offset at or after time `ms`, or the end offset if none."""
        asked = [confluent_kafka.TopicPartition(topic, p, ms) for p in partitions]
        found = {}
        for part in self._consumer.offsets_for_times(asked, timeout=10):
            _raise_on_error(part.error, f"look up offsets of {topic}[{part.partition}]")
            offset = part.offset
            if offset < 0:  # no record at or after `ms`
                offset = self.ends(topic, part.partition)[1]
            found[part.partition] = offset
        return found

    @_broker_errors("ask for the watermarks")
    def ends(self, topic: str, partition: int) -> tuple[int, int]:
        """Low and high watermark, asked of the broker."""
        low, high = self._consumer.get_watermark_offsets(
            confluent_kafka.TopicPartition(topic, partition), timeout=10
        )
        return int(low), int(high)

    @_broker_errors("ask for the end offsets")
    def end_offsets(
        self,
        partitions: Sequence[TopicPartition],
        *,
        beginning: bool = False,
        timeout_s: float = 10,
    ) -> dict[TopicPartition, int]:
        """Each partition's end offset (or first), asked of the broker in one request."""
        which = confluent_kafka.OFFSET_BEGINNING if beginning else confluent_kafka.OFFSET_END
        asked = [confluent_kafka.TopicPartition(t, p, which) for t, p in partitions]
        found = {}
        for part in self._consumer.offsets_for_times(asked, timeout=timeout_s):
            _raise_on_error(part.error, f"look up the end of {part.topic}[{part.partition}]")
            if part.offset >= 0:
                found[(part.topic, part.partition)] = int(part.offset)
        return found

    @_broker_errors("ask for the committed offsets")
    def committed(
        self, partitions: Sequence[TopicPartition], timeout_s: float = 10
    ) -> dict[TopicPartition, int]:
        """The offsets this consumer's group has committed (a round trip to its coordinator)."""
        asked = [confluent_kafka.TopicPartition(t, p) for t, p in partitions]
        found = {}
        for part in self._consumer.committed(asked, timeout=timeout_s):
            if part.error is None and part.offset >= 0:
                found[(part.topic, part.partition)] = int(part.offset)
        return found

    @_broker_errors("tell the position")
    def position(self, topic: str, partition: int) -> int | None:
        """The next offset this consumer will fetch, if known."""
        (part,) = self._consumer.position([confluent_kafka.TopicPartition(topic, partition)])
        return part.offset if part.offset >= 0 else None

    @_broker_errors("close the consumer")
    def close(self) -> None:
        """Leave the group and close.

        A static member's close does not leave (KIP-345): its partitions would wait out the
        session for a restart under the same instance id. A clean close means this member is
        going away (a Deployment's replacement pod has another name), so it leaves first; only
        a crash keeps the assignment for a restarted container.
        """
        if self._static:
            self._leave()
        self._consumer.close()

    def _leave(self) -> None:
        """Unsubscribe and serve the revocation until the LeaveGroup is sent.

        librdkafka sends it once the revocation is done, and resets the member id then; it skips
        it for a static member once `close` has begun, so this has to happen before.
        """
        deadline = time.monotonic() + LEAVE_TIMEOUT_S
        try:
            self._consumer.unsubscribe()
            while self._consumer.memberid() and time.monotonic() < deadline:
                self._consumer.poll(SERVE_S)  # runs the revoke callback; a record is dropped
        except confluent_kafka.KafkaException:
            return  # after a fatal error the client cannot leave; close still frees it


class Producer:
    """An idempotent producer; `send` reports each record's fate to `on_delivery`."""

    def __init__(self, settings: KafkaSettings) -> None:
        limit = {"message.max.bytes": record_limit(settings)}
        conf = {**PRODUCER_DEFAULTS, **limit, **common_config(settings), **PRODUCER_OVERRIDES}
        self._producer = build_client(confluent_kafka.Producer, conf, settings.properties)

    def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Headers,
        on_delivery: Callable[[ProduceError | None], None],
        partition: int | None = None,
    ) -> bool:
        """Queue a record; False if the local queue is full (poll, then try again). Every
        other failure, refused at once or reported later, reaches `on_delivery`."""

        def delivered(err: Any, _: Any) -> None:
            on_delivery(None if err is None else _produce_error(err))

        try:
            self._producer.produce(
                topic,
                value=value,
                key=key,
                partition=-1 if partition is None else partition,
                headers=list[tuple[str, str | bytes | None]](headers),
                on_delivery=delivered,
            )
        except BufferError:
            return False
        except confluent_kafka.KafkaException as exc:
            first = exc.args[0] if exc.args else None
            known = isinstance(first, confluent_kafka.KafkaError)
            on_delivery(_produce_error(first) if known else ProduceError(_reason(exc)))
        except Exception as exc:  # librdkafka refused an argument (a header it cannot carry)
            on_delivery(ProduceError(f"{type(exc).__name__}: {exc}"))
        return True

    @_broker_errors("serve delivery reports")
    def poll(self, timeout_s: float = 0.0) -> None:
        """Serve delivery reports (they run in the calling thread)."""
        self._producer.poll(timeout_s)

    @_broker_errors("flush the producer")
    def flush(self, timeout_s: float) -> int:
        """Wait for queued records; returns how many are still unconfirmed."""
        remaining: int = self._producer.flush(timeout_s)
        return remaining


def _produce_error(err: Any) -> ProduceError:
    too_large = err.code() in (
        confluent_kafka.KafkaError.MSG_SIZE_TOO_LARGE,
        confluent_kafka.KafkaError.INVALID_RECORD,
    )
    return ProduceError(err.str(), too_large)
