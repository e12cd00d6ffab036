"""The keying contract: what record key keeps a person's events on one partition, and the
partitioners producers use to turn that key into a partition.

Kafka orders records only within a partition. A person stays on one partition only if every
producer keys each record by its `anonymousId`, else its `userId` (the id every event of the
person carries from the first anonymous page on), and every producer hashes that key the same
way. Java's producer and kafkajs's DefaultPartitioner hash with murmur2; librdkafka's default
`consistent_random` hashes with CRC32 and so puts the same key on another partition
(`partitioner=murmur2_random` makes librdkafka agree with Java).

`classify` says how one record's key stands against the contract; `TopicSample` sums a sample
of a topic into what `check-topic` reports. Pure: no I/O.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from consumer.core.segment import _id as id_text

Kind = Literal["ok", "none", "foreign", "user_first"]
MISKEYED: tuple[Kind, ...] = ("none", "foreign", "user_first")
Partitioner = Literal["murmur2", "crc32", "both", "neither"]

# The Message Key mapping of Segment's Kafka (Actions) destination that keys by the contract.
SEGMENT_KEY_MAPPING = (
    '{"@if": {"exists": {"@path": "$.anonymousId"}, "then": {"@path": "$.anonymousId"}, '
    '"else": {"@path": "$.userId"}}}'
)
FIX: dict[Kind, str] = {
    "none": (
        "Key every record by anonymousId, else userId. Segment's Kafka (Actions) destination: "
        f"map Message Key to {SEGMENT_KEY_MAPPING}; any other producer: set the record key "
        "(and for librdkafka clients partitioner=murmur2_random)."
    ),
    "foreign": (
        "Key every record by anonymousId, else userId, not by another value (a messageId, a "
        "session or a constant spreads a person over partitions or piles everyone on one)."
    ),
    "user_first": (
        "Key by anonymousId first, userId only when there is none: a userId-first key (as "
        "RudderStack's Kafka destination writes, not configurable) puts a person's anonymous "
        "events and their later identified ones on different partitions. Where the producer "
        "cannot change, run one consumer process, which orders across its partitions by event "
        "time."
    ),
}
FIX_PARTITIONER = (
    "Set partitioner=murmur2_random on every librdkafka-based producer (confluent-kafka, "
    "node-rdkafka, kcat, rdkafka): its default consistent_random hashes keys with CRC32, so "
    "a Java or kafkajs producer (Segment's Kafka destination) writing the same topic puts the "
    "same person on another partition."
)


def contract_key(message: Mapping[str, Any]) -> str | None:
    """The key the contract asks for: the `anonymousId`, else the `userId` (None: neither)."""
    return id_text(message.get("anonymousId")) or id_text(message.get("userId"))


def classify(key: bytes | None, message: Any) -> Kind | None:
    """How a record's key stands against the contract; None for a value with no id to key by
    (not a message, or one with neither id: the consumer dead-letters it anyway)."""
    if type(message) is not dict and not isinstance(message, Mapping):
        return None
    given = message.get("anonymousId")
    if key is not None and type(given) is str and given and key == given.encode():
        return "ok"  # the usual case of a keyed topic, first
    anonymous = id_text(given)
    user = id_text(message.get("userId"))
    if anonymous is None and user is None:
        return None
    if key is None:
        return "none"
    if key == (anonymous or user or "").encode():
        return "ok"
    if user is not None and key == user.encode():
        return "user_first"
    return "foreign"


_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 hash (Java's `Utils.murmur2`, kafkajs's too), as a signed 32-bit int."""
    length = len(data)
    h = (0x9747B28C ^ length) & _MASK
    whole = length - length % 4
    for i in range(0, whole, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    tail = length % 4
    if tail:
        for shift, byte in enumerate(data[whole:]):
            h ^= byte << (8 * shift)
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def murmur2_partition(key: bytes, partitions: int) -> int:
    """The partition Java's default partitioner, kafkajs's DefaultPartitioner and librdkafka's
    `murmur2_random` give a key."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def crc32_partition(key: bytes, partitions: int) -> int:
    """The partition librdkafka's default `consistent_random` partitioner gives a non-empty
    key (an empty one, like none, goes to a random partition)."""
    return zlib.crc32(key) % partitions


def partitioner_of(key: bytes, partition: int, partitions: int) -> Partitioner:
    """Which hash put this keyed record on its partition ("both" when they agree by chance)."""
    by_murmur2 = murmur2_partition(key, partitions) == partition
    by_crc32 = crc32_partition(key, partitions) == partition
    if by_murmur2 and by_crc32:
        return "both"
    return "murmur2" if by_murmur2 else "crc32" if by_crc32 else "neither"


@dataclass
class _People:
    """The people of a sample: ids joined when one message carries both (union-find), with
    the partitions each id was seen on."""

    parent: dict[str, str] = field(default_factory=dict)
    partitions: dict[str, set[int]] = field(default_factory=dict)

    def root(self, name: str) -> str:
        parent = self.parent.setdefault(name, name)
        while parent != name:
            self.parent[name] = self.parent[parent]  # halve the path
            name, parent = parent, self.parent[parent]
        return name

    def add(self, ids: tuple[str, ...], partition: int) -> None:
        roots = {self.root(i) for i in ids}
        first = min(roots)
        for other in roots - {first}:
            self.parent[other] = first
            self.partitions.setdefault(first, set()).update(self.partitions.pop(other, set()))
        self.partitions.setdefault(first, set()).add(partition)

    def spread(self) -> tuple[int, int]:
        """(people, people on more than one partition)."""
        seen: dict[str, set[int]] = {}
        for name, parts in self.partitions.items():
            seen.setdefault(self.root(name), set()).update(parts)
        return len(seen), sum(1 for parts in seen.values() if len(parts) > 1)


@dataclass
class TopicSample:
    """What a sample of a topic says about its keying and its producers' partitioners."""

    partitions: int
    kinds: Counter[Kind] = field(default_factory=Counter)
    hashes: Counter[Partitioner] = field(default_factory=Counter)
    undecodable: int = 0
    no_id: int = 0
    people: _People = field(default_factory=_People)

    def add(self, partition: int, key: bytes | None, message: Any) -> None:
        """Count one decoded record (`add_undecodable` for one that is not)."""
        kind = classify(key, message)
        if kind is None:
            self.no_id += 1
            return
        self.kinds[kind] += 1
        ids = tuple(
            i for i in (id_text(message.get(f)) for f in ("anonymousId", "userId")) if i is not None
        )
        self.people.add(ids, partition)
        if key:  # an empty key is partitioned at random by librdkafka, like none
            self.hashes[partitioner_of(key, partition, self.partitions)] += 1

    def add_undecodable(self) -> None:
        self.undecodable += 1

    @property
    def checked(self) -> int:
        return sum(self.kinds.values())

    def fixes(self) -> list[str]:
        """The producer settings that fix what the sample shows, most records first."""
        found = [FIX[k] for k, _ in self.kinds.most_common() if k != "ok"]
        if self.hashes["crc32"]:
            found.append(FIX_PARTITIONER)
        return found

    def report(self) -> str:
        """The sample as text: shares per kind, people spread, partitioners, fixes."""
        checked = self.checked
        people, spread = self.people.spread()
        lines = [
            f"records checked: {checked} over {self.partitions} partitions "
            f"({self.undecodable} undecodable, {self.no_id} without anonymousId or userId)",
            "keying:",
            *(
                f"  {kind:<10} {self.kinds[kind]:>8}  {_share(self.kinds[kind], checked)}"
                for kind in ("ok", *MISKEYED)
            ),
            f"people on more than one partition: {spread} of {people} ({_share(spread, people)})",
        ]
        if spread and not self.fixes():
            lines.append(
                "  (keyed by the contract, a person identified later has their userId-only "
                "events on the userId's partition: one consumer process orders them by event "
                "time; several order each partition only)"
            )
        keyed = sum(self.hashes.values())
        if keyed:
            lines.append("partitioner of the keyed records:")
            lines += [
                f"  {name:<10} {self.hashes[name]:>8}  {_share(self.hashes[name], keyed)}"
                for name in ("murmur2", "crc32", "both", "neither")
            ]
            lines.append(f"  verdict: {self.partitioner_verdict()}")
        fixes = self.fixes()
        lines.append("fix:" if fixes else "fix: nothing to fix: the keying follows the contract.")
        lines += [f"  - {fix}" for fix in fixes]
        return "\n".join(lines)

    def partitioner_verdict(self) -> str:
        murmur, crc, neither = self.hashes["murmur2"], self.hashes["crc32"], self.hashes["neither"]
        if murmur and crc:
            return "producers disagree: murmur2 (Java, kafkajs) and CRC32 (librdkafka's default)"
        if neither > murmur + crc:
            return "neither murmur2 nor CRC32: a custom partitioner or explicit partitions"
        if crc:
            return "CRC32 (librdkafka's default consistent_random)"
        return "murmur2 (Java, kafkajs, librdkafka's murmur2_random)"


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "-"
