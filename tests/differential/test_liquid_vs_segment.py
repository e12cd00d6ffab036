"""Every Liquid pipeline of one and two filters the grammar knows, against Segment's engine.

The generated mappings reach these pipelines at random (with up to three filters); here each
one runs on every event below, so a difference in how liquidjs reads a value, a member or a
filter's arguments cannot hide behind the draw.
"""

from __future__ import annotations

import itertools
from typing import Any

from consumer.core.mapping import MappingError, MappingFailure, compile_mapping
from tests.differential.grammar import LIQUID_FILTERS, LIQUID_INPUTS
from tests.differential.oracle_client import COMPARED, Oracle

EVENTS: list[dict[str, Any]] = [
    {"type": "x"},
    {"type": "track", "properties": {"a": "x y", "s": " a  b ", "length": 2}, "s": "Abc", "n": 5},
    {
        "type": "identify",
        "userId": "u😀",
        "properties": [1, False, "%41", None, [2, 3]],
        "traits": {"n": [1e21]},
        "s": "",
        "n": -1.5,
        "t": "<b>ß</b>",
        "h": {"X-A": 1},
    },
    {"type": "page", "properties": "Café 😀", "s": "x\u2028y\u00a0", "n": 1e21, "t": None, "h": []},
    {
        "type": "track",
        "userId": 7,
        "properties": {"0": {}, "length": "3", "a": []},
        "traits": {},
        "s": "10.0",
        "n": 0,
        "t": "  ",
        "h": "a+b%2B",
    },
    {"type": "track", "properties": {}, "s": {"length": 1}, "n": True, "t": [["a"], None, {}]},
]
_CHUNK = 4000


def _pipelines() -> list[str]:
    return [
        "{{ " + " | ".join([value, *filters]) + " }}"
        for size in (1, 2)
        for value in LIQUID_INPUTS
        for filters in itertools.product(LIQUID_FILTERS, repeat=size)
    ]


def _ours(template: str, event: dict[str, Any]) -> dict[str, Any]:
    try:
        return {"value": compile_mapping({"v": {"@liquid": template}}).apply(event)}
    except (MappingError, MappingFailure) as failure:
        return {"error": str(failure)}


def test_every_pipeline_of_one_and_two_filters_renders_as_segment(oracle: Oracle) -> None:
    cases = [(t, e) for t in _pipelines() for e in EVENTS]
    disagreements = []
    for start in range(0, len(cases), _CHUNK):
        chunk = cases[start : start + _CHUNK]
        asked = [{"mapping": {"v": {"@liquid": t}}, "event": e} for t, e in chunk]
        answers = oracle.ask({"op": "map", "cases": asked})["results"]
        for (template, event), segment in zip(chunk, answers, strict=True):
            ours = _ours(template, event)
            if ("error" in segment) != ("error" in ours) or segment.get("value") != ours.get(
                "value"
            ):
                disagreements.append((template, event, segment, ours))
    COMPARED["Liquid pipelines"] += len(cases)
    assert not disagreements, f"{len(disagreements)} differ, first: {disagreements[:3]}"
