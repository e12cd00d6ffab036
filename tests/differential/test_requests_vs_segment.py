"""Mappings and requests: the body, the headers and the send/no-send decision are Segment's.

The oracle runs actions-core's Destination with the Send Entire Event action (declared as in
segmentio/action-destinations) and a fetch that records the request instead of sending it.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumer.core.decision import decide_message
from consumer.core.mapping import MappingError, compile_mapping
from consumer.core.movableink import (
    Destination,
    InvalidRequest,
    Secret,
    Subscription,
    send_entire_event,
)
from consumer.core.triggers import parse
from consumer.core.urls import normalise_url
from tests.differential.grammar import DATA, HEADERS, events
from tests.differential.oracle_client import COMPARED, DIFFERENCES, Oracle, assert_same_request

URLS = [
    "https://collector.movableink-dmz.com/behavioral/KEY",
    " https://Collector.MovableInk-dmz.com:443/behavioral/KEY/ ",
    "HTTPS://collector.movableink-dmz.com/behavioral/KEY\t",
    # Internationalised hosts (punycode by UTS #46), spaces and odd characters, dot segments.
    "https://BÜCHER.example/behavioral/KEY",
    "https://faß.de:8443/a b/KEY",
    "https://☃.net/x/./y/../KEY?q= é'\"<>`{|}^\\#frag",
    "https://\uff43\uff4f\uff4c\uff4c\uff45\uff43\uff54\uff4f\uff52\u3002example/be\\hav\"io<r>al/K`{|}^'E\u00a0Y",
    "https://%62ücher.example/%2e%2E/k%41ey%/",
]
PASSWORDS = ["pw", ""]  # an empty one is sent as Basic base64("id:"), as Segment sends it
EVENTS_PER_MAPPING = 8


def _subscription(data: Any, headers: Any, name: str = "m") -> Subscription:
    return Subscription(
        name,
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
    password=st.sampled_from(PASSWORDS),
)
def test_requests_are_built_as_segment_builds_them(
    oracle: Oracle, data: Any, headers: Any, batch: list[dict[str, Any]], url: str, password: str
) -> None:
    mapping = {"data": data} if headers is None else {"data": data, "headers": headers}
    settings_ = {"username": "id", "password": password, "movable_ink_url": url}
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
    destination = Destination("mi", normalise_url(url), "id", Secret(password), (subscription,))
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
    assert_same_request(request, theirs["request"])


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    first=DATA,
    second=DATA,
    batch=st.lists(events(), min_size=EVENTS_PER_MAPPING, max_size=EVENTS_PER_MAPPING),
)
def test_each_mapping_of_a_destination_is_sent_on_its_own_as_in_segment(
    oracle: Oracle, first: Any, second: Any, batch: list[dict[str, Any]]
) -> None:
    """Segment runs each subscription on its own: with two matching mappings, one failing on
    an event does not keep the other from being sent."""
    settings_ = {"username": "id", "password": "pw", "movable_ink_url": URLS[0]}
    batch = [{**event, "type": "track", "messageId": "m1", "userId": "u"} for event in batch]
    theirs = [
        oracle.ask({"op": "send", "settings": settings_, "mapping": {"data": d}, "events": batch})
        for d in (first, second)
    ]
    try:
        subscriptions = (_subscription(first, None), _subscription(second, None, "n"))
    except MappingError:
        return  # refused at start-up: the test above compares those
    destination = Destination("mi", URLS[0], "id", Secret("pw"), subscriptions)
    for index, event in enumerate(batch):
        decision = decide_message(event, (destination,))
        if decision.message is None:
            continue  # not a message the consumer takes at all (a checked field is bad)
        (verdict,) = decision.verdicts
        ours = {d.mapping: d for d in verdict.deliveries}
        if len(ours) == 1 and verdict.rejected:
            COMPARED["events with one mapping failing and one sent"] += 1
        for name, answers in zip(("m", "n"), theirs, strict=True):
            sent = answers["results"][index]
            COMPARED["mappings of a destination"] += 1
            if name not in ours:
                rejected = {r.mapping: r for r in verdict.rejected}
                non_ascii = name in rejected and "non-ASCII" in rejected[name].message
                assert not sent["sent"] or non_ascii, f"{name}: we do not send; Segment does"
                continue
            assert sent["sent"], f"{name}: we send; Segment does not: {sent.get('error')}"
            body = ours[name].request.body
            if body is not None:
                assert json.loads(sent["request"]["body"]) == json.loads(ours[name].content)
