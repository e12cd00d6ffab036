"""The Movable Ink stand-in (devkit/standin): real HTTP on loopback with httpx, no mocks."""

from __future__ import annotations

import asyncio
import base64
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from devkit.standin import (
    Faults,
    OrderViolation,
    RateLimit,
    Received,
    Rule,
    StandIn,
    duplicates,
    lost,
    order_violations,
    person_keys,
)
from devkit.standin.faults import FaultPlan

USER, PASSWORD = "access-key-id", "s3cret"


@pytest.fixture
def standin() -> Iterator[StandIn]:
    with StandIn(USER, PASSWORD) as server:
        yield server


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(auth=(USER, PASSWORD), timeout=5) as http:
        yield http


def event(message_id: str, **fields: Any) -> dict[str, Any]:
    return {"type": "track", "event": "Viewed", "messageId": message_id, **fields}


def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll `check` until it holds or the deadline passes."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        time.sleep(0.01)


# The contract


def test_one_event_with_basic_auth_is_accepted_and_recorded_unchanged(
    standin: StandIn, client: httpx.Client
) -> None:
    sent = event("m1", userId="u1", anonymousId="a1", properties={"price": 9.5})
    response = client.post(standin.url, json=sent)
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "accepted": 1}
    [item] = standin.received()
    assert item.event == sent
    assert (item.seq, item.request, item.api_key, item.message_id) == (0, 0, "demo-key", "m1")
    assert item.person_keys == ("a1", "u1")
    assert abs(item.time - time.time()) < 5


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Basic " + base64.b64encode(f"{USER}:wrong".encode()).decode(),
        "Basic " + base64.b64encode(f"other:{PASSWORD}".encode()).decode(),
        "Basic not-base64!",
        f"Bearer {PASSWORD}",
    ],
)
def test_missing_or_wrong_basic_auth_is_401(standin: StandIn, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = httpx.post(standin.url, json=event("m1"), headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="movableink"'
    assert standin.received() == []
    [rejected] = standin.rejected()
    assert (rejected.status, rejected.reason, rejected.api_key) == (401, "unauthorized", "demo-key")


def test_basic_scheme_is_case_insensitive(standin: StandIn) -> None:
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    response = httpx.post(
        standin.url, json=event("m1"), headers={"Authorization": f"basic {token}"}
    )
    assert response.status_code == 200


def test_batch_is_accepted_and_recorded_in_order(standin: StandIn, client: httpx.Client) -> None:
    batch = [event(f"m{i}", userId="u1") for i in range(5)]
    response = client.post(standin.url, json={"events": batch})
    assert response.json() == {"status": "ok", "accepted": 5}
    received = standin.received()
    assert [r.event for r in received] == batch
    assert [r.seq for r in received] == [0, 1, 2, 3, 4]
    assert {r.request for r in received} == {0}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "invalid_json"),
        (b"\xff\xfe", "invalid_json"),
        (b"[1, 2]", "not_an_object"),
        (b'"text"', "not_an_object"),
        (b'{"events": "x"}', "bad_batch"),
        (b'{"events": []}', "bad_batch"),
        (b'{"events": [1]}', "bad_batch"),
        (b'{"events": [{}], "extra": 1}', "bad_batch"),
    ],
)
def test_bodies_that_are_not_one_object_or_a_batch_are_400(
    standin: StandIn, client: httpx.Client, body: bytes, reason: str
) -> None:
    response = client.post(standin.url, content=body, headers={"Content-Type": "application/json"})
    assert (response.status_code, response.json()["error"]) == (400, reason)
    assert standin.rejected()[0].reason == reason


def test_an_event_that_has_an_events_field_is_still_one_event(
    standin: StandIn, client: httpx.Client
) -> None:
    sent = event("m1", events=["not", "a", "batch"])
    assert client.post(standin.url, json=sent).status_code == 200
    assert standin.received()[0].event == sent


def test_too_large_or_too_many_events_is_413_and_the_connection_survives() -> None:
    with (
        StandIn(USER, PASSWORD, max_body_bytes=2000, max_batch_events=3) as standin,
        httpx.Client(auth=(USER, PASSWORD)) as client,
    ):
        too_large = client.post(standin.url, json=event("m1", padding="x" * 2000))
        too_many = client.post(standin.url, json={"events": [event(f"m{i}") for i in range(4)]})
        fine = client.post(standin.url, json={"events": [event(f"m{i}") for i in range(3)]})
        assert [too_large.status_code, too_many.status_code, fine.status_code] == [413, 413, 200]
        assert [r.reason for r in standin.rejected()] == ["too_large", "too_many_events"]
        assert standin.stats()["connections"] == 1  # one keep-alive connection for all three


def test_default_limits_are_1000_events_and_a_million_bytes(
    standin: StandIn, client: httpx.Client
) -> None:
    too_many = {"events": [{"messageId": str(i)} for i in range(1001)]}
    assert client.post(standin.url, json=too_many).status_code == 413
    body = b'{"pad": "' + b"x" * (1_000_000 - 11) + b'"}'
    assert len(body) == 1_000_000
    headers = {"Content-Type": "application/json"}
    assert client.post(standin.url, content=body, headers=headers).status_code == 200
    assert client.post(standin.url, content=body + b" ", headers=headers).status_code == 413


def test_a_body_that_is_not_declared_json_is_415(standin: StandIn, client: httpx.Client) -> None:
    response = client.post(standin.url, content=b"{}", headers={"Content-Type": "text/plain"})
    assert response.status_code == 415


def test_unknown_key_other_paths_and_other_methods() -> None:
    with StandIn(USER, PASSWORD, keys=["key-1", "key-2"]) as standin:
        with httpx.Client(auth=(USER, PASSWORD)) as client:
            assert standin.url.endswith("/behavioral/key-1")
            assert client.post(standin.url_for("key-2"), json=event("m1")).status_code == 200
            assert client.post(standin.url_for("nope"), json=event("m2")).status_code == 404
            assert client.post(standin.url_for(""), json=event("m3")).status_code == 404
            base = standin.url.split("/behavioral/")[0]
            assert client.post(f"{base}/other/key-1", json=event("m4")).status_code == 404
            not_allowed = client.get(standin.url)
            assert (not_allowed.status_code, not_allowed.headers["Allow"]) == (405, "POST")
        assert [r.api_key for r in standin.received()] == ["key-2"]
        reasons = [r.reason for r in standin.rejected()]
        assert reasons == ["unknown_key", "unknown_key", "not_found", "method_not_allowed"]


def test_any_path_under_the_prefix_uses_its_last_segment_as_key(
    standin: StandIn, client: httpx.Client
) -> None:
    base = standin.url.split("/behavioral/")[0]
    assert client.post(f"{base}/behavioral/eu/brand-a", json=event("m1")).status_code == 200
    assert standin.received()[0].api_key == "brand-a"


def test_chunked_body_is_accepted(standin: StandIn, client: httpx.Client) -> None:
    parts = iter([b'{"type": "track", ', b'"messageId": "m1"}'])
    headers = {"Content-Type": "application/json"}
    assert client.post(standin.url, content=parts, headers=headers).status_code == 200
    assert standin.received()[0].message_id == "m1"


def test_pipelined_requests_and_bad_http_on_a_raw_socket(standin: StandIn) -> None:
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    body = b'{"messageId": "m1"}'
    path = standin.url.split(str(standin.port), 1)[1]
    one = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    with socket.create_connection(("127.0.0.1", standin.port), timeout=5) as sock:
        sock.sendall(one + one + b"NONSENSE\r\n\r\n")
        replies = b""
        while chunk := sock.recv(65536):
            replies += chunk
    assert replies.count(b"HTTP/1.1 200 OK") == 2
    assert b"HTTP/1.1 400 Bad Request" in replies
    assert b"Connection: close" in replies
    assert [r.reason for r in standin.rejected()] == ["bad_http"]


# Recording


def test_events_are_recorded_under_each_identity_key(
    standin: StandIn, client: httpx.Client
) -> None:
    sent = [
        event("m1", anonymousId="a1"),
        {"type": "identify", "messageId": "m2", "anonymousId": "a1", "userId": "u1"},
        event("m3", userId="u1"),
        {"type": "alias", "messageId": "m4", "previousId": "u1", "userId": "u2"},
        event("m5", anonymousId="a2"),
    ]
    for item in sent:
        assert client.post(standin.url, json=item).status_code == 200
    assert [r.message_id for r in standin.received("a1")] == ["m1", "m2"]
    assert [r.message_id for r in standin.received("u1")] == ["m2", "m3", "m4"]
    assert [r.message_id for r in standin.received("u2")] == ["m4"]
    assert [r.message_id for r in standin.received()] == ["m1", "m2", "m3", "m4", "m5"]
    assert [r.message_id for r in standin.received(since=3)] == ["m4", "m5"]
    assert standin.received("nobody") == []


@pytest.mark.parametrize(
    ("sent", "keys"),
    [
        ({"type": "track", "anonymousId": "a", "userId": "u"}, ("a", "u")),
        ({"type": "alias", "previousId": "p", "userId": "u", "anonymousId": "a"}, ("p", "u")),
        ({"type": "track", "userId": 42}, ("42",)),
        ({"type": "track", "userId": True, "anonymousId": ""}, ()),
        ({"type": "identify", "anonymousId": "same", "userId": "same"}, ("same",)),
    ],
)
def test_person_keys(sent: dict[str, Any], keys: tuple[str, ...]) -> None:
    assert person_keys(sent) == keys


def test_wait_received_returns_once_enough_arrived_and_times_out_otherwise(
    standin: StandIn, client: httpx.Client
) -> None:
    client.post(standin.url, json=event("m1"))
    assert [r.message_id for r in standin.wait_received(1, timeout=1)] == ["m1"]
    with pytest.raises(TimeoutError):
        standin.wait_received(2, timeout=0.05)


# Faults


def test_latency_is_added_to_every_request_and_requests_wait_concurrently() -> None:
    async def send_all(url: str, count: int) -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=count)
        async with httpx.AsyncClient(auth=(USER, PASSWORD), limits=limits) as client:
            sends = [client.post(url, json=event(f"m{i}")) for i in range(count)]
            return await asyncio.gather(*sends)

    with StandIn(USER, PASSWORD, faults=Faults(latency_ms=300)) as standin:
        started = time.monotonic()
        responses = asyncio.run(send_all(standin.url, 50))
        elapsed = time.monotonic() - started
    assert all(r.status_code == 200 for r in responses)
    assert min(r.elapsed.total_seconds() for r in responses) >= 0.3
    assert elapsed < 3.0  # one after another it would take 15 s


def test_jitter_stays_between_latency_and_latency_plus_jitter() -> None:
    plan = FaultPlan(Faults(latency_ms=10, jitter_ms=5, seed=3))
    delays = [plan.delay_s() for _ in range(200)]
    assert all(0.010 <= d <= 0.015 for d in delays)
    assert len(set(delays)) > 100


def test_error_rate_answers_its_status_and_repeats_with_the_same_seed(
    standin: StandIn, client: httpx.Client
) -> None:
    def statuses() -> list[int]:
        standin.set_faults(Faults(error_rate=0.3, error_status=503, seed=42))
        return [client.post(standin.url, json=event(f"m{i}")).status_code for i in range(60)]

    first = statuses()
    assert statuses() == first
    assert set(first) == {200, 503}
    assert 6 <= first.count(503) <= 30
    rejected = standin.rejected()
    assert {(r.status, r.reason) for r in rejected} == {(503, "error_rate")}
    assert len(standin.received()) == 2 * first.count(200)


def test_rule_fails_a_message_n_times_with_retry_after_then_accepts(
    standin: StandIn, client: httpx.Client
) -> None:
    rule = Rule(match={"messageId": "m1"}, status=503, times=3, retry_after="2")
    standin.set_faults(Faults(rules=(rule,)))
    assert client.post(standin.url, json=event("m0")).status_code == 200
    answers = [client.post(standin.url, json=event("m1")) for _ in range(4)]
    assert [a.status_code for a in answers] == [503, 503, 503, 200]
    assert [a.headers.get("Retry-After") for a in answers] == ["2", "2", "2", None]
    assert [r.message_ids for r in standin.rejected()] == [("m1",)] * 3
    assert [r.request for r in standin.rejected()] == [1, 2, 3]
    assert [r.message_id for r in standin.received()] == ["m0", "m1"]


def test_rules_match_any_field_forever_and_the_first_matching_rule_wins(
    standin: StandIn, client: httpx.Client
) -> None:
    standin.set_faults(
        Faults(
            rules=(
                Rule(match={"userId": "u1", "type": "identify"}, status=422),
                Rule(match={"userId": "u1"}, status=400),
                Rule(match={"event": "Order Completed"}, status=500, times=1),
                Rule(match={"anonymousId": "a9"}, status=429, retry_after="1"),
            )
        )
    )

    def status(sent: dict[str, Any]) -> int:
        return client.post(standin.url, json=sent).status_code

    assert [status(event(f"m{i}", userId="u1")) for i in range(3)] == [400, 400, 400]
    assert status({"type": "identify", "messageId": "i1", "userId": "u1"}) == 422
    assert status(event("o1", event="Order Completed")) == 500
    assert status(event("o2", event="Order Completed")) == 200
    assert status(event("x1", anonymousId="a9")) == 429
    batch = {"events": [event("b1", userId="u2"), event("b2", userId="u1")]}
    assert client.post(standin.url, json=batch).status_code == 400
    assert standin.rejected()[-1].message_ids == ("b1", "b2")
    assert standin.faults.rules[1].times is None


def test_rate_limit_answers_429_with_retry_after_for_its_duration(
    standin: StandIn, client: httpx.Client
) -> None:
    standin.set_faults(Faults(rate_limit=RateLimit(retry_after_s=7, duration_s=0.3)))
    limited = client.post(standin.url, json=event("m1"))
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "7")
    assert standin.rejected()[0].reason == "rate_limit"
    eventually(lambda: client.post(standin.url, json=event("m1")).status_code == 200)


def test_rate_limit_hits_a_fraction_of_requests(standin: StandIn, client: httpx.Client) -> None:
    standin.set_faults(Faults(rate_limit=RateLimit(fraction=0.5), seed=1))
    statuses = [client.post(standin.url, json=event(f"m{i}")).status_code for i in range(40)]
    assert set(statuses) == {200, 429}


def test_hang_holds_requests_until_the_client_gives_up(standin: StandIn) -> None:
    standin.set_faults(Faults(hang=True))
    with (
        httpx.Client(auth=(USER, PASSWORD), timeout=0.3) as client,
        pytest.raises(httpx.ReadTimeout),
    ):
        client.post(standin.url, json=event("m1"))
    [held] = standin.wait_rejected(1)
    assert (held.status, held.reason, held.message_ids) == (None, "hang", ("m1",))
    eventually(lambda: standin.stats()["connections"] == 0)
    assert standin.stats()["rejected"] == {"hang": 1}


def test_a_hang_rule_holds_only_matching_events(standin: StandIn) -> None:
    standin.set_faults(Faults(rules=(Rule(match={"userId": "slow"}, hang=True, times=1),)))
    with httpx.Client(auth=(USER, PASSWORD), timeout=0.3) as client:
        with pytest.raises(httpx.ReadTimeout):
            client.post(standin.url, json=event("m1", userId="slow"))
        assert client.post(standin.url, json=event("m2", userId="fast")).status_code == 200
        assert client.post(standin.url, json=event("m1", userId="slow")).status_code == 200


def test_down_refuses_connections_then_up_serves_on_the_same_port(
    standin: StandIn, client: httpx.Client
) -> None:
    assert client.post(standin.url, json=event("m1")).status_code == 200  # a pooled connection
    port = standin.port
    standin.down()
    assert standin.stats()["down"] is True
    with pytest.raises(httpx.ConnectError):
        client.post(standin.url, json=event("m2"))
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    standin.up()
    assert standin.port == port
    assert client.post(standin.url, json=event("m3")).status_code == 200
    assert [r.message_id for r in standin.received()] == ["m1", "m3"]


def test_down_cuts_requests_in_flight_with_a_connection_error(
    standin: StandIn, client: httpx.Client
) -> None:
    standin.set_faults(Faults(latency_ms=5000))
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(client.post, standin.url, json=event("m1"))
        eventually(lambda: standin.stats()["connections"] == 1)
        standin.down()
        with pytest.raises(httpx.TransportError) as caught:
            pending.result(timeout=5)
    assert not isinstance(caught.value, httpx.TimeoutException)
    assert (standin.received(), standin.rejected()) == ([], [])


def test_down_for_a_while_over_http_comes_back_by_itself(
    standin: StandIn, client: httpx.Client
) -> None:
    answer = httpx.post(f"{standin.control_url}/down", json={"for_s": 0.3})
    assert answer.json() == {"down": True}
    with pytest.raises(httpx.ConnectError):
        client.post(standin.url, json=event("m1"))
    assert httpx.get(f"{standin.control_url}/stats").json()["down"] is True

    def accepted() -> bool:
        try:
            return client.post(standin.url, json=event("m1")).status_code == 200
        except httpx.ConnectError:
            return False

    eventually(accepted)


def test_down_and_up_over_http_on_the_endpoint_port_and_the_control_port(
    standin: StandIn, client: httpx.Client
) -> None:
    base = standin.url.split("/behavioral/")[0]
    assert httpx.post(f"{base}/_standin/down").json() == {"down": True}
    with pytest.raises(httpx.ConnectError):
        client.post(standin.url, json=event("m1"))
    assert httpx.post(f"{standin.control_url}/up").json() == {"down": False}
    assert client.post(standin.url, json=event("m1")).status_code == 200


def test_reset_clears_faults_and_or_the_recording(standin: StandIn, client: httpx.Client) -> None:
    client.post(standin.url, json=event("m1"))
    standin.set_faults(Faults(error_rate=1.0))
    assert client.post(standin.url, json=event("m2")).status_code == 503
    standin.reset(faults=False)
    assert (standin.received(), standin.rejected()) == ([], [])
    assert standin.faults == Faults(error_rate=1.0)
    standin.reset(received=False)
    assert standin.faults == Faults()
    assert client.post(standin.url, json=event("m3")).status_code == 200
    assert [(r.seq, r.request, r.message_id) for r in standin.received()] == [(0, 0, "m3")]


def test_a_busy_port_fails_start() -> None:
    with StandIn(USER, PASSWORD) as first, pytest.raises(OSError):
        StandIn(USER, PASSWORD, port=first.port).start()


# The HTTP control API


def test_control_api_steers_faults_and_reads_the_recording(
    standin: StandIn, client: httpx.Client
) -> None:
    control = standin.control_url
    faults = {
        "latency_ms": 1,
        "rules": [{"match": {"messageId": "m2"}, "status": 503, "times": 1, "retry_after": 5}],
        "seed": 3,
    }
    set_answer = httpx.post(f"{control}/faults", json=faults)
    assert set_answer.status_code == 200
    assert set_answer.json()["faults"]["rules"][0]["retry_after"] == "5"
    assert httpx.get(f"{control}/faults").json()["remaining"] == [1]
    for mid, user in [("m1", "u1"), ("m2", "u2"), ("m2", "u2"), ("m3", "u1")]:
        client.post(standin.url, json=event(mid, userId=user))
    assert httpx.get(f"{control}/faults").json()["remaining"] == [0]

    everything = httpx.get(f"{control}/received").json()
    assert [r["message_id"] for r in everything["received"]] == ["m1", "m2", "m3"]
    assert everything["next"] == 3
    assert [Received.from_json(r) for r in everything["received"]] == standin.received()
    later = httpx.get(f"{control}/received", params={"since": 1, "person": "u1"}).json()
    assert ([r["message_id"] for r in later["received"]], later["next"]) == (["m3"], 3)
    rejected = httpx.get(f"{control}/rejected").json()
    assert rejected["rejected"][0] | {"time": 0} == {
        "request": 1,
        "time": 0,
        "api_key": "demo-key",
        "status": 503,
        "reason": "rule",
        "message_ids": ["m2"],
    }
    assert rejected["next"] == 1
    assert httpx.get(f"{control}/stats").json() == {
        "requests": 4,
        "accepted_events": 3,
        "rejected": {"503": 1},
        "down": False,
        "connections": 1,
    }
    assert httpx.post(f"{control}/reset", json={"faults": False}).json() == {"reset": True}
    assert httpx.get(f"{control}/received").json() == {"received": [], "next": 0}
    assert standin.faults.latency_ms == 1
    httpx.post(f"{control}/reset")
    assert standin.faults == Faults()


@pytest.mark.parametrize(
    ("path", "body", "status", "fragment"),
    [
        ("faults", {"latency": 5}, 400, "Unknown field(s) ['latency']"),
        ("faults", {"error_rate": 2}, 400, "between 0 and 1"),
        ("faults", {"rules": [{"status": 503}]}, 400, "`match`"),
        ("faults", {"rules": [{"match": {"userId": "u"}, "times": 0}]}, 400, "at least 1"),
        ("faults", {"rate_limit": {"fraction": "all"}}, 400, "`fraction` must be a number"),
        ("faults", [1], 400, "must be a JSON object"),
        ("down", {"for_s": -1}, 400, "non-negative"),
        ("reset", {"faults": "yes"}, 400, "true or false"),
        ("nothing", {}, 404, "No POST"),
    ],
)
def test_control_api_explains_bad_requests(
    standin: StandIn, path: str, body: object, status: int, fragment: str
) -> None:
    response = httpx.post(f"{standin.control_url}/{path}", json=body)
    assert response.status_code == status
    assert fragment in response.json()["message"]
    assert standin.faults == Faults()


def test_control_port_serves_only_the_control_api(standin: StandIn) -> None:
    base = standin.control_url.removesuffix("/_standin")
    response = httpx.post(f"{base}/behavioral/demo-key", json=event("m1"), auth=(USER, PASSWORD))
    assert response.status_code == 404


def test_faults_survive_a_json_round_trip() -> None:
    faults = Faults(
        latency_ms=50,
        jitter_ms=5,
        error_rate=0.3,
        error_status=502,
        rate_limit=RateLimit(fraction=0.5, retry_after_s=3, duration_s=10),
        hang=True,
        rules=(Rule(match={"messageId": "m1"}, status=503, times=3, retry_after="2", hang=True),),
        seed=9,
    )
    assert Faults.from_json(faults.to_json()) == faults


# The command line


def test_cli_prints_the_url_first_serves_and_stops_on_sigterm() -> None:
    command = [sys.executable, "-m", "devkit.standin", "--port", "0"]
    command += ["--username", USER, "--password", PASSWORD, "--latency-ms", "1"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        control = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        assert url.endswith("/behavioral/demo-key")
        assert control.endswith("/_standin")
        assert httpx.post(url, json=event("m1"), auth=(USER, PASSWORD)).status_code == 200
        assert httpx.get(f"{control}/faults").json()["faults"]["latency_ms"] == 1
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


# Checks


def received_in_order(*items: tuple[str, tuple[str, ...]]) -> list[Received]:
    return [
        Received(seq, 0.0, seq, "k", mid, persons, {"messageId": mid})
        for seq, (mid, persons) in enumerate(items)
    ]


def test_order_violations_name_each_event_that_arrived_too_late() -> None:
    expected = {"a": ["m1", "m2", "m3"]}
    in_order = received_in_order(("m1", ("a",)), ("m2", ("a",)), ("m3", ("a",)))
    assert order_violations(in_order, expected) == []
    swapped = received_in_order(("m2", ("a",)), ("m1", ("a",)), ("m3", ("a",)))
    assert order_violations(swapped, expected) == [OrderViolation("a", "m1", "m2")]
    last_first = received_in_order(("m3", ("a",)), ("m1", ("a",)), ("m2", ("a",)))
    assert order_violations(last_first, expected) == [
        OrderViolation("a", "m1", "m3"),
        OrderViolation("a", "m2", "m3"),
    ]


def test_order_is_judged_on_first_arrivals_and_only_on_expected_events() -> None:
    expected = {"a": ["m1", "m2", "m3"]}
    replayed = received_in_order(
        ("m1", ("a",)), ("x", ("a",)), ("m2", ("a",)), ("m1", ("a",)), ("m3", ("a",))
    )
    assert order_violations(replayed, expected) == []
    missing_one = received_in_order(("m1", ("a",)), ("m3", ("a",)))
    assert order_violations(missing_one, expected) == []


def test_order_is_checked_per_identity_key_of_each_event() -> None:
    expected = {"a": ["m1", "m3"], "u": ["m2", "m3"]}
    received = received_in_order(("m2", ("u",)), ("m3", ("a", "u")), ("m1", ("a",)))
    assert order_violations(received, expected) == [OrderViolation("a", "m1", "m3")]


@given(st.permutations(list(range(8))))
def test_order_violations_are_empty_exactly_when_arrival_order_is_expected(
    arrival: list[int],
) -> None:
    expected = {"p": [f"m{i}" for i in range(8)]}
    received = received_in_order(*[(f"m{i}", ("p",)) for i in arrival])
    assert (order_violations(received, expected) == []) == (arrival == sorted(arrival))


def test_lost_and_duplicates() -> None:
    received = received_in_order(("m1", ()), ("m2", ()), ("m1", ()), ("m1", ()), ("m4", ()))
    assert lost(received, ["m1", "m2", "m3"]) == {"m3"}
    assert lost(received, []) == set()
    assert duplicates(received) == {"m1": 3}
    assert duplicates(received_in_order(("m1", ()))) == {}
