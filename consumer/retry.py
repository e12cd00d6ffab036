"""Retry or not, and when: pure functions of the answer, the attempt count and the clock.

| answer                                            | outcome   |
|---------------------------------------------------|-----------|
| 2xx                                               | delivered |
| 408, 423, 429, 5xx but 501, timeout, no connection | retry     |
| any other status (400, 401, 403, 404, 413, 422, 501, 3xx) | permanent |
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Literal

Classification = Literal["delivered", "retry", "permanent"]  # of one attempt
RETRYABLE_STATUSES = frozenset({408, 423, 429})
NOT_IMPLEMENTED = 501


def classify(status: int | None) -> Classification:
    """The outcome of one attempt; `None` means no HTTP answer (timeout, connection error)."""
    if status is None:
        return "retry"
    if 200 <= status < 300:
        return "delivered"
    if status in RETRYABLE_STATUSES or (500 <= status < 600 and status != NOT_IMPLEMENTED):
        return "retry"
    return "permanent"


MAX_RETRY_AFTER_S = 300.0


def parse_retry_after(
    value: str | None, now: datetime, cap_s: float = MAX_RETRY_AFTER_S
) -> float | None:
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


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, bounded by a window and an attempt count."""

    base_s: float = 0.5
    cap_s: float = 60.0
    window_s: float = 4 * 3600.0
    max_attempts: int = 0  # 0: no limit but the window
    max_retry_after_s: float = MAX_RETRY_AFTER_S

    def delay(self, attempt: int, retry_after: float | None, rnd: random.Random) -> float:
        """Seconds before attempt number `attempt + 1` (attempt counts from 1)."""
        ceiling = min(self.cap_s, self.base_s * 2 ** min(attempt - 1, 32))
        backoff = rnd.uniform(0.0, ceiling)
        if retry_after is not None:
            return max(backoff, min(retry_after, self.max_retry_after_s))
        return backoff

    def gives_up(self, attempts: int, healthy_elapsed_s: float) -> bool:
        """Whether an event that failed `attempts` times must be dead-lettered.

        `healthy_elapsed_s` excludes time the destination was down (see `circuit`).
        """
        if self.max_attempts and attempts >= self.max_attempts:
            return True
        return healthy_elapsed_s >= self.window_s
