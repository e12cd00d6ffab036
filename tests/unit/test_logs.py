"""Log lines: one JSON object or one text line each, tracebacks kept, librdkafka included."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from consumer.settings import LogFormat
from consumer.shell import logs

ROOT = Path(__file__).resolve().parents[2]


def record(exc: bool = False) -> logging.LogRecord:
    info = None
    if exc:
        try:
            raise ValueError("bad value")
        except ValueError:
            info = sys.exc_info()
    made = logging.LogRecord("consumer.x", logging.ERROR, __file__, 1, "failed %s", ("m-1",), info)
    made.messageId = "m-1"
    return made


def test_a_json_error_record_keeps_its_traceback() -> None:
    line = json.loads(logs.JsonFormatter().format(record(exc=True)))
    assert line["msg"] == "failed m-1" and line["messageId"] == "m-1"
    assert line["exception"] == "ValueError" and line["detail"] == "bad value"
    assert line["traceback"].startswith("Traceback (most recent call last):")
    assert line["traceback"].endswith("ValueError: bad value")


def test_a_text_record_is_one_line_then_its_traceback() -> None:
    first, *rest = logs.TextFormatter().format(record(exc=True)).splitlines()
    assert first.endswith(" ERROR   consumer.x: failed m-1 messageId=m-1")
    assert rest[0] == "Traceback (most recent call last):" and rest[-1] == "ValueError: bad value"
    assert "\n" not in logs.TextFormatter().format(record())


@pytest.mark.parametrize(
    ("fmt", "tty", "formatter"),
    [
        ("auto", False, logs.JsonFormatter),
        ("auto", True, logs.TextFormatter),
        ("json", True, logs.JsonFormatter),
        ("text", False, logs.TextFormatter),
    ],
)
def test_the_format_is_text_on_a_terminal_unless_chosen(
    monkeypatch: pytest.MonkeyPatch, fmt: LogFormat, tty: bool, formatter: type
) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: tty)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logs.setup("debug", fmt)
        (handler,) = root.handlers
        assert type(handler.formatter) is formatter
        assert root.level == logging.DEBUG
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])


def test_a_repeated_message_passes_once_per_window_then_says_how_many_were_dropped() -> None:
    now = [0.0]
    repeats = logs.RepeatFilter(window_s=30, clock=lambda: now[0])

    def passes(msg: str) -> bool:
        return repeats.filter(logging.LogRecord("librdkafka", 40, "", 0, msg, (), None))

    assert passes("Connect failed (after 0ms)")
    assert not passes("Connect failed (after 4ms)")  # numbers aside, the same message
    assert passes("1/1 brokers are down")
    now[0] = 31.0
    again = logging.LogRecord("librdkafka", 40, "", 0, "Connect failed (after 9ms)", (), None)
    assert repeats.filter(again) and vars(again)["repeated"] == 1


def test_librdkafka_lines_come_out_as_json_like_every_other(tmp_path: Path) -> None:
    """An unreachable broker: librdkafka's connection failures, in the process's format only."""
    config = tmp_path / "config.toml"
    config.write_text(
        '[kafka]\nbootstrap_servers = "127.0.0.1:9"\ntopics = ["t"]\n'
        "create_dead_letter_topic = false\n[metrics]\nport = -1\n"
        '[[destinations]]\nname = "mi"\nmovable_ink_url = "http://127.0.0.1:9/behavioral/k"\n'
        'username = "u"\npassword = "p"\n'
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "consumer", "run", "--config", str(config)],
        cwd=ROOT,
        env={**os.environ, "MIK__LOGGING__LEVEL": "INFO"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(4)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=30)
    lines = [json.loads(line) for line in err.splitlines()]  # every line is one JSON object
    failures = [line for line in lines if line["logger"] == "librdkafka"]
    assert failures and all("Connection refused" in line["msg"] for line in failures)
    assert len(lines) < 20, "repeated librdkafka lines are counted, not written again"
