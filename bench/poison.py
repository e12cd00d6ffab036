"""Poison records of every kind in spec section 8, each with the reason code it must get.

Every poison record is keyed `poison-<kind>-<n>`, so its dead letter (which keeps the original
key) can be found, and carries no identity a valid event has, so nothing of it may reach the
stand-in. The expected reason is the one the consumer's own decision core gives (checked here
with a local `Decoder`, so a kind whose bytes do not mean what it says fails loudly).

What the topic cannot hold, and how it is covered instead:
- "non-object JSON" (`[1,2]`, `"text"`, `42`): in the default `confluent` value format only a
  value starting with `{` is read as JSON, so these are bad-magic-byte records
  (`decode.bad_magic_byte`); a broken JSON object is `decode.invalid_json`.
- "unknown schema id" needs a schema registry (without one, every id is read with the local
  schema): with `registry=False` it is left out and the truncated / trailing-bytes kinds remain.

Beyond section 8's list, the kinds that once crashed, stalled or were falsely delivered: wrong
JSON types in Segment fields, a JSON-text Avro field that is not JSON, nesting too deep to
read, NaN and Infinity, invalid UTF-8, tombstones, odd header bytes, a
50 KB `messageId`, and a record just under `max_message_bytes` that fails Signals (its dead
letter is larger than the record).
"""

from __future__ import annotations

import io
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import fastavro

from consumer.core.decision import decide_record
from consumer.core.decode import Decoder, avro_codec
from consumer.core.mapping import compile_mapping
from consumer.core.movableink import (
    PRESET_DATA,
    PRESET_NAME,
    PRESET_SUBSCRIBE,
    Destination,
    Secret,
    Subscription,
)
from consumer.core.triggers import parse

UNKNOWN_SCHEMA_ID = 987_654


@dataclass(frozen=True)
class Poison:
    kind: str
    key: bytes
    value: bytes | None  # None: a tombstone
    reason: str  # the dead-letter reason it must get
    headers: tuple[tuple[str, bytes], ...] = ()


# Headers a kind's records carry (bytes no text encoding reads; an empty name and value).
HEADERS: dict[str, tuple[tuple[str, bytes], ...]] = {
    "odd_headers": (("bin", b"\xff\x00\xfe\r\n"), ("", b""), ("\u00fcml\u00e4ut", b"\xc3")),
}
DEEP = 5_000  # levels of nesting: more than any JSON reader here walks


def _event(n: int, **fields: Any) -> dict[str, Any]:
    return {
        "type": "track",
        "messageId": f"poison-{n}",
        "event": "Product Viewed",
        "timestamp": "2026-11-24T12:00:00.000Z",
        "properties": {"sku": "p-1", "url": "https://shop.example/p/p-1"},
        **fields,
    }


def _with_extra(n: int, extra: dict[str, Any]) -> bytes:
    """Valid Avro of the Segment schema whose decoded message gets `extra` merged on top."""
    record = avro_codec.to_record(_event(n, anonymousId=f"poison-anon-{n}"))
    record["extra"] = json.dumps(extra)
    out = io.BytesIO()
    fastavro.schemaless_writer(out, avro_codec.segment_schema(), record)
    return out.getvalue()


def _json(n: int, **fields: Any) -> bytes:
    """A JSON record: a track with this poison's messageId, then `fields` on top."""
    return json.dumps({"type": "track", "messageId": f"poison-{n}", **fields}).encode()


def _avro_with(n: int, **fields: str) -> bytes:
    """Avro of the Segment schema whose JSON-text fields are set to raw `fields`."""
    record = avro_codec.to_record(_event(n, anonymousId=f"poison-anon-{n}"))
    record.update(fields)
    out = io.BytesIO()
    fastavro.schemaless_writer(out, avro_codec.segment_schema(), record)
    return out.getvalue()


def kinds(
    schema_id: int, registry: bool, max_message_bytes: int
) -> dict[str, Callable[[int, random.Random], bytes | None]]:
    """Each kind: a function of (n, random) that makes its value bytes."""

    def framed(body: bytes) -> bytes:
        return avro_codec.frame(schema_id, body)

    def good(n: int) -> bytes:
        return avro_codec.encode(_event(n, anonymousId=f"poison-anon-{n}"))

    def garbage(n: int, rnd: random.Random) -> bytes:
        return bytes([0xFF]) + rnd.randbytes(rnd.randrange(5, 400))

    def truncated(n: int, rnd: random.Random) -> bytes:
        body = good(n)
        return framed(body[: rnd.randrange(1, len(body) // 3)])

    def oversized(n: int, rnd: random.Random) -> bytes:
        padding = rnd.randbytes(max_message_bytes // 2).hex()  # 2 chars a byte: over the bound
        return framed(avro_codec.encode(_event(n, anonymousId=f"p-{n}", extra=padding)))

    def near_limit(n: int, _: random.Random) -> bytes:
        """An Order Completed without products, just under the size bound: Signals fails."""
        message = _event(n, anonymousId=f"poison-anon-{n}", event="Order Completed")
        message["properties"] = {"total": 1, "pad": ""}
        size = len(framed(avro_codec.encode(message)))
        message["properties"]["pad"] = "x" * (max_message_bytes - size - 16)
        return framed(avro_codec.encode(message))

    anon = "poison-anon-"
    made: dict[str, Callable[[int, random.Random], bytes | None]] = {
        "garbage": garbage,
        "wrong_magic_byte": lambda n, _: b"\x01" + framed(good(n))[1:],
        "truncated_avro": truncated,
        "trailing_bytes": lambda n, _: framed(good(n) + b"\x02\x04\x06"),
        "no_type": lambda n, _: framed(_with_extra(n, {"type": None})),
        "unknown_type": lambda n, _: framed(_with_extra(n, {"type": "purchase"})),
        "no_ids": lambda n, _: framed(_with_extra(n, {"anonymousId": None})),
        "json_array": lambda n, _: json.dumps([n, "not", "an", "object"]).encode(),
        "json_string": lambda n, _: json.dumps(f"poison {n}").encode(),
        "json_number": lambda n, _: str(n).encode(),
        "broken_json": lambda n, _: b'{"type": "track", "messageId": "poison-' + b"%d" % n,
        "json_without_ids": lambda n, _: json.dumps({"type": "track", "event": f"p{n}"}).encode(),
        "empty": lambda n, _: b"",
        "tombstone": lambda n, _: None,
        "oversized": oversized,
        "near_limit_signals": near_limit,
        "type_is_a_list": lambda n, _: _json(n, type=["track"], userId=f"{anon}{n}"),
        "event_is_an_object": lambda n, _: _json(n, event={"a": 1}, userId=f"{anon}{n}"),
        "integrations_is_text": lambda n, _: framed(_with_extra(n, {"integrations": "All"})),
        "avro_properties_not_json": lambda n, _: framed(_avro_with(n, properties="{not json")),
        "avro_extra_too_deep": lambda n, _: framed(
            _avro_with(n, extra='{"x":' + "[" * DEEP + "]" * DEEP + "}")
        ),
        "json_too_deep": lambda n, _: (
            b'{"type":"track","userId":"p","x":' + b"[" * DEEP + b"]" * DEEP + b"}"
        ),
        "json_nan": lambda n, _: _json(n, userId=f"{anon}{n}", properties={"x": float("nan")}),
        "json_infinity": lambda n, _: _json(n, userId=f"{anon}{n}", total=float("-inf")),
        "invalid_utf8": lambda n, _: b'{"type":"track","userId":"\xff\xfe","messageId":"p"}',
        "control_characters": lambda n, _: _json(n, type="track\u0000", userId=f"{anon}{n}"),
        "huge_message_id": lambda n, _: _json(n, messageId=f"poison-{n}-" + "x" * 50_000),
        "odd_headers": lambda n, _: _json(n, event="no ids"),
    }
    if registry:
        made["unknown_schema_id"] = lambda n, _: avro_codec.frame(UNKNOWN_SCHEMA_ID, good(n))
    return made


def _preset() -> Destination:
    """A destination as the chaos suite configures it: the preset mapping, Signals enforced."""
    mapping = Subscription(PRESET_NAME, parse(PRESET_SUBSCRIBE), compile_mapping(PRESET_DATA))
    return Destination("preset", "http://127.0.0.1:1/behavioral/k", "u", Secret("p"), (mapping,))


def expected_reason(value: bytes | None, decoder: Decoder) -> str:
    """The reason the consumer's decision core gives this value (it must be dead-lettered)."""
    decision = decide_record(value, decoder, (_preset(),))
    if decision.action != "invalid" or decision.first_reason is None:
        raise ValueError("a poison record that is a valid Segment message")
    return decision.first_reason


def make(
    per_kind: int,
    schema_id: int,
    *,
    registry: bool,
    max_message_bytes: int,
    seed: int = 7,
) -> list[Poison]:
    """`per_kind` records of every kind, in a shuffled order."""
    rnd = random.Random(seed)
    decoder = Decoder(max_message_bytes=max_message_bytes)
    found: list[Poison] = []
    n = 0
    for kind, build in kinds(schema_id, registry, max_message_bytes).items():
        for _ in range(per_kind):
            n += 1
            value = build(n, rnd)
            if kind == "unknown_schema_id":
                reason = "decode.unknown_schema_id"  # the local decoder has no registry
            else:
                reason = expected_reason(value, decoder)
            key = f"poison-{kind}-{n}".encode()
            found.append(Poison(kind, key, value, reason, HEADERS.get(kind, ())))
    rnd.shuffle(found)
    return found
