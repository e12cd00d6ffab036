"""The image: hadolint lints the Dockerfile, and the wheel it installs runs on its own."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import httpx

from devkit import processes
from devkit.harness import CREDENTIALS, wait_for
from tests.integration.ops import CONFIG_DIR, DEPLOY, ROOT, create_topic, run, tool
from tests.pipeline import write_config


def dockerfile_stages() -> list[list[str]]:
    """The Dockerfile's instructions (continuations joined, comments dropped), per stage."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    stages: list[list[str]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("FROM "):
            stages.append([])
        if line and not line.startswith("#") and stages:
            stages[-1].append(line)
    return stages


def test_the_dockerfile_lints_clean_and_matches_the_deployment() -> None:
    run(tool("hadolint", target="venv"), "--no-color", str(DEPLOY / "Dockerfile"))
    builder, final = dockerfile_stages()
    assert re.fullmatch(r"FROM \S+ AS builder", builder[0])
    assert not any(re.search(r"\b(apt-get|gcc|build-essential)\b", i) for i in final)
    assert "USER 10001:10001" in final
    assert "EXPOSE 9464" in final
    assert 'ENTRYPOINT ["movableink-consumer"]' in final
    assert f'CMD ["run", "--config", "{CONFIG_DIR}/config.toml"]' in final
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignored[ignored.index("*") + 1 :][:1] == ["!pyproject.toml"], "an allow-list"


def test_the_wheel_the_image_installs_runs_outside_the_source_tree(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """The builder stage's COPY set makes a wheel that, installed away from the source tree,
    runs the image's command until ready and exits 0 on SIGTERM (the Docker build itself
    cannot run here)."""
    source = tmp_path / "src"
    builder = dockerfile_stages()[0]
    for copy in (i.split()[1:-1] for i in builder if i.startswith("COPY ")):
        for name in copy:
            target = source / name
            if (ROOT / name).is_dir():
                shutil.copytree(ROOT / name, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(ROOT / name, target)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    run(
        *pip,
        "wheel",
        "--no-deps",
        "--wheel-dir",
        str(tmp_path / "wheels"),
        str(source),
        timeout=180,
    )
    (wheel,) = (tmp_path / "wheels").glob("*.whl")
    run(*pip, "install", "--no-deps", "--target", str(tmp_path / "site"), str(wheel))

    topic = create_topic(kafka_bootstrap, 1)
    config = write_config(
        tmp_path / "config.toml",
        bootstrap=kafka_bootstrap,
        topic=topic,
        group=f"ops-{uuid.uuid4().hex[:10]}",
        url="http://127.0.0.1:9/behavioral/key",
    )
    # `python -S`: the venv's dependencies, but not its editable install of the source tree.
    paths = [str(tmp_path / "site"), str(Path(httpx.__file__).parent.parent)]
    installed = f"import sys; sys.path[:0] = {paths!r}; import consumer"
    run(
        sys.executable,
        "-S",
        "-c",
        f"{installed}; assert consumer.__file__.startswith({paths[0]!r})",
    )
    env = {**os.environ, **CREDENTIALS}
    env.update(MIK__METRICS__HOST="127.0.0.1", MIK__METRICS__PORT=str(processes.free_port()))
    start = f"{installed}.cli; sys.exit(consumer.cli.main())"
    with (tmp_path / "consumer.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-S", "-c", start, "run", "--config", str(config)],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{env['MIK__METRICS__PORT']}/readyz"

        def ready() -> bool:
            assert process.poll() is None, (tmp_path / "consumer.log").read_text()
            try:
                return httpx.get(url, timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(ready, 30, "the installed consumer to be ready")
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
