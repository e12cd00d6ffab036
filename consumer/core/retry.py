"""Retry or not, and when: pure functions of the answer, the attempt count and the clock.

| answer                                            | attempt   |
|---------------------------------------------------|-----------|
| 2xx                                               | accepted  |
| 408, 423, 429, 5xx but 501, timeout, no connection | retry     |
| any other status (400, 401, 403, 404, 413, 422, 501, 3xx) | refused   |
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from consumer.core.errors import Attempt
from consumer.settings import DeliverySettings

RETRYABLE_STATUSES = frozenset({408, 423, 429})
NOT_IMPLEMENTED = 501


def classify(status: int | None) -> Attempt:
    """What one attempt's answer means; `None` means no HTTP answer (timeout, connection error)."""
    if status is None:
        return "retry"
    if 200 <= status < 300:
        return "accepted"
    if status in RETRYABLE_STATUSES or (500 <= status < 600 and status != NOT_IMPLEMENTED):
        return "retry"
    return "refused"


def parse_retry_after(value: str | None, now: datetime, cap_s: float) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or an HTTP date), at most
    `cap_s`: one answer must not hold a whole destination for hours."""
    if not value:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return min(float(text), cap_s)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return min(max(0.0, (moment - now).total_seconds()), cap_s)


def delay(
    settings: DeliverySettings, attempt: int, retry_after: float | None, rnd: random.Random
) -> float:
    """Seconds before attempt number `attempt + 1` (attempt counts from 1): exponential
    backoff with full jitter, or the server's `Retry-After` when that is longer."""
    ceiling = min(settings.backoff_cap, settings.backoff_base * 2 ** min(attempt - 1, 32))
    backoff = rnd.uniform(0.0, ceiling)
    if retry_after is not None:
        return max(backoff, min(retry_after, settings.max_retry_after))
    return backoff


def gives_up(settings: DeliverySettings, attempts: int, healthy_elapsed_s: float) -> bool:
    """Whether an event that failed `attempts` times must be dead-lettered.

    `healthy_elapsed_s` excludes time the destination was down (see `circuit`).
    """
    if settings.max_attempts and attempts >= settings.max_attempts:
        return True
    return healthy_elapsed_s >= settings.retry_window
