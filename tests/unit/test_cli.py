"""The command line's process-wide set-up."""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from consumer import cli, config
from consumer.commands import run as app
from consumer.settings import DeliverySettings, LoggingSettings


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

    settings = SimpleNamespace(logging=LoggingSettings())
    monkeypatch.setattr(config, "load", lambda path: settings)
    monkeypatch.setattr(app, "run", run)
    assert gc.get_threshold() != cli.GC_THRESHOLD
    assert cli.main(["run", "--config", str(tmp_path / "config.toml")]) == 0


def test_a_full_buffer_of_records_makes_no_collection_run(restore_gc: None) -> None:
    """The consumer's live objects are its buffered records: allocating a full default buffer
    of them (~17 containers each) must not set the cyclic collector walking them."""
    cli.tune_gc()
    runs: list[str] = []
    gc.callbacks.append(lambda phase, info: runs.append(phase))
    try:
        gc.collect()
        runs.clear()
        buffered = [[[n] for _ in range(16)] for n in range(DeliverySettings().max_buffered)]
        assert runs == [] and len(buffered) == DeliverySettings().max_buffered
    finally:
        gc.callbacks.pop()


def test_run_delivers_on_uvloop_handing_the_gil_over_often(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    loops: list[str] = []
    monkeypatch.setattr(sys, "setswitchinterval", lambda s: loops.append(f"switch {s}"))

    async def run(settings: Any) -> int:
        loops.append(type(asyncio.get_running_loop()).__module__)
        return 0

    settings = SimpleNamespace(logging=LoggingSettings())
    monkeypatch.setattr(config, "load", lambda path: settings)
    monkeypatch.setattr(app, "run", run)
    monkeypatch.setattr(cli, "tune_gc", lambda: None)
    assert cli.main(["run", "--config", str(tmp_path / "config.toml")]) == 0
    assert loops == [f"switch {cli.SWITCH_INTERVAL_S}", "uvloop"]


def _cli(tmp_path: Path, *args: str, config_text: str = "") -> subprocess.CompletedProcess[str]:
    path = tmp_path / "config.toml"
    path.write_text(config_text or CONFIG)
    env = {**os.environ, "MI_PASSWORD": "s3cret-value"}
    return subprocess.run(
        [sys.executable, "-m", "consumer", *args, "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


CONFIG = """
[kafka]
bootstrap_servers = "127.0.0.1:1"
topics = ["t"]
[metrics]
port = -1
[[destinations]]
name = "mi"
movable_ink_url = "https://collector.example/behavioral/KEY123"
username = "u"
password = "${MI_PASSWORD}"
"""


@pytest.mark.parametrize(
    ("args", "config_text", "names"),
    [
        (("run", "--log-level", "FOO"), "", "--log-level"),
        (("replay", "--topic", "t", "--log-level", "loud"), "", "--log-level"),
        (("run",), CONFIG + '[kafka.properties]\n"no.such.property" = 1\n', "no.such.property"),
        (
            ("run",),
            CONFIG + '[kafka.properties]\n"sasl.password" = "hunter2"\n"linger.ms" = "soon"\n',
            "linger.ms",
        ),
    ],
)
def test_mistakes_exit_2_with_one_line_naming_the_setting(
    tmp_path: Path, args: tuple[str, ...], config_text: str, names: str
) -> None:
    done = _cli(tmp_path, *args, config_text=config_text)
    assert done.returncode == cli.EXIT_CONFIG, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and names in lines[0], lines
    assert "s3cret-value" not in done.stderr and "hunter2" not in done.stderr


def test_schema_registry_settings_the_client_refuses_exit_2_without_secrets(
    tmp_path: Path,
) -> None:
    text = CONFIG + (
        '[schema_registry]\nurl = "http://reg.example:8081"\n'
        '[schema_registry.properties]\n"basic.auth.user.info" = 12345678\n'
    )
    done = _cli(tmp_path, "run", config_text=text)
    assert done.returncode == cli.EXIT_CONFIG, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert "schema_registry" in line and "12345678" not in line


def test_version_prints_the_installed_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exited:
        cli.main(["--version"])
    assert exited.value.code == 0
    assert (
        capsys.readouterr().out == f"movableink-consumer {version('movableink-kafka-consumer')}\n"
    )
