from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from consumer.retry import RetryPolicy, classify, parse_retry_after

NOW = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, "delivered"), (201, "delivered"), (202, "delivered"), (204, "delivered"),
        (408, "retry"), (423, "retry"), (429, "retry"),
        (500, "retry"), (502, "retry"), (503, "retry"), (504, "retry"), (599, "retry"),
        (None, "retry"),
        (501, "permanent"), (400, "permanent"), (401, "permanent"), (403, "permanent"),
        (404, "permanent"), (409, "permanent"), (413, "permanent"), (422, "permanent"),
        (301, "permanent"), (302, "permanent"), (100, "permanent"),
    ],
)  # fmt: skip
def test_classification_table(status: int | None, outcome: str) -> None:
    assert classify(status) == outcome


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("7", 7.0),
        (" 0 ", 0.0),
        ("Tue, 24 Nov 2026 12:00:30 GMT", 30.0),
        ("Tue, 24 Nov 2026 11:59:00 GMT", 0.0),
        (None, None),
        ("", None),
        ("soon", None),
        ("-3", None),
    ],
)
def test_retry_after_seconds_or_http_date(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, NOW) == seconds


@pytest.mark.parametrize(
    "header",
    [
        "400",
        "99999999999999999999",
        "Wed, 25 Nov 2026 12:00:00 GMT",
        "Fri, 01 Jan 2100 00:00:00 GMT",
    ],
)
def test_retry_after_never_asks_for_more_than_the_cap(header: str) -> None:
    """One answer must not hold a whole destination for hours: seconds and dates are capped."""
    assert parse_retry_after(header, NOW) == 300.0
    assert parse_retry_after(header, NOW, cap_s=60.0) == 60.0


@pytest.mark.parametrize("header", ["Mon, 01 Jan 99999 00:00:00 GMT", "\u0661\u0662", "1e3"])
def test_retry_after_that_is_no_time_is_ignored(header: str) -> None:
    assert parse_retry_after(header, NOW) is None


def test_backoff_is_full_jitter_under_an_exponential_cap() -> None:
    policy = RetryPolicy(base_s=0.5, cap_s=8.0)
    rnd = random.Random(1)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (5, 8.0), (40, 8.0)]:
        delays = [policy.delay(attempt, None, rnd) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8  # the whole range is used


def test_retry_after_is_honoured_but_capped() -> None:
    policy = RetryPolicy(base_s=0.5, cap_s=8.0, max_retry_after_s=60)
    rnd = random.Random(1)
    assert policy.delay(1, 30.0, rnd) >= 30.0
    assert policy.delay(1, 3600.0, rnd) == 60.0


def test_giving_up_by_window_or_attempts() -> None:
    assert not RetryPolicy(window_s=100).gives_up(1000, 99.0)
    assert RetryPolicy(window_s=100).gives_up(1, 100.0)
    assert RetryPolicy(window_s=100, max_attempts=3).gives_up(3, 1.0)
    assert not RetryPolicy(window_s=100, max_attempts=3).gives_up(2, 1.0)
