"""The Message Key mapping docs/producers.md gives for Segment's Kafka destination, run by
Segment's own mapping engine (actions-core's `transform`): it yields the keying contract's key,
and `classify` calls the result `ok` (an empty anonymousId, which `exists` accepts, aside)."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest

from consumer.core.keying import SEGMENT_KEY_MAPPING, classify, contract_key
from tests.differential.oracle_client import ORACLE

EVENTS: list[dict[str, Any]] = [
    {"type": "track", "anonymousId": "a", "userId": "u"},
    {"type": "page", "anonymousId": "a"},
    {"type": "track", "userId": "u"},
    {"type": "track", "anonymousId": None, "userId": "u"},
    {"type": "identify", "anonymousId": "a", "userId": "a"},
    {"type": "track", "anonymousId": "ä-ü 𝄞", "userId": "u"},
]
SCRIPT = """
const {transform} = require('@segment/actions-core')
const {mapping, events} = JSON.parse(require('fs').readFileSync(0, 'utf8'))
console.log(JSON.stringify(events.map((e) => transform({key: mapping}, e).key ?? null)))
"""


def _segment_keys(events: list[dict[str, Any]]) -> list[str | None]:
    node = shutil.which("node")
    if node is None or not (ORACLE / "node_modules" / "@segment" / "actions-core").is_dir():
        pytest.fail("run `make oracle` to install Segment's packages into tests/oracle")
    given = {"mapping": json.loads(SEGMENT_KEY_MAPPING), "events": events}
    done = subprocess.run(
        [node, "-e", SCRIPT],
        input=json.dumps(given),
        capture_output=True,
        text=True,
        cwd=ORACLE,
        check=True,
        timeout=60,
    )
    keys: list[str | None] = json.loads(done.stdout)
    return keys


def test_segments_engine_keys_by_the_contract() -> None:
    keys = _segment_keys(EVENTS)
    assert keys == [contract_key(e) for e in EVENTS]
    assert [
        classify(None if k is None else k.encode(), e) for k, e in zip(keys, EVENTS, strict=True)
    ] == ["ok"] * len(EVENTS)


def test_an_empty_anonymousid_is_keyed_empty_and_counted_foreign() -> None:
    event = {"type": "track", "anonymousId": "", "userId": "u"}
    (key,) = _segment_keys([event])
    assert key == ""
    assert classify(b"", event) == "foreign"
