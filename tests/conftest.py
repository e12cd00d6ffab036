"""Session fixtures: one real Kafka broker per test session, and per-test topics and groups.

The broker comes from, in order: `KAFKA_BOOTSTRAP_SERVERS`; the local broker of
`devkit/broker.py` (Java and Maven); testcontainers' Kafka module when a Docker engine
answers. With none of these the integration tests fail (never skip) with one sentence.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent

NO_BROKER = (
    "No Kafka broker for the integration tests: install Java 17+ and Maven (the suite then "
    "starts a local broker), or start a Docker engine, or set KAFKA_BOOTSTRAP_SERVERS."
)


def _docker_answers() -> bool:
    try:
        import docker  # type: ignore[import-untyped]  # testcontainers brings it

        docker.from_env(timeout=3).ping()
    except Exception:
        return False
    return True


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The bootstrap address of the session's broker."""
    given = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if given:
        yield given
        return
    if shutil.which("java") and shutil.which("mvn"):
        from devkit import broker

        local = broker.start(tmp_path_factory.mktemp("kafka"))
        try:
            yield local.bootstrap
        finally:
            local.stop()
        return
    if _docker_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    pytest.fail(NO_BROKER, pytrace=False)


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """Names no other test uses: topics and consumer groups are never shared between tests."""
    stem = request.node.name.replace("[", "-").replace("]", "")[:80]

    def make(kind: str) -> str:
        return f"{kind}-{stem}-{uuid.uuid4().hex[:8]}"

    return make


@pytest.fixture
def new_topic(kafka_bootstrap: str, unique_name: Callable[[str], str]) -> Callable[..., str]:
    """Create a fresh topic on the session broker and return its name."""
    from devkit import harness

    def create(partitions: int = 3, name: str | None = None) -> str:
        return harness.create_topic(kafka_bootstrap, name or unique_name("topic"), partitions)

    return create


@pytest.fixture
def standin() -> Iterator[Any]:
    """A Movable Ink stand-in on loopback, with the credentials of the harness."""
    from devkit.harness import PASSWORD, USERNAME
    from devkit.standin import StandIn

    with StandIn(USERNAME, PASSWORD) as server:
        yield server


@pytest.fixture
def configured_topic(
    tmp_path: Path,
    kafka_bootstrap: str,
    new_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    standin: Any,
) -> Callable[..., tuple[str, Path]]:
    """Make a fresh topic and a config (`tmp_path / "config.toml"`) that consumes it into the
    stand-in, in a group of its own unless `group` is given; returns (topic, config path).
    `options` are `tests.pipeline.write_config`'s."""
    from tests.pipeline import write_config

    def make(partitions: int = 3, *, group: str | None = None, **options: Any) -> tuple[str, Path]:
        topic = new_topic(partitions)
        config = write_config(
            tmp_path / "config.toml",
            bootstrap=kafka_bootstrap,
            topic=topic,
            group=group or unique_name("group"),
            url=standin.url,
            **options,
        )
        return topic, config

    return make


@pytest.fixture(scope="session")
def schema_registry_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Confluent-API schema registry: `SCHEMA_REGISTRY_URL`, else Apicurio from Maven Central."""
    given = os.environ.get("SCHEMA_REGISTRY_URL")
    if given:
        yield given
        return
    from devkit import registry

    try:
        local = registry.start(tmp_path_factory.mktemp("registry"))
    except registry.RegistryError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield local.url
    finally:
        local.stop()
