"""`import-segment`: a destination's generated subscriptions, imported, decide as Segment does.

Subscriptions (a generated trigger, `data` and `headers`, enabled or not, odd names) are put in
the Public API's answers, imported as `consumer import-segment` does (translation, the
configuration's checks, the TOML written and read back), and the imported configuration's
decision on each generated event (which mappings match, the request each sends) is compared
with Segment's packages: their trigger evaluation and their Send Entire Event for every
subscription carried.
"""

from __future__ import annotations

import tomllib
from functools import partial
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from consumer import config
from consumer.commands import import_segment
from consumer.core import segment_documents, segment_import
from consumer.core.decision import Decision, decide_message
from consumer.core.mapping import MappingError, compile_mapping
from consumer.core.movableink import (
    Destination,
    InvalidRequest,
    Subscription,
    send_entire_event,
)
from consumer.core.triggers import TriggerSyntaxError, parse
from tests.differential.grammar import DATA, HEADERS, events, triggers
from tests.differential.oracle_client import COMPARED, DIFFERENCES, Oracle, assert_same_request

URL = "https://collector.movableink-dmz.com/behavioral/KEY"
SETTINGS = {"movable_ink_url": URL, "username": "id", "password": "pw"}
EVENTS = 8
_NAMES = st.text(alphabet="aZ 9→\"'\\$${}#[]\n\t", max_size=8)
# Our verdicts on an event that Segment's action never reaches the same way: the consumer
# checks the message first (spec sections 4, 5), and gives up the whole event when one of its
# mappings fails where Segment sends the others (every record ends in one outcome).
_OURS_FIRST = ("message.", "signals.", "too_old", "mapping.unencodable")


def _imports(value: Any) -> bool:
    """Whether a mapping value can be carried: TOML can write it and we compile it."""
    if segment_import._uncarriable(value, "data") is not None:
        return False
    try:
        compile_mapping(value, name="data")
    except MappingError:
        return False
    return True


def _parses(text: str) -> bool:
    try:
        parse(text)
    except TriggerSyntaxError:
        return False
    return True


def _or(value: Any, fallback: Any) -> Any:
    """`value` if it can be carried, else `fallback` (no filter: 50 in a row must pass)."""
    return value if value is not None and _imports(value) else fallback


@st.composite
def _subscription(draw: st.DrawFn, number: int, carriable: bool) -> dict[str, Any]:
    """A Public API subscription; `carriable`: one whose trigger and fields we import."""
    fields: dict[str, Any] = {}
    if draw(st.integers(0, 9)):  # now and then a subscription with no data at all
        # carried: in an object, so that Segment sends it (`data` must be an object)
        fields["data"] = draw(
            DATA.map(lambda v: {"v": _or(v, {"@path": "$."})}) if carriable else DATA
        )
    headers = draw(HEADERS.map(lambda v: _or(v, None)) if carriable else HEADERS)
    if headers is not None:
        fields["headers"] = headers
    return {
        "id": f"sub{number}",
        "name": draw(_NAMES),
        "actionId": "qM8zWvx5oE4ETQxQXKn8Tp",
        "actionSlug": "sendEntireEvent",
        "destinationId": "dest1",
        "enabled": carriable or draw(st.integers(0, 5)) > 0,
        "trigger": draw(
            triggers().map(lambda t: t if _parses(t) else 'type = "track"')
            if carriable
            else triggers()
        ),
        "settings": fields,
    }


def _carried(subscription: dict[str, Any]) -> dict[str, Any]:
    """The subscription if the import carries it, else it with the preset's trigger and data
    (its headers can still be refused, say a name with a space)."""
    destination = {"data": {"destination": {"id": "dest1", "name": "MI", "settings": SETTINGS}}}
    found, listed = segment_documents.from_public_api(destination, [subscription])
    (mapping,) = import_segment.checked(segment_import.translate(found, listed)).mappings
    if mapping.live:
        return subscription
    return {**subscription, "trigger": 'type = "track"', "settings": {"data": {"@path": "$."}}}


def _either(index: int, carriable: bool) -> st.SearchStrategy[dict[str, Any]]:
    return _subscription(index, carriable)


def _subscriptions(count: int, carriable: bool = False) -> st.SearchStrategy[list[dict[str, Any]]]:
    """`count` subscriptions: every one carried, or half of them drawn to be (the others as
    generated, refusals included)."""
    if carriable:
        drawn = [_subscription(i, True).map(_carried) for i in range(count)]
    else:
        drawn = [st.booleans().flatmap(partial(_either, i)) for i in range(count)]
    return st.tuples(*drawn).map(list)


_FIELDS: dict[str, type | tuple[type, ...]] = {
    "event": str,
    "name": str,
    "userId": (str, int, float),
    "properties": dict,
}


def _events(batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each with a messageId and an anonymousId, which the consumer needs (and adds or
    checks), and without the fields of a type the consumer refuses before any trigger."""
    kept = [
        {
            k: v
            for k, v in event.items()
            if k not in _FIELDS
            or v is None
            or (isinstance(v, _FIELDS[k]) and not isinstance(v, bool))
        }
        for event in batch
    ]
    return [{**e, "messageId": f"m{i}", "anonymousId": f"a{i}"} for i, e in enumerate(kept)]


def _check(oracle: Oracle, subscriptions: list[dict[str, Any]], batch: list[dict[str, Any]]) -> int:
    """Import, then compare each event's decision; return how many subscriptions were carried."""
    destination = {"data": {"destination": {"id": "dest1", "name": "MI", "settings": SETTINGS}}}
    answer = {"data": {"subscriptions": subscriptions}}
    found, listed = segment_documents.from_public_api(destination, answer)
    translation = import_segment.checked(segment_import.translate(found, listed))
    refused = [m for m in translation.mappings if m.subscription.enabled and m.refused]
    COMPARED["imported subscriptions refused"] += len(refused)
    for mapping in refused:
        assert any(
            word in text
            for text in mapping.refused
            for word in ("not a valid trigger", "mapping", "TOML cannot write", "data", "headers")
        ), mapping.refused
    live = [m for m in translation.mappings if m.live]
    if not live:
        return 0
    text = segment_import.render(translation)
    loaded = config.parse_settings(
        {"kafka": import_segment.CHECK_KAFKA, **tomllib.loads(text)}, {translation.secret_env: "pw"}
    )
    (ours,) = loaded.destinations
    assert len(ours.subscriptions) == len(live)
    COMPARED["imported subscriptions carried"] += len(live)
    theirs = []
    for mapping in live:
        stored = mapping.subscription
        matched = oracle.ask({"op": "trigger", "subscribe": stored.trigger, "events": batch})
        assert "error" not in matched, f"we import {stored.trigger!r}; Segment cannot parse it"
        sent = oracle.ask(
            {"op": "send", "settings": SETTINGS, "mapping": stored.settings, "events": batch}
        )
        theirs.append((matched["results"], sent["results"]))
    for index, event in enumerate(batch):
        decision = decide_message(event, loaded.destinations)
        pairs = [
            (subscription, answers[index])
            for subscription, (matches, answers) in zip(ours.subscriptions, theirs, strict=True)
            if matches[index] is True
        ]
        _compare(decision, ours, pairs)
    return len(live)


def _compare(
    decision: Decision, destination: Destination, matched: list[tuple[Subscription, Any]]
) -> None:
    """The event's decision, then each matched mapping's own request, against Segment's."""
    reason = decision.first_reason or ""
    if decision.reason is not None or reason.startswith(_OURS_FIRST):
        DIFFERENCES["imported: events the consumer refuses before or beyond Segment's action"] += 1
        return
    (verdict,) = decision.verdicts
    sent = [s.name for s, answer in matched if answer["sent"]]
    if verdict.action == "filtered":
        assert not matched, f"we filter ({verdict.reason}); Segment's triggers match"
    elif verdict.action == "deliver":  # each mapping on its own: a rejected one alone fails
        rejected = {r.mapping for r in verdict.rejected}
        ours = [s.name for s, _ in matched if s.name not in rejected]
        assert [d.mapping for d in verdict.deliveries] == ours
        refused_headers = [r.mapping for r in verdict.rejected if "non-ASCII" in r.message]
        DIFFERENCES["non-ASCII header values, refused"] += len(set(refused_headers) & set(sent))
        assert ours == [name for name in sent if name not in refused_headers]
    elif len(sent) == len(matched) and "non-ASCII" not in " ".join(verdict.warnings):
        raise AssertionError(f"we refuse the event ({verdict.reason}); Segment sends every match")
    elif sent:
        DIFFERENCES["imported: one failing mapping stops the event's other mappings"] += 1
    assert decision.message is not None
    for subscription, answer in matched:
        try:
            request = send_entire_event(destination, subscription, decision.message)
        except InvalidRequest as exc:
            if answer["sent"] and "non-ASCII" in str(exc):
                DIFFERENCES["non-ASCII header values, refused"] += 1
                continue
            assert not answer["sent"], f"we do not send {subscription.name!r} ({exc}); Segment does"
        else:
            assert answer["sent"], f"we send {subscription.name!r}; Segment does not: {answer}"
            assert_same_request(request, answer["request"])
    COMPARED["imported decisions"] += 1


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    subscriptions=st.integers(1, 6).flatmap(_subscriptions),
    batch=st.lists(events(), min_size=EVENTS, max_size=EVENTS),
)
def test_imported_subscriptions_decide_as_segment(
    oracle: Oracle, subscriptions: list[dict[str, Any]], batch: list[dict[str, Any]]
) -> None:
    _check(oracle, subscriptions, _events(batch))


# No shrinking: a failing case of 50 subscriptions shrinks too slowly to be of use.
@settings(
    max_examples=2,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
)
@given(
    subscriptions=_subscriptions(50, carriable=True),
    batch=st.lists(events(), min_size=EVENTS, max_size=EVENTS),
)
def test_a_fifty_subscription_destination_decides_as_segment(
    oracle: Oracle, subscriptions: list[dict[str, Any]], batch: list[dict[str, Any]]
) -> None:
    assert _check(oracle, subscriptions, _events(batch)) == 50  # every one carried
