"""Mappings and requests: the body, the headers and the send/no-send decision are Segment's.

The oracle runs actions-core's Destination with the Send Entire Event action (declared as in
segmentio/action-destinations) and a fetch that records the request instead of sending it.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumer.core.mapping import MappingError, compile_mapping
from consumer.core.movableink import (
    Destination,
    InvalidRequest,
    Secret,
    Subscription,
    body_bytes,
    send_entire_event,
)
from consumer.core.triggers import parse
from consumer.core.urls import normalise_url
from tests.differential.grammar import DATA, HEADERS, events
from tests.differential.oracle_client import COMPARED, DIFFERENCES, Oracle

URLS = [
    "https://collector.movableink-dmz.com/behavioral/KEY",
    " https://Collector.MovableInk-dmz.com:443/behavioral/KEY/ ",
    "HTTPS://collector.movableink-dmz.com/behavioral/KEY\t",
]
EVENTS_PER_MAPPING = 8
SEGMENT_USER_AGENT = "Segment (Actions)"


def _subscription(data: Any, headers: Any) -> Subscription:
    return Subscription(
        "m",
        parse('type = "track"'),
        compile_mapping(data, name="data"),
        None if headers is None else compile_mapping(headers, name="headers"),
    )


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    data=DATA,
    headers=HEADERS,
    batch=st.lists(events(), min_size=EVENTS_PER_MAPPING, max_size=EVENTS_PER_MAPPING),
    url=st.sampled_from(URLS),
)
def test_requests_are_built_as_segment_builds_them(
    oracle: Oracle, data: Any, headers: Any, batch: list[dict[str, Any]], url: str
) -> None:
    mapping = {"data": data} if headers is None else {"data": data, "headers": headers}
    settings_ = {"username": "id", "password": "pw", "movable_ink_url": url}
    answers = oracle.ask({"op": "send", "settings": settings_, "mapping": mapping, "events": batch})
    try:
        subscription = _subscription(data, headers)
    except MappingError as error:
        if error.segment_accepts:  # our stricter start-up rule: Segment fails when it gets there
            DIFFERENCES["mappings that fail wherever reached, refused at start-up"] += 1
            return
        sent = [a for a in answers["results"] if a["sent"]]
        assert not sent, f"we refuse the mapping ({error}); Segment sends {sent[0]}"
        COMPARED["refused mappings"] += 1
        return
    destination = Destination("mi", normalise_url(url), "id", Secret("pw"), (subscription,))
    for event, theirs in zip(batch, answers["results"], strict=True):
        COMPARED["requests"] += 1
        _compare(destination, subscription, event, theirs)


def _compare(
    destination: Destination, subscription: Subscription, event: dict[str, Any], theirs: Any
) -> None:
    try:
        request = send_entire_event(destination, subscription, event)
    except InvalidRequest as exc:
        if theirs["sent"] and "non-ASCII" in str(exc):
            values = theirs["request"]["headers"].values()
            assert any(not v.isascii() for v in values), (str(exc), theirs)
            DIFFERENCES["non-ASCII header values, refused"] += 1
            return
        assert not theirs["sent"], f"we do not send ({exc.reason}: {exc}); Segment sends {theirs}"
        expected = {
            "mapping.data_not_object": "Data must be an object",
            "mapping.invalid_header": "header",
        }.get(exc.reason)
        if expected is not None:
            assert expected.lower() in theirs["error"].lower(), (exc.reason, theirs["error"])
        return
    assert theirs["sent"], f"we send {request}; Segment does not: {theirs.get('error')}"
    sent = theirs["request"]
    assert sent["url"] == request.url
    assert sent["method"] == "POST"
    if request.body is None:
        assert sent["body"] is None
    else:
        assert json.loads(sent["body"]) == json.loads(body_bytes(request.body))
    segment_headers = dict(sent["headers"])
    if segment_headers.get("user-agent") == SEGMENT_USER_AGENT:
        del segment_headers["user-agent"]  # ours is the HTTP client's (documented)
    if request.body is None and "content-type" in segment_headers:
        del segment_headers["content-type"]  # Segment keeps a mapped one without a body
        DIFFERENCES["mapped Content-Type without a body, dropped"] += 1
    assert {k.lower(): v for k, v in request.headers.items()} == segment_headers
