from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Mapping

from hypothesis import given
from hypothesis import strategies as st

from consumer.core.decision import Delivery
from consumer.core.movableink import Destination, Request, Secret, body_bytes
from consumer.settings import BatchSettings
from consumer.shell.delivery.batching import Batcher, Item, content

HEADERS = {"Authorization": "Basic x", "Content-Type": "application/json"}


DESTINATION = Destination("mi", "http://127.0.0.1:1/b/k", "u", Secret("p"), ())


def item(body: Mapping[str, object], headers: dict[str, str] = HEADERS) -> Item:
    """An item whose owner is its body, so a test can tell the items apart."""
    request = Request(DESTINATION.movable_ink_url, headers, body)
    return (body, Delivery(DESTINATION, "m", request, body_bytes(body)))


def run(
    settings: BatchSettings, adds: list[tuple[dict[str, str], dict[str, int]]], wait: float = 0
) -> list[list[int]]:
    async def scenario() -> list[list[int]]:
        flushed: list[list[int]] = []
        batcher = Batcher(
            settings, lambda _, items: flushed.append([owner["n"] for owner, _ in items])
        )
        for headers, body in adds:
            batcher.add(*item(body, headers))
        await asyncio.sleep(wait)
        return flushed

    return asyncio.run(scenario())


def test_a_batch_closes_at_max_events() -> None:
    settings = BatchSettings(True, max_events=3, linger=10)
    assert run(settings, [(HEADERS, {"n": i}) for i in range(7)]) == [[0, 1, 2], [3, 4, 5]]


def test_a_batch_closes_after_the_linger_time() -> None:
    settings = BatchSettings(True, max_events=100, linger=0.01)
    assert run(settings, [(HEADERS, {"n": i}) for i in range(4)], wait=0.05) == [[0, 1, 2, 3]]


def test_a_batch_never_exceeds_max_bytes() -> None:
    one = len(json.dumps({"n": 0}, separators=(",", ":")))
    settings = BatchSettings(True, max_events=100, max_bytes=13 + 3 * (one + 1), linger=10)
    assert run(settings, [(HEADERS, {"n": i}) for i in range(5)]) == [[0, 1, 2]]


def test_different_headers_never_share_a_batch() -> None:
    other = {**HEADERS, "X-Brand": "b"}
    settings = BatchSettings(True, max_events=2, linger=10)
    adds = [(HEADERS, {"n": 0}), (other, {"n": 1}), (other, {"n": 2}), (HEADERS, {"n": 3})]
    assert run(settings, adds) == [[1, 2], [0, 3]]


def test_the_batch_body_is_the_events_shape() -> None:
    items = [item({"a": 1}), item({"b": "é"})]
    assert json.loads(content(items)) == {"events": [{"a": 1}, {"b": "é"}]}
    assert content(items) == '{"events":[{"a":1},{"b":"é"}]}'.encode()


@given(
    sizes=st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=60),
    max_bytes=st.integers(min_value=60, max_value=400),
)
def test_every_batch_fits_max_bytes_and_closes_only_when_the_next_would_not(
    sizes: list[int], max_bytes: int
) -> None:
    async def scenario() -> list[list[Item]]:
        flushed: list[list[Item]] = []
        batcher = Batcher(
            BatchSettings(True, max_events=1000, max_bytes=max_bytes, linger=10),
            lambda _, items: flushed.append(items),
        )
        for n, size in enumerate(sizes):
            batcher.add(*item({"n": n, "pad": "x" * size}))
        return flushed

    flushed = asyncio.run(scenario())
    order = [owner["n"] for batch in flushed for owner, _ in batch]
    assert order == list(range(len(order)))
    for batch, after in itertools.pairwise(flushed):
        assert len(content(batch)) <= max_bytes or len(batch) == 1
        assert len(content([*batch, after[0]])) > max_bytes
