"""Dead-letter records: the original key, value and headers, plus why, in Kafka Connect's words.

Kafka Connect's `__connect.errors.*` headers let existing tooling read our dead letters; the
`movableink.*` headers add what Connect has no word for. Pure: builds records, sends nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from consumer.core.errors import INTERNAL_ERROR, class_for, described_class
from consumer.core.records import Headers, Record

CONNECT_TOPIC = "__connect.errors.topic"
CONNECT_PARTITION = "__connect.errors.partition"
CONNECT_OFFSET = "__connect.errors.offset"
CONNECT_CLASS = "__connect.errors.exception.class.name"
CONNECT_MESSAGE = "__connect.errors.exception.message"
REASON = "movableink.reason"
STATUS = "movableink.http.status"
ATTEMPTS = "movableink.attempts"
FIRST_ATTEMPT = "movableink.first.attempt"
LAST_ATTEMPT = "movableink.last.attempt"
DESTINATION = "movableink.destination"
MAPPING = "movableink.mapping"  # the mapping (subscription) whose request failed, if one did
MESSAGE_ID = "movableink.message.id"
REPLAY_COUNT = "movableink.replay.count"  # how many replays this record has been through
REPLAYED_FROM = "movableink.replayed.from"  # topic:partition:offset a re-published record came from
TRUNCATED = "movableink.truncated"  # the value (and maybe key, headers) was cut to fit the topic
ORIGINAL_SIZE = "movableink.original.size"  # the value's size in bytes before it was cut
OUR_HEADERS = frozenset(
    {
        CONNECT_TOPIC, CONNECT_PARTITION, CONNECT_OFFSET, CONNECT_CLASS, CONNECT_MESSAGE,
        REASON, STATUS, ATTEMPTS, FIRST_ATTEMPT, LAST_ATTEMPT, DESTINATION, MAPPING, MESSAGE_ID,
        REPLAY_COUNT, REPLAYED_FROM, TRUNCATED, ORIGINAL_SIZE,
    }
)  # fmt: skip
MAX_HEADER_TEXT = 1024  # bytes of a message id or an error text in a header
# How far a dead letter is cut when Kafka refuses its size: (value bytes kept, original headers
# kept). The first level is the record as it was.
TRUNCATION_LEVELS: tuple[tuple[int | None, bool], ...] = (
    (None, True),
    (65_536, True),
    (1024, False),
)


@dataclass(frozen=True)
class Failure:
    """Why a record is dead-lettered, for which destination ('' for all) and which of its
    mappings ('' when the event itself is at fault there, whatever the mapping)."""

    reason: str
    message: str
    message_id: str = ""
    destination: str = ""
    status: int | None = None
    attempts: int = 0
    first_attempt: float | None = None  # epoch seconds
    last_attempt: float | None = None
    exception: str | None = None  # the class of an unexpected error, for `internal.error`
    mapping: str = ""


def topic_for(template: str, source_topic: str) -> str:
    """The dead-letter topic of an input topic (`{topic}` is replaced by its name)."""
    return template.replace("{topic}", source_topic)


def header(headers: Headers, name: str) -> bytes | None:
    """The last value of a header, or None."""
    found = [v for k, v in headers if k == name]
    return found[-1] if found else None


def replay_count(headers: Headers) -> int:
    """How many replays a record has been through (0 for one never replayed)."""
    value = header(headers, REPLAY_COUNT)
    try:
        return int(value or b"0")
    except ValueError:
        return 0


def original_topic(source: Record) -> str:
    """The input topic a record first came from (a dead letter names it in its headers)."""
    named = header(source.headers, CONNECT_TOPIC)
    return named.decode(errors="replace") if named else source.topic


def _iso(epoch: float) -> bytes:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").encode()


def _text(value: str) -> bytes:
    """Any text as header bytes: lone surrogates escaped, at most `MAX_HEADER_TEXT` bytes."""
    return value.encode("utf-8", "backslashreplace")[:MAX_HEADER_TEXT]


def headers_for(
    source: Record, failure: Failure, replay: bool = False, keep_original: bool = True
) -> list[tuple[str, bytes | None]]:
    """The original headers (ours from an earlier dead-lettering dropped), then the new ones.

    A record that fails again during a replay carries `movableink.replay.count` one higher.
    """
    kept = source.headers if keep_original else []
    headers = [(k, v) for k, v in kept if k not in OUR_HEADERS]
    exception = failure.exception
    if exception is None and failure.reason == INTERNAL_ERROR:
        # An unexpected error's class travels in its detail, as `describe` wrote it.
        exception = described_class(failure.message)
    if exception is None:
        named = class_for(failure.reason)
        exception = f"{named.__module__}.{named.__qualname__}"
    headers += [
        (CONNECT_TOPIC, source.topic.encode()),
        (CONNECT_PARTITION, str(source.partition).encode()),
        (CONNECT_OFFSET, str(source.offset).encode()),
        (CONNECT_CLASS, _text(exception)),
        (CONNECT_MESSAGE, _text(failure.message)),
        (REASON, failure.reason.encode()),
        (ATTEMPTS, str(failure.attempts).encode()),
    ]
    if failure.message_id:
        headers.append((MESSAGE_ID, _text(failure.message_id)))
    if failure.destination:
        headers.append((DESTINATION, _text(failure.destination)))
    if failure.mapping:
        headers.append((MAPPING, _text(failure.mapping)))
    if failure.status is not None:
        headers.append((STATUS, str(failure.status).encode()))
    if failure.first_attempt is not None:
        headers.append((FIRST_ATTEMPT, _iso(failure.first_attempt)))
    if failure.last_attempt is not None:
        headers.append((LAST_ATTEMPT, _iso(failure.last_attempt)))
    if replay:
        headers.append((REPLAY_COUNT, str(replay_count(source.headers) + 1).encode()))
    return headers


def truncated(
    source: Record, failure: Failure, level: int, replay: bool = False
) -> tuple[bytes | None, bytes | None, Headers]:
    """Key, value and headers of the dead letter at truncation `level` (see
    `TRUNCATION_LEVELS`); past the first level the cut is said in headers."""
    keep, keep_headers = TRUNCATION_LEVELS[level]
    headers = headers_for(source, failure, replay, keep_headers)
    if keep is None:
        return source.key, source.value, headers
    value = source.value or b""
    headers += [(TRUNCATED, b"true"), (ORIGINAL_SIZE, str(len(value)).encode())]
    key = source.key if keep_headers or source.key is None else source.key[:keep]
    return key, value[:keep], headers
