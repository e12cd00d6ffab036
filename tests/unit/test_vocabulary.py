"""One vocabulary for how a record ends: the sender's results, the decision's rejections and
the dead letters all speak the reason codes of `errors`."""

from __future__ import annotations

from typing import get_args

from consumer.core import errors
from consumer.core.decision import decide_message
from consumer.core.errors import (
    HTTP_REJECTED,
    INTERNAL_ERROR,
    MAPPING_UNENCODABLE,
    RETRIES_EXHAUSTED,
    Attempt,
    class_for,
)
from consumer.core.mapping import compile_mapping
from consumer.core.movableink import Destination, Secret, Subscription
from consumer.core.retry import classify
from consumer.core.triggers import parse
from consumer.shell.delivery.sender import Result
from consumer.shell.http.transport import Answer


def test_every_reason_code_names_its_dead_letters_exception_class() -> None:
    expected = {
        "HTTP_REJECTED": errors.DeliveryRejected,
        "RETRIES_EXHAUSTED": errors.RetriesExhausted,
        "ORDERING_HELD": errors.HeldBack,
        "MESSAGE_INVALID": errors.InvalidMessage,
        "MAPPING_UNENCODABLE": errors.InvalidEvent,
        "TOO_OLD": errors.InvalidEvent,
        "INTERNAL_ERROR": errors.Rejected,
    }
    for name, named in expected.items():
        assert class_for(getattr(errors, name)) is named, name


def test_a_results_reason_is_its_dead_letters() -> None:
    answers = {
        None: Answer(200),
        HTTP_REJECTED: Answer(400),
        RETRIES_EXHAUSTED: Answer(503),
        INTERNAL_ERROR: Answer(None, error="internal", detail="KeyError: 'x'"),
    }
    for reason, answer in answers.items():
        result = Result(reason, answer, 1, 0.0, 1.0)
        failure = result.failure("m1", "mi", "m")
        assert result.accepted == (reason is None)
        assert (failure and failure.reason) == reason


def test_an_attempt_is_one_of_the_attempt_words() -> None:
    assert {classify(s) for s in (200, 400, 503, None)} == set(get_args(Attempt))


def test_a_rejected_mapping_is_the_failure_its_dead_letter_carries() -> None:
    bad = Subscription("bad", parse('type = "track"'), compile_mapping({"n": {"@path": "$.n"}}))
    destination = Destination("mi", "http://127.0.0.1:1/b/k", "u", Secret("p"), (bad,))
    message = {"type": "track", "userId": "u1", "messageId": "m1", "n": float("nan")}
    (verdict,) = decide_message(message, (destination,)).verdicts
    (failure,) = verdict.rejected
    assert (failure.reason, failure.message_id, failure.destination, failure.mapping) == (
        MAPPING_UNENCODABLE,
        "m1",
        "mi",
        "bad",
    )
