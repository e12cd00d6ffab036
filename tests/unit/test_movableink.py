from __future__ import annotations

import pytest

from consumer.mapping import compile_mapping
from consumer.movableink import (
    Destination,
    HeaderError,
    Secret,
    Subscription,
    custom_headers,
    mask_url,
    send_entire_event,
)
from consumer.triggers import parse

URL = "https://collector.movableink-dmz.com/behavioral/abc123"


def destination(headers: object = None) -> Destination:
    sub = Subscription(
        "Send Entire Event",
        parse('type = "track"'),
        compile_mapping({"@path": "$."}),
        None if headers is None else compile_mapping(headers),
    )
    return Destination("mi", URL, "id", Secret("pw"), (sub,))


def test_send_entire_event_posts_the_message_unchanged_with_basic_auth() -> None:
    dest = destination()
    event = {
        "type": "track",
        "userId": "u",
        "anonymousId": "a",
        "timestamp": "2026-01-01T00:00:00Z",
    }
    request = send_entire_event(dest, dest.subscriptions[0], event)
    assert request.url == URL
    assert request.headers == {
        "Authorization": "Basic aWQ6cHc=",
        "Content-Type": "application/json",
    }
    assert request.body == event


def test_custom_headers_never_override_auth_or_content_type() -> None:
    dest = destination(
        {
            "X-Brand": "acme",
            "authorization": "x",
            "Content-Type": "text/plain",
            "X-User": {"@path": "$.userId"},
        }
    )
    request = send_entire_event(dest, dest.subscriptions[0], {"type": "track", "userId": "u"})
    assert request.headers == {
        "Authorization": "Basic aWQ6cHc=",
        "Content-Type": "application/json",
        "X-Brand": "acme",
        "X-User": "u",
    }


def test_mapped_header_values() -> None:
    assert custom_headers({"A": 1, "B": True, "C": None}) == {"A": "1", "B": "true"}
    assert custom_headers("not a map") == {}
    with pytest.raises(HeaderError, match="non-ASCII"):
        custom_headers({"A": "é"})
    with pytest.raises(HeaderError, match="not text"):
        custom_headers({"A": {"b": 1}})


def test_mask_url_hides_the_key() -> None:
    assert mask_url(URL) == "https://collector.movableink-dmz.com/behavioral/***"
    assert mask_url(URL + "/?q=1") == "https://collector.movableink-dmz.com/behavioral/***"
    assert destination().masked_url == "https://collector.movableink-dmz.com/behavioral/***"


def test_secret_hides_itself() -> None:
    secret = Secret("pw")
    assert (str(secret), repr(secret), f"{secret}") == ("***", "Secret('***')", "***")
    assert secret.reveal() == "pw"
    assert "pw" not in repr(destination())
