"""A client for the Segment oracle, and the counts the differential suite reports."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from consumer.core.movableink import body_bytes

ORACLE = Path(__file__).resolve().parent.parent / "oracle"
COMPARED: Counter[str] = Counter()  # generated cases compared with Segment, per kind
DIFFERENCES: Counter[str] = Counter()  # documented deliberate differences met, per kind
SEGMENT_USER_AGENT = "Segment (Actions)"


class Oracle:
    """Ask Segment's code: one request line out, one answer line back."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self._process = process

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(json.dumps(request) + "\n")
        self._process.stdin.flush()
        line = self._process.stdout.readline()
        if not line:
            pytest.fail("the Segment oracle (node tests/oracle/oracle.js) stopped")
        answer: dict[str, Any] = json.loads(line)
        if "fatal" in answer:
            pytest.fail(f"the Segment oracle failed on a request: {answer['fatal']}")
        return answer


def assert_same_request(request: Any, sent: dict[str, Any]) -> None:
    """Our `request` is the one Segment's action sent (`sent`, as the oracle answers it): the
    same URL, method, body and headers, but for the documented differences."""
    assert sent["url"].partition("#")[0] == request.url  # fetch never sends a fragment
    assert sent["method"] == "POST"
    if request.body is None:
        assert sent["body"] is None
    else:
        assert json.loads(sent["body"]) == json.loads(body_bytes(request.body))
    headers = dict(sent["headers"])
    if headers.get("user-agent") == SEGMENT_USER_AGENT:
        del headers["user-agent"]  # ours is the HTTP client's (documented)
    if request.body is None and "content-type" in headers:
        del headers["content-type"]  # Segment keeps a mapped one without a body
        DIFFERENCES["mapped Content-Type without a body, dropped"] += 1
    assert {k.lower(): v for k, v in request.headers.items()} == headers
