from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings

from consumer.core import movableink
from consumer.core.mapping import compile_mapping
from consumer.core.movableink import (
    Destination,
    InvalidRequest,
    Secret,
    Subscription,
    body_bytes,
    custom_headers,
    mask_url,
    send_entire_event,
)
from consumer.core.triggers import parse
from consumer.core.urls import normalise_url
from tests.strategies import json_objects

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


def test_mapped_header_values_are_javascript_strings() -> None:
    assert custom_headers({"A": 1, "B": True, "C": None, "D": 10.0, "E": [1, [2, None]]}) == {
        "A": "1",
        "B": "true",
        "C": "null",
        "D": "10",
        "E": "1,2,",
    }
    assert custom_headers({"A": {"b": 1}, "U": "undefined"}) == {"A": "[object Object]"}
    assert custom_headers({"X-A": "1", "x-a": 2}) == {"X-A": "1, 2"}
    assert custom_headers(None) == custom_headers("") == {}


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ("not a map", "Headers must be an object but it was a string"),
        ([1], "Headers must be an object but it was an array"),
        ({"A": "é"}, "non-ASCII"),
        ({"A": "a\r\nInjected: 1"}, "line break"),
        ({"A": "\x7f"}, "control character"),
        ({"a b": "1"}, "'a b' is not a legal header name"),
        ({"": "1"}, "'' is not a legal header name"),
    ],
)
def test_headers_segment_cannot_send_make_the_event_invalid(headers: object, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message) as caught:
        custom_headers(headers)
    assert caught.value.reason == "mapping.invalid_header"


@pytest.mark.parametrize("data", [{"@path": "$.none"}, None, "", {"@path": "$.e"}])
def test_data_resolving_to_nothing_is_sent_without_body_or_content_type(data: object) -> None:
    sub = Subscription("m", parse('type = "track"'), compile_mapping(data))
    dest = Destination("mi", URL, "id", Secret("pw"), (sub,))
    request = send_entire_event(dest, sub, {"type": "track", "e": ""})
    assert request.body is None
    assert request.headers == {"Authorization": "Basic aWQ6cHc="}


@pytest.mark.parametrize(
    ("data", "kind"), [("text", "a string"), ([1], "an array"), (0, "a number")]
)
def test_data_that_is_not_an_object_makes_the_event_invalid(data: object, kind: str) -> None:
    sub = Subscription("m", parse('type = "track"'), compile_mapping(data))
    dest = Destination("mi", URL, "id", Secret("pw"), (sub,))
    with pytest.raises(InvalidRequest, match=f"Data must be an object but it was {kind}") as caught:
        send_entire_event(dest, sub, {"type": "track"})
    assert caught.value.reason == "mapping.data_not_object"


def test_a_failing_mapping_makes_the_event_invalid() -> None:
    sub = Subscription("m", parse('type = "track"'), compile_mapping({"@path": {"@path": "$.n"}}))
    dest = Destination("mi", URL, "id", Secret("pw"), (sub,))
    with pytest.raises(InvalidRequest, match="mapping 'm': @path: expected string") as caught:
        send_entire_event(dest, sub, {"type": "track", "n": 1})
    assert caught.value.reason == "mapping.failed"


@pytest.mark.parametrize(
    ("url", "read"),
    [
        (" https://Example.COM:443/a/KEY/ \n", "https://example.com/a/KEY/"),
        ("http://h:8080/k", "http://h:8080/k"),
        ("https://h", "https://h/"),
        ("https://h/a\tb", "https://h/ab"),
        # Segment's requests (actions-core 3.170.0) go to these:
        ("https://BÜCHER.example/a b/KEY", "https://xn--bcher-kva.example/a%20b/KEY"),
        ("https://faß.de/k", "https://xn--fa-hia.de/k"),
        ("https://☃.net/k", "https://xn--n3h.net/k"),
        ("https://x。test/k", "https://x.test/k"),
        ("https://x.test/a\"<>`{}|^%é'/K", "https://x.test/a%22%3C%3E%60%7B%7D%7C%5E%%C3%A9%27/K"),
        ("https://x.test/p?q= a\\'\"#frag", "https://x.test/p?q=%20a%5C%27%22"),
        ("https://x.test\\a\\b", "https://x.test/a/b"),
        ("https://x.test/%2e/a/%2E%2e/k", "https://x.test/k"),
        ("https://x.test/k?", "https://x.test/k?"),
        ("https://[::1]:8080/k", "https://[::1]:8080/k"),
        ("https://%62ücher.example:0443/k", "https://xn--bcher-kva.example/k"),
    ],
)
def test_urls_are_read_as_the_whatwg_parser_reads_them(url: str, read: str) -> None:
    assert normalise_url(url) == read


@pytest.mark.parametrize(
    "url", ["https://a b.test/k", "https://xn--a.test/k", "https://x.test:99999/k", "nohost"]
)
def test_urls_segment_cannot_parse_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        normalise_url(url)


def test_mask_url_hides_the_key() -> None:
    assert mask_url(URL) == "https://collector.movableink-dmz.com/behavioral/***"
    assert mask_url(URL + "/?q=1") == "https://collector.movableink-dmz.com/behavioral/***"
    assert destination().masked_url == "https://collector.movableink-dmz.com/behavioral/***"


def test_secret_hides_itself() -> None:
    secret = Secret("pw")
    assert (str(secret), repr(secret), f"{secret}") == ("***", "Secret('***')", "***")
    assert secret.reveal() == "pw"
    assert "pw" not in repr(destination())


def test_body_bytes_writes_what_json_stringify_writes_for_mapped_values() -> None:
    assert body_bytes({"a": [1, math.inf], "s": "\ud83d"}) == b'{"a":[1,null],"s":"\\ud83d"}'
    assert body_bytes(None) == b""
    with pytest.raises(ValueError):
        body_bytes({"a": math.nan})


def test_a_reserved_header_is_checked_as_node_fetch_checks_it_then_dropped() -> None:
    """Segment builds the Headers (node-fetch refuses control characters, takes Latin-1), then
    sets its own Content-Type: a non-ASCII value there never reaches the wire."""
    from consumer.core.movableink import InvalidRequest, custom_headers

    assert custom_headers({"Content-Type": "\u00c0B", "X-A": "1"}) == {"X-A": "1"}
    with pytest.raises(InvalidRequest):
        custom_headers({"Content-Type": "a\nb"})
    with pytest.raises(InvalidRequest):
        custom_headers({"X-A": "\u00c0B"})  # sent: the ASCII-only rule (a deliberate difference)


def _tiny_float(value: Any) -> bool:
    """Whether a float under 1e-4 in size is in `value` (orjson writes those in another form)."""
    if isinstance(value, float):
        return 0 < abs(value) < 1e-4
    if isinstance(value, dict | list):
        return any(map(_tiny_float, value.values() if isinstance(value, dict) else value))
    return False


@settings(max_examples=500, deadline=None)
@given(json_objects)
def test_body_bytes_are_the_standard_librarys_bytes(body: dict[str, Any]) -> None:
    """orjson writes what the standard library wrote before it; numbers under 1e-4 are
    written in another form (2.5e-7, not 2.5e-07), the same JSON."""
    new, old = body_bytes(body), movableink._stdlib_body_bytes(body)
    assert json.dumps(json.loads(new)) == json.dumps(json.loads(old))
    if not _tiny_float(body):
        assert new == old


@pytest.mark.parametrize(
    "body",
    [
        {"big": 2**64, "neg": -(2**63) - 1},  # orjson refuses: the standard library writes them
        {"s": "\ud800", "t": "a\udfffb"},  # lone surrogates: escaped as JSON.stringify does
        {"deep": json.loads("[" * 300 + "]" * 300)},  # past orjson's depth
        {"inf": math.inf, "n": None, "x": -math.inf},  # infinity is null either way
        {"\u2028": '\x00\x1f\x7f"\\/\u00e9\U0001f600'},
        {"n": 100.0, "e": 1e16, "f": 1e21, "i": -0.0, "z": 0},
    ],
)
def test_body_bytes_edge_cases_are_the_standard_librarys(body: dict[str, Any]) -> None:
    assert body_bytes(body) == movableink._stdlib_body_bytes(body)


def test_body_bytes_refuses_nan_though_orjson_writes_it_as_null() -> None:
    with pytest.raises(ValueError):
        body_bytes({"a": [None, {"b": math.nan}]})
    assert body_bytes({"a": [None, 1.5]}) == b'{"a":[null,1.5]}'
