"""Recovery from crashes: static group membership and the commit cadence, on a real broker.

The session timeout is librdkafka's default (45 s): a member that had to wait it out would miss
every deadline here by far, so the deadlines can be generous on a busy machine.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from devkit.harness import ConsumerProcess, produce, wait_for
from devkit.standin import StandIn, lost
from tests.pipeline import write_config

SESSION_TIMEOUT_MS = 45_000
WELL_UNDER_THE_SESSION_S = 15.0
INSTANCE_ID = "MIK__KAFKA__GROUP_INSTANCE_ID"


def burst(tag: str, people: int = 20) -> list[dict[str, Any]]:
    return [
        {"type": "track", "messageId": f"{tag}-{i}", "anonymousId": f"anon-{i}", "event": "E"}
        for i in range(people)
    ]


def ids(events: list[dict[str, Any]]) -> list[str]:
    return [e["messageId"] for e in events]


class Group:
    """One topic, one consumer group, and its members as real processes."""

    def __init__(self, tmp_path: Path, topic: str, config: Path, standin: StandIn) -> None:
        self.tmp_path, self.topic, self.config, self.standin = tmp_path, topic, config, standin
        self.name = topic  # the group is named after its topic
        self.members: list[ConsumerProcess] = []

    def start(self, instance_id: str) -> ConsumerProcess:
        log = self.tmp_path / f"{instance_id}-{len(self.members)}.log"
        member = ConsumerProcess(self.config, log, env={INSTANCE_ID: instance_id})
        self.members.append(member)
        return member

    def owners(self, bootstrap: str) -> int:
        """Members of the group that own at least one partition (the broker's view)."""
        admin = AdminClient({"bootstrap.servers": bootstrap})
        found = admin.describe_consumer_groups([self.name])[self.name].result(timeout=10)
        return sum(1 for m in found.members if m.assignment.topic_partitions)

    def deliver(self, bootstrap: str, events: list[dict[str, Any]], within_s: float) -> None:
        """Produce `events` and wait until each has arrived."""
        produce(bootstrap, self.topic, events)
        wanted = ids(events)
        wait_for(lambda: not lost(self.standin.received(), wanted), within_s, "the events")


@pytest.fixture
def group(
    tmp_path: Path, kafka_bootstrap: str, new_topic: Callable[..., str], standin: StandIn
) -> Iterator[Group]:
    """A topic of 4 partitions, consumed by the group of the same name."""
    topic = new_topic(4)
    properties = {"session.timeout.ms": SESSION_TIMEOUT_MS}
    config = write_config(
        tmp_path / "config.toml",
        bootstrap=kafka_bootstrap,
        topic=topic,
        group=topic,
        url=standin.url,
        properties=properties,
    )
    made = Group(tmp_path, topic, config, standin)
    yield made
    for member in made.members:
        member.kill()


def test_a_killed_member_restarted_under_its_instance_id_resumes_at_once(
    kafka_bootstrap: str, group: Group
) -> None:
    first = group.start("member-a")
    group.deliver(kafka_bootstrap, burst("before"), 60)
    first.signal(signal.SIGKILL)
    first.wait()

    restarted = time.monotonic()
    group.start("member-a")
    group.deliver(kafka_bootstrap, burst("after"), WELL_UNDER_THE_SESSION_S)
    assert time.monotonic() - restarted < WELL_UNDER_THE_SESSION_S


def test_a_static_member_stopped_with_sigterm_leaves_and_its_partitions_move_at_once(
    kafka_bootstrap: str, group: Group
) -> None:
    """Kubernetes' SIGTERM means the pod goes away: a static member must not keep its
    partitions for the session timeout (librdkafka's close alone would not leave)."""
    stays, goes = group.start("member-a"), group.start("member-b")
    group.deliver(kafka_bootstrap, burst("both", people=60), 60)
    wait_for(lambda: group.owners(kafka_bootstrap) == 2, 60, "both members to own partitions")
    goes.signal(signal.SIGTERM)
    assert goes.wait(30) == 0

    left = time.monotonic()
    group.deliver(kafka_bootstrap, burst("one", people=60), WELL_UNDER_THE_SESSION_S)
    assert time.monotonic() - left < WELL_UNDER_THE_SESSION_S
    assert stays.alive()


def test_finished_offsets_are_committed_within_a_fraction_of_a_second(
    kafka_bootstrap: str, group: Group
) -> None:
    """The default cadence (not a SIGTERM or a revoke): what a crash would send again."""
    member = group.start("member-a")
    reader = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": group.name})
    partitions = [TopicPartition(group.topic, p) for p in range(4)]

    def total() -> int:
        return sum(max(p.offset, 0) for p in reader.committed(partitions, timeout=10))

    try:
        for round_ in range(3):
            group.deliver(kafka_bootstrap, burst(f"round{round_}"), 60)
            delivered = time.monotonic()
            while total() < 20 * (round_ + 1):
                assert time.monotonic() - delivered < 2.0, "commits should follow within ~0.2 s"
                time.sleep(0.05)
    finally:
        reader.close()
    assert member.alive()
