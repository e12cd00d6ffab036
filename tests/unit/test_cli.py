"""The command line's process-wide set-up."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from consumer import app, cli, config


@pytest.fixture
def restore_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_run_collects_garbage_less_often(
    restore_gc: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    async def run(settings: Any) -> int:
        assert gc.get_threshold() == cli.GC_THRESHOLD
        assert gc.get_freeze_count() > 0
        return 0

    settings = SimpleNamespace(logging=config.LoggingSettings())
    monkeypatch.setattr(config, "load", lambda path: settings)
    monkeypatch.setattr(app, "run", run)
    assert gc.get_threshold() != cli.GC_THRESHOLD
    assert cli.main(["run", "--config", str(tmp_path / "config.toml")]) == 0


def test_version_prints_the_installed_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exited:
        cli.main(["--version"])
    assert exited.value.code == 0
    assert (
        capsys.readouterr().out == f"movableink-consumer {version('movableink-kafka-consumer')}\n"
    )
