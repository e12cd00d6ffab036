"""The Segment oracle: one long-lived node process running Segment's published packages.

`tests/oracle/oracle.js` reads JSON lines and answers JSON lines; `make test` installs its
pinned packages (`npm ci` in tests/oracle). The suite fails, never skips, without them.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.differential.oracle_client import COMPARED, DIFFERENCES, ORACLE, Oracle


@pytest.fixture(scope="session")
def oracle() -> Iterator[Oracle]:
    node = shutil.which("node")
    if node is None or not (ORACLE / "node_modules" / "@segment" / "actions-core").is_dir():
        pytest.fail(
            "The differential suite needs node and Segment's packages: run `make oracle` "
            "(make test does) to install them into tests/oracle/node_modules."
        )
    process = subprocess.Popen(
        [node, str(ORACLE / "oracle.js")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        cwd=ORACLE,
    )
    try:
        yield Oracle(process)
    finally:
        assert process.stdin is not None and process.stdout is not None
        process.stdin.close()
        process.wait(timeout=10)
        process.stdout.close()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if COMPARED:
        counts = ", ".join(f"{n} {kind}" for kind, n in sorted(COMPARED.items()))
        terminalreporter.write_line(
            f"differential suite: {sum(COMPARED.values())} generated cases compared with "
            f"Segment's packages ({counts})"
        )
    if DIFFERENCES:
        met = ", ".join(f"{n} {kind}" for kind, n in sorted(DIFFERENCES.items()))
        terminalreporter.write_line(f"documented deliberate differences met: {met}")
