from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from consumer.core import decision
from consumer.core.decision import Decision, Delivery, Verdict, decide_message, decide_record
from consumer.core.decode import Decoder, avro_codec
from consumer.core.mapping import compile_mapping
from consumer.core.movableink import (
    PRESET_DATA,
    PRESET_SUBSCRIBE,
    Destination,
    Request,
    Secret,
    Subscription,
    body_bytes,
)
from consumer.core.segment import Place
from consumer.core.signals import SignalsPolicy
from consumer.core.triggers import parse
from tests.strategies import segment_messages

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
URL = "http://127.0.0.1:1/behavioral/key"


def dest(
    name: str = "mi",
    subscribe: tuple[str, ...] = (PRESET_SUBSCRIBE,),
    signals: SignalsPolicy = "enforce",
    max_age: float | None = None,
) -> Destination:
    subs = tuple(
        Subscription(f"m{i}", parse(text), compile_mapping(PRESET_DATA))
        for i, text in enumerate(subscribe)
    )
    return Destination(name, URL, "u", Secret("p"), subs, signals=signals, max_event_age_s=max_age)


def track(event: str = "Signed Up", **extra: Any) -> dict[str, Any]:
    return {"type": "track", "messageId": "m1", "userId": "u1", "event": event, **extra}


def test_a_matching_event_is_delivered_unchanged() -> None:
    decision = decide_message(track(), (dest(),), now=NOW)
    assert decision.action == "deliver" and decision.first_reason is None
    (delivery,) = decision.deliveries
    assert delivery.request.body == track()
    assert decision.identity_keys == ("u1",)


def test_a_delivered_events_records_are_those_their_constructors_make() -> None:
    """They are made with tuple.__new__ (cheaper): every field must be given, in order."""
    message = track(timestamp="2026-11-24T11:00:00Z")
    first, second = dest("a"), dest("b", signals="warn")
    decision = decide_message(message, (first, second), now=NOW)
    deliveries = [v.deliveries[0] for v in decision.verdicts]
    auth = [d.authorization.reveal() for d in (first, second)]
    requests = [
        Request(URL, {"Authorization": a, "Content-Type": "application/json"}, message)
        for a in auth
    ]
    content = json.dumps(message, separators=(",", ":")).encode()
    assert deliveries == [
        Delivery(first, "m0", requests[0], content),
        Delivery(second, "m0", requests[1], content),
    ]
    verdicts = (
        Verdict("a", "deliver", deliveries=(deliveries[0],)),
        Verdict("b", "deliver", deliveries=(deliveries[1],)),
    )
    assert decision == Decision(
        "m1", message, verdicts, identity_keys=("u1",), event_time=NOW.timestamp() - 3600
    )


def test_alias_is_not_in_the_preset() -> None:
    alias = {"type": "alias", "messageId": "m", "userId": "u", "previousId": "p"}
    decision = decide_message(alias, (dest(),), now=NOW)
    assert (decision.action, decision.first_reason) == ("filtered", "trigger.no_match")


def test_integrations_false_filters() -> None:
    decision = decide_message(track(integrations={"All": False}), (dest(),), now=NOW)
    assert (decision.action, decision.first_reason) == ("filtered", "integrations.disabled")


def test_several_matching_mappings_deliver_once_each() -> None:
    decision = decide_message(
        track(), (dest(subscribe=('type = "track"', 'event = "Signed Up"')),), now=NOW
    )
    assert [d.mapping for d in decision.deliveries] == ["m0", "m1"]


def test_signals_policies() -> None:
    bad = track("Product Viewed", properties={"sku": "s"})
    enforce = decide_message(bad, (dest(),), now=NOW)
    assert (enforce.action, enforce.first_reason) == (
        "invalid",
        "signals.product_viewed.url_missing",
    )
    warn = decide_message(bad, (dest(signals="warn"),), now=NOW)
    assert warn.action == "deliver"
    assert warn.verdicts[0].warnings == ("signals.product_viewed.url_missing",)
    off = decide_message(bad, (dest(signals="off"),), now=NOW)
    assert off.action == "deliver" and off.verdicts[0].warnings == ()


def test_max_event_age() -> None:
    old = track(timestamp="2026-10-01T00:00:00Z")
    assert decide_message(old, (dest(max_age=30 * 86400),), now=NOW).first_reason == "too_old"
    recent = track(timestamp="2026-11-20T00:00:00.000Z")
    assert decide_message(recent, (dest(max_age=30 * 86400),), now=NOW).action == "deliver"
    assert decide_message(old, (dest(),), now=NOW).action == "deliver"


def test_each_destination_has_its_own_verdict() -> None:
    bad = track("Product Viewed", properties={"sku": "s"})
    decision = decide_message(bad, (dest("a"), dest("b", signals="warn")), now=NOW)
    assert [v.action for v in decision.verdicts] == ["invalid", "deliver"]
    assert decision.action == "deliver"
    assert [d.destination.name for d in decision.deliveries] == ["b"]


def test_a_missing_message_id_is_derived_and_sent() -> None:
    message = {"type": "identify", "anonymousId": "a"}
    decision = decide_message(message, (dest(),), Place("t", 2, 9), now=NOW)
    assert decision.message_id == "kafka-t-2-9"
    assert decision.deliveries[0].request.body == {**message, "messageId": "kafka-t-2-9"}


def test_invalid_messages_carry_their_reason() -> None:
    decision = decide_message({"type": "track", "messageId": "x"}, (dest(),), now=NOW)
    assert (decision.message_id, decision.action, decision.first_reason) == (
        "x",
        "invalid",
        "message.missing_identity",
    )


def test_records_are_decoded_first() -> None:
    value = avro_codec.frame(1, avro_codec.encode(track()))
    assert decide_record(value, Decoder(), (dest(),), now=NOW).action == "deliver"
    garbage = decide_record(b"\x07junk", Decoder(), (dest(),), Place("t", 0, 5))
    assert (garbage.message_id, garbage.action, garbage.first_reason) == (
        "kafka-t-0-5",
        "invalid",
        "decode.bad_magic_byte",
    )


def test_a_header_value_with_a_line_break_makes_the_event_invalid() -> None:
    headers = compile_mapping({"X-Event": {"@path": "$.event"}})
    subscription = Subscription("m", parse(PRESET_SUBSCRIBE), compile_mapping(PRESET_DATA), headers)
    destination = Destination("mi", URL, "u", Secret("p"), (subscription,))
    decision = decide_message(track("a\r\nX-Injected: 1"), (destination,), now=NOW)
    assert (decision.action, decision.first_reason) == ("invalid", "mapping.invalid_header")


def test_a_body_json_cannot_carry_makes_the_event_invalid() -> None:
    # NaN cannot come from JSON input (the reader refuses it) but can from an Avro double.
    decision = decide_message(track(properties={"x": float("nan")}), (dest(),), now=NOW)
    assert (decision.action, decision.first_reason) == ("invalid", "mapping.unencodable")


def test_the_decision_carries_the_encoded_body_keys_and_event_time() -> None:
    message = track(anonymousId="a1", timestamp="2026-11-24T11:00:00Z")
    decision = decide_message(message, (dest(),), now=NOW)
    (delivery,) = decision.deliveries
    assert delivery.content == json.dumps(message, separators=(",", ":")).encode()
    assert decision.identity_keys == ("a1", "u1")
    assert decision.event_time == datetime(2026, 11, 24, 11, 0, tzinfo=UTC).timestamp()


SHAPED = {"e": {"@path": "$.event"}, "p": {"@path": "$.properties"}, "x": {"@path": "$.nope"}}
HEADERS = {"X-Event": {"@path": "$.event"}}


def sharing(data: Any, *, shared: bool) -> tuple[Destination, ...]:
    """Destinations and subscriptions all mapping `data`: one compiled mapping, or one each."""
    compiled = compile_mapping(data)

    def mapping() -> Any:
        return compiled if shared else compile_mapping(data)

    def subscription(name: str, text: str, headers: Any = None) -> Subscription:
        compiled_headers = None if headers is None else compile_mapping(headers)
        return Subscription(name, parse(text), mapping(), compiled_headers)

    return (
        Destination("a", URL, "u", Secret("p"), (subscription("m", PRESET_SUBSCRIBE),)),
        Destination(
            "b",
            "http://127.0.0.1:2/behavioral/other",
            "u2",
            Secret("p2"),
            (subscription("m", 'type = "track"'), subscription("n", "type != 1", HEADERS)),
            signals="warn",
        ),
    )


def test_destinations_sharing_a_mapping_share_its_body_and_bytes_encoded_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    encoded: list[Any] = []

    def counting(body: Any) -> bytes:
        encoded.append(body)
        return body_bytes(body)

    monkeypatch.setattr(decision, "body_bytes", counting)
    message = track()
    first, second = decide_message(message, sharing(PRESET_DATA, shared=True), now=NOW).verdicts
    (one,), (two, three) = first.deliveries, second.deliveries
    assert encoded == [message]
    assert one.content == two.content == three.content == body_bytes(message)
    assert one.content is two.content is three.content
    assert one.request.body is two.request.body is three.request.body
    # What belongs to the destination and to the subscription is not shared.
    assert [(d.request.url, d.mapping) for d in (one, two, three)] == [
        (URL, "m"),
        ("http://127.0.0.1:2/behavioral/other", "m"),
        ("http://127.0.0.1:2/behavioral/other", "n"),
    ]
    json_body = {"Content-Type": "application/json"}
    assert [d.request.headers for d in (one, two, three)] == [
        {"Authorization": "Basic dTpw", **json_body},
        {"Authorization": "Basic dTI6cDI=", **json_body},
        {"Authorization": "Basic dTI6cDI=", **json_body, "X-Event": "Signed Up"},
    ]


def test_the_body_cache_is_made_only_where_a_mapping_could_be_shared() -> None:
    """One destination of one mapping (the default) could never use it again: none is made
    for its events; several destinations or mappings get one per event."""
    assert decision._body_cache((dest(),)) is None
    assert decision._body_cache(sharing(PRESET_DATA, shared=True)) == {}
    assert decision._body_cache((dest("a"), dest("b"))) == {}


@pytest.mark.parametrize("data", [PRESET_DATA, SHAPED, {"@path": "$.properties"}])
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(message=segment_messages())
def test_a_shared_mapping_decides_as_one_mapping_per_subscription(
    data: Any, message: dict[str, Any]
) -> None:
    """Sharing changes nothing: verdicts, warnings, requests and bytes are those of
    subscriptions each with its own compiled copy of the mapping."""
    shared = decide_message(message, sharing(data, shared=True), now=NOW)
    apart = decide_message(message, sharing(data, shared=False), now=NOW)
    assert shared == apart


def test_one_failing_mapping_is_rejected_alone_and_the_others_deliver() -> None:
    """Segment runs each subscription on its own: a mapping whose data is text for this event
    fails, the other matching mapping of the destination is still sent."""
    good = Subscription("good", parse(PRESET_SUBSCRIBE), compile_mapping(PRESET_DATA))
    bad = Subscription("bad", parse(PRESET_SUBSCRIBE), compile_mapping({"@path": "$.event"}))
    destination = Destination("mi", URL, "u", Secret("p"), (bad, good))
    (verdict,) = decide_message(track(), (destination,), now=NOW).verdicts
    assert verdict.action == "deliver"
    assert [d.mapping for d in verdict.deliveries] == ["good"]
    assert [(r.mapping, r.reason) for r in verdict.rejected] == [("bad", "mapping.data_not_object")]
    bad2 = Subscription("bad2", bad.trigger, bad.data)
    only_bad = Destination("mi", URL, "u", Secret("p"), (bad, bad2))
    (verdict,) = decide_message(track(), (only_bad,), now=NOW).verdicts
    assert (verdict.action, verdict.reason, verdict.deliveries) == (
        "invalid",
        "mapping.data_not_object",
        (),
    )
    assert [r.mapping for r in verdict.rejected] == ["bad", "bad2"]
