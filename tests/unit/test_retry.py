from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from consumer.core.retry import classify, delay, gives_up, parse_retry_after
from consumer.settings import DeliverySettings

NOW = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "meaning"),
    [
        (200, "accepted"), (201, "accepted"), (202, "accepted"), (204, "accepted"),
        (408, "retry"), (423, "retry"), (429, "retry"),
        (500, "retry"), (502, "retry"), (503, "retry"), (504, "retry"), (599, "retry"),
        (None, "retry"),
        (501, "refused"), (400, "refused"), (401, "refused"), (403, "refused"),
        (404, "refused"), (409, "refused"), (413, "refused"), (422, "refused"),
        (301, "refused"), (302, "refused"), (100, "refused"),
    ],
)  # fmt: skip
def test_classification_table(status: int | None, meaning: str) -> None:
    assert classify(status) == meaning


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
    assert parse_retry_after(header, NOW, 300.0) == seconds


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
    assert parse_retry_after(header, NOW, 300.0) == 300.0
    assert parse_retry_after(header, NOW, cap_s=60.0) == 60.0


@pytest.mark.parametrize("header", ["Mon, 01 Jan 99999 00:00:00 GMT", "\u0661\u0662", "1e3"])
def test_retry_after_that_is_no_time_is_ignored(header: str) -> None:
    assert parse_retry_after(header, NOW, 300.0) is None


def test_backoff_is_full_jitter_under_an_exponential_cap() -> None:
    settings = DeliverySettings(backoff_base=0.5, backoff_cap=8.0)
    rnd = random.Random(1)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (5, 8.0), (40, 8.0)]:
        delays = [delay(settings, attempt, None, rnd) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8  # the whole range is used


def test_retry_after_is_honoured_but_capped() -> None:
    settings = DeliverySettings(backoff_base=0.5, backoff_cap=8.0, max_retry_after=60)
    rnd = random.Random(1)
    assert delay(settings, 1, 30.0, rnd) >= 30.0
    assert delay(settings, 1, 3600.0, rnd) == 60.0


def test_giving_up_by_window_or_attempts() -> None:
    window = DeliverySettings(retry_window=100)
    assert not gives_up(window, 1000, 99.0)
    assert gives_up(window, 1, 100.0)
    both = DeliverySettings(retry_window=100, max_attempts=3)
    assert gives_up(both, 3, 1.0)
    assert not gives_up(both, 2, 1.0)
