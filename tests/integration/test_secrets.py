"""Credentials never reach logs or metrics, even when Movable Ink refuses them."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

import httpx

from devkit import processes
from devkit.harness import PASSWORD, USERNAME, ConsumerProcess, produce, read_topic
from devkit.standin import StandIn
from tests.pipeline import write_config

KEY = "customer-key-4f9a"


def test_secrets_are_not_in_logs_metrics_or_dead_letters(
    tmp_path: Path,
    kafka_bootstrap: str,
    new_topic: Callable[..., str],
    unique_name: Callable[[str], str],
) -> None:
    # The stand-in expects other credentials: every request is a 401 and is dead-lettered.
    with StandIn(USERNAME, "another-password") as standin:
        topic = new_topic(1)
        port = processes.free_port()
        config = write_config(
            tmp_path / "config.toml",
            bootstrap=kafka_bootstrap,
            topic=topic,
            group=unique_name("group"),
            url=standin.url_for(KEY),
            metrics_port=port,
        )
        events = [
            {"type": "track", "messageId": f"s{i}", "userId": "u", "event": "E"} for i in range(3)
        ]
        produce(kafka_bootstrap, topic, events)
        consumer = ConsumerProcess(config, tmp_path / "consumer.log", log_level="DEBUG")
        try:
            letters = read_topic(kafka_bootstrap, f"{topic}.dlq", 3, timeout=60)
            metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        finally:
            consumer.kill()

    assert len(letters) == 3
    token = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
    dead_letter_headers = " ".join(
        (v or b"").decode(errors="replace") for m in letters for _, v in m.headers()
    )
    logs = consumer.logs()
    assert "behavioral/***" in logs  # the URL is shown, masked
    for place, text in [
        ("logs", logs),
        ("metrics", metrics),
        ("dead letters", dead_letter_headers),
    ]:
        for secret in (PASSWORD, token, KEY):
            assert secret not in text, f"{secret!r} leaked into the {place}"
    assert '"msg": "dead-lettering"' in logs and '"messageId": "s0"' in logs
