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
"""

from __future__ import annotations

import io
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import fastavro

from consumer import avro_codec
from consumer.decision import decide_message
from consumer.decode import Decoder
from consumer.errors import Rejected

UNKNOWN_SCHEMA_ID = 987_654


@dataclass(frozen=True)
class Poison:
    kind: str
    key: bytes
    value: bytes
    reason: str  # the dead-letter reason it must get


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


def kinds(
    schema_id: int, registry: bool, max_message_bytes: int
) -> dict[str, Callable[[int, random.Random], bytes]]:
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

    made: dict[str, Callable[[int, random.Random], bytes]] = {
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
        "oversized": oversized,
    }
    if registry:
        made["unknown_schema_id"] = lambda n, _: avro_codec.frame(UNKNOWN_SCHEMA_ID, good(n))
    return made


def expected_reason(value: bytes, decoder: Decoder) -> str:
    """The reason the consumer's decision core gives this value (it must be dead-lettered)."""
    try:
        message = decoder.decode(value)
    except Rejected as exc:
        return exc.reason
    decision = decide_message(message, ())
    if decision.reason is None:
        raise ValueError("a poison record that is a valid Segment message")
    return decision.reason


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
            found.append(Poison(kind, f"poison-{kind}-{n}".encode(), value, reason))
    rnd.shuffle(found)
    return found
