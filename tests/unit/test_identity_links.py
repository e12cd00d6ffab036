"""The identity-link gate's shell without a broker: what a pod claims of its partitions."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from consumer.core.errors import BrokerError
from consumer.settings import KafkaSettings, OrderingSettings
from consumer.shell.kafka.identity_links import IdentityLinks
from consumer.shell.metrics import Metrics

P0, P1 = ("t", 0), ("t", 1)


class Reader:
    """The links thread's consumer: the broker's ends and the group's committed offsets."""

    def __init__(self) -> None:
        self.ends: dict[tuple[str, int], int] = {}
        self.firsts: dict[tuple[str, int], int] = {}
        self.committed_offsets: dict[tuple[str, int], int] = {}

    def end_offsets(self, partitions: Any, *, beginning: bool = False, **_: Any) -> dict[Any, int]:
        found = self.firsts if beginning else self.ends
        return {tp: found[tp] for tp in partitions if tp in found}

    def committed(self, partitions: Any, timeout_s: float = 10) -> dict[Any, int]:
        return {tp: self.committed_offsets[tp] for tp in partitions if tp in self.committed_offsets}


@pytest.fixture
def links(monkeypatch: pytest.MonkeyPatch) -> tuple[IdentityLinks, list[dict[str, Any]]]:
    kafka = KafkaSettings(bootstrap_servers="127.0.0.1:1", topics=("t",), group_id="g")
    made = IdentityLinks(kafka, OrderingSettings(gate="enforce"), Metrics(CollectorRegistry()))
    sent: list[dict[str, Any]] = []
    monkeypatch.setattr(made, "_send", lambda body, kind: sent.append(body))
    return made, sent


def claims(sent: list[dict[str, Any]]) -> dict[tuple[str, int], float | None]:
    return {(t, p): at for t, p, _, at in sent[-1]["parts"]}


def test_a_partition_is_claimed_at_its_end_only_as_far_as_the_broker_said_when_asked(
    links: tuple[IdentityLinks, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Handing on everything fetched is no claim (records appended since the last fetch are
    not counted in it): only an end offset asked of the broker, reached, as of when asked."""
    gate, sent = links
    clock = [100.0]
    monkeypatch.setattr("consumer.shell.kafka.identity_links.time.time", lambda: clock[0])
    reader = Reader()
    gate.publish_progress({P0: 5, P1: None})
    assert claims(sent) == {P0: None, P1: None}  # nothing asked yet: no claim
    reader.ends = {P0: 5, P1: 3}
    reader.committed_offsets = {P1: 3}  # P1: nothing read since assigned, committed at its end
    gate._probe(reader)  # type: ignore[arg-type]
    clock[0] = 100.4
    reader.ends = {P0: 6, P1: 3}  # a record appended to P0 meanwhile
    gate._probe(reader)  # type: ignore[arg-type]
    gate.publish_progress({P0: 5, P1: None})
    assert claims(sent) == {P0: 100.0, P1: 100.4}  # when asked, not when published
    gate.publish_progress({P0: 6, P1: None})
    assert claims(sent) == {P0: 100.4, P1: 100.4}


def test_a_partition_nothing_was_committed_for_counts_from_its_first_offset(
    links: tuple[IdentityLinks, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    gate, sent = links
    monkeypatch.setattr("consumer.shell.kafka.identity_links.time.time", lambda: 50.0)
    reader = Reader()
    reader.ends, reader.firsts = {P0: 0, P1: 4}, {P0: 0, P1: 2}  # P0 empty; P1 not read yet
    gate.publish_progress({P0: None, P1: None})
    gate._probe(reader)  # type: ignore[arg-type]
    gate.publish_progress({P0: None, P1: None})
    assert claims(sent) == {P0: 50.0, P1: None}


def test_a_probe_the_broker_does_not_answer_is_given_up_and_claims_nothing(
    links: tuple[IdentityLinks, list[dict[str, Any]]],
) -> None:
    gate, sent = links

    class Down(Reader):
        def end_offsets(self, partitions: Any, *, beginning: bool = False, **_: Any) -> Any:
            raise BrokerError("Kafka did not answer.")

    gate.publish_progress({P0: 5})
    gate._probe_or_log(Down())  # type: ignore[arg-type]
    gate.publish_progress({P0: 5})
    assert claims(sent) == {P0: None}
