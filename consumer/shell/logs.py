"""Logs: one JSON object per line, or one text line for a person at a terminal.

Call sites pass `messageId` and other context through `extra`, never the event itself at info
level. Nothing here knows a secret; secrets never reach a log call in the first place. An error
record keeps its traceback (the `traceback` field, or the lines after a text record), and
librdkafka's own lines come through here too (consumer/kafka.py hands it the `librdkafka`
logger), so a process writes nothing else to standard error.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from consumer.settings import LogFormat

_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def _extra(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


def _stamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": _stamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            **_extra(record),
        }
        if record.exc_info and record.exc_info[0] is not None:
            line["exception"] = record.exc_info[0].__name__
            line["detail"] = str(record.exc_info[1])
            line["traceback"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """`time LEVEL logger: message key=value ...`, then the traceback, if any."""

    def format(self, record: logging.LogRecord) -> str:
        fields = "".join(f" {k}={v}" for k, v in _extra(record).items())
        line = (
            f"{_stamp(record)} {record.levelname:<7} {record.name}: {record.getMessage()}{fields}"
        )
        if record.exc_info and record.exc_info[0] is not None:
            line += "\n" + self.formatException(record.exc_info)
        return line


class RepeatFilter(logging.Filter):
    """Pass a message once per `window_s`; the next one passed says how many were dropped.

    librdkafka retries an unreachable broker every few tens of milliseconds and logs each try
    (many identical lines a second). Messages differing only in numbers count as one.
    """

    MAX_KEYS = 1000

    def __init__(self, window_s: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.window_s = window_s
        self._clock = clock
        self._seen: dict[str, tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        text = f"{record.levelno} {record.getMessage()} {_extra(record)}"
        key = re.sub(r"\d+", "#", text)
        now = self._clock()
        since, dropped = self._seen.get(key, (-self.window_s, 0))
        if now - since < self.window_s:
            self._seen[key] = (since, dropped + 1)
            return False
        if len(self._seen) >= self.MAX_KEYS:
            self._seen.clear()
        self._seen[key] = (now, 0)
        if dropped:
            record.repeated = dropped
        return True


def setup(level: str = "INFO", log_format: LogFormat = "auto") -> None:
    """Send every log record to stderr: text on a terminal for "auto", JSON lines otherwise."""
    text = log_format == "text" or (log_format == "auto" and sys.stderr.isatty())
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(TextFormatter() if text else JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
