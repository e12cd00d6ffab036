"""Both HTTP clients against the stand-in on loopback: answers, errors and bodies alike."""

from __future__ import annotations

import asyncio
import base64
from typing import Any
from urllib.parse import urlsplit

import pytest

from consumer.core.movableink import Request, body_bytes
from consumer.settings import HttpClient
from consumer.shell.http import Answer, open_transport
from devkit import processes
from devkit.harness import PASSWORD, USERNAME
from devkit.standin import Faults, RateLimit, StandIn

CLIENTS: tuple[HttpClient, ...] = ("builtin", "httpx")
AUTH = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
HEADERS = {"Authorization": f"Basic {AUTH}", "Content-Type": "application/json"}
EVENT = {"type": "track", "messageId": "m-1", "anonymousId": "a-1", "event": "Viewed ✓"}


def post(
    client: HttpClient,
    url: str,
    body: Any,
    *,
    content: bytes | None = None,
    timeout_s: float = 5.0,
    times: int = 1,
) -> list[Answer]:
    sent = body_bytes(body) if content is None else content

    async def run() -> list[Answer]:
        transport = open_transport(client, max_connections=4, timeout_s=timeout_s)
        try:
            return [await transport.post(Request(url, HEADERS, body), sent) for _ in range(times)]
        finally:
            await transport.aclose()

    return asyncio.run(run())


@pytest.mark.parametrize("client", CLIENTS)
def test_a_delivered_event_arrives_with_its_body_and_auth(
    client: HttpClient, standin: StandIn
) -> None:
    assert post(client, standin.url, EVENT, times=3) == [Answer(200)] * 3
    assert [r.event for r in standin.received()] == [EVENT] * 3


@pytest.mark.parametrize("client", CLIENTS)
def test_pre_encoded_content_is_sent_as_is(client: HttpClient, standin: StandIn) -> None:
    batch = b'{"events":[{"type":"track","messageId":"b-1","anonymousId":"a","event":"E"}]}'
    assert post(client, standin.url, None, content=batch) == [Answer(200)]
    assert [r.message_id for r in standin.received()] == ["b-1"]


@pytest.mark.parametrize("client", CLIENTS)
def test_a_429_carries_its_retry_after(client: HttpClient, standin: StandIn) -> None:
    standin.set_faults(Faults(rate_limit=RateLimit(fraction=1.0, retry_after_s=7)))
    assert post(client, standin.url, EVENT) == [Answer(429, retry_after="7")]


@pytest.mark.parametrize("client", CLIENTS)
def test_a_refused_connection_is_a_connect_error(client: HttpClient) -> None:
    url = f"http://127.0.0.1:{processes.free_port()}/behavioral/key"
    assert post(client, url, EVENT) == [Answer(None, error="connect")]


@pytest.mark.parametrize("client", CLIENTS)
def test_no_answer_within_the_timeout_is_a_timeout(client: HttpClient, standin: StandIn) -> None:
    standin.set_faults(Faults(hang=True))
    assert post(client, standin.url, EVENT, timeout_s=0.3) == [Answer(None, error="timeout")]


@pytest.mark.parametrize("client", CLIENTS)
def test_the_proxy_comes_from_the_environment(
    client: HttpClient, standin: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing listens at the target: the event arrives only through the proxy (the stand-in
    # takes the proxied request's absolute URL), and not at all once NO_PROXY names the host.
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    given = urlsplit(standin.url)
    target = f"http://127.0.0.1:{processes.free_port()}{given.path}"
    monkeypatch.setenv("HTTP_PROXY", f"http://{given.netloc}")
    assert post(client, target, EVENT) == [Answer(200)]
    assert [r.message_id for r in standin.received()] == ["m-1"]
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert post(client, target, EVENT) == [Answer(None, error="connect")]
