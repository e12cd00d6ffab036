"""A client for the Segment oracle, and the counts the differential suite reports."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

ORACLE = Path(__file__).resolve().parent.parent / "oracle"
COMPARED: Counter[str] = Counter()  # generated cases compared with Segment, per kind
DIFFERENCES: Counter[str] = Counter()  # documented deliberate differences met, per kind


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
