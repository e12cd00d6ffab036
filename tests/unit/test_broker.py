"""The local broker's failure modes give one clear sentence, not a hang."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_missing_java_or_maven_is_one_sentence(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "devkit.broker", "up", "--state-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": str(tmp_path), "MIK_CACHE_DIR": str(tmp_path / "cache")},
        check=False,
    )
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: The local Kafka broker needs `mvn` on PATH")
    assert "KAFKA_BOOTSTRAP_SERVERS" in line


def test_down_without_a_broker_is_quiet(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "devkit.broker",
            "down",
            "--state-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_the_cluster_id_never_begins_with_a_dash() -> None:
    """StorageTool reads `-t -abc...` as an option: draw again, as Kafka's own generator does."""
    from devkit import broker

    dash = bytes([0xF8]) + bytes(15)  # URL-safe base64 of 0b111110.. begins with '-'
    draws = iter([dash, dash, bytes(range(16))])
    assert broker._cluster_id(lambda: next(draws)) == "AAECAwQFBgcICQoLDA0ODw"
    assert not any(broker._cluster_id().startswith("-") for _ in range(2000))
