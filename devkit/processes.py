"""Background Java servers of the local set-up (broker, registry): start, find, stop by PID.

Children started by this process are kept here, so `stop` can reap them and Python does not
warn about a live child whose `Popen` was collected.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

STOP_TIMEOUT_S = 30.0
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def pom_property(pom: Path, name: str) -> str | None:
    """A `<properties>` value of a Maven POM (the pinned version of a local server)."""
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    node = ET.parse(pom).getroot().find(f"m:properties/m:{name}", ns)
    return node.text.strip() if node is not None and node.text else None


def cache_root(root: Path) -> Path:
    """Where fetched servers are kept: `MIK_CACHE_DIR`, else the git-ignored `.cache/`."""
    return Path(os.environ.get("MIK_CACHE_DIR", root / ".cache"))


def require(
    tool: str, *, subject: str, why: str, instead: str, error: Callable[[str], Exception]
) -> str:
    """The path of `tool`, or `error` with one sentence: what needs it, why, the way out."""
    path = shutil.which(tool)
    if path is None:
        raise error(f"{subject} needs `{tool}` on PATH ({why}); install it, or {instead}.")
    return path


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def spawn(command: list[str], log: Path, state_dir: Path) -> subprocess.Popen[bytes]:
    """Start a server in its own session, output to `log`, PID in `state_dir/pid`."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command,
            cwd=state_dir,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    _CHILDREN[proc.pid] = proc
    (state_dir / "pid").write_text(str(proc.pid))
    return proc


def alive(pid: int) -> bool:
    child = _CHILDREN.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def stop(state_dir: Path, *also_remove: str) -> None:
    """Stop the server whose PID is in `state_dir/pid`: SIGTERM, then SIGKILL."""
    pid_file = state_dir / "pid"
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text())
    if alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
            while alive(pid):
                time.sleep(0.05)
    _CHILDREN.pop(pid, None)
    pid_file.unlink()
    for name in also_remove:
        (state_dir / name).unlink(missing_ok=True)


def tail(log: Path, lines: int = 3) -> str:
    """The last lines of a log, joined for a one-line error message."""
    try:
        return " | ".join(log.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "(no log)"


def cli(
    argv: list[str] | None,
    *,
    doc: str | None,
    default_state_dir: Path,
    fetch: Callable[[], Path],
    start: Callable[[Path], Any],
    stop: Callable[[Path], None],
    address: Callable[[Any], str],
    ready: Callable[[Any, float], str],
    error: type[Exception],
) -> int:
    """`fetch | up | down [--state-dir]` for a local server; errors as one line, exit 1."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    parser.add_argument("command", choices=["fetch", "up", "down"])
    parser.add_argument("--state-dir", type=Path, default=default_state_dir)
    args = parser.parse_args(argv)
    try:
        if args.command == "fetch":
            print(fetch())
        elif args.command == "up":
            started = time.monotonic()
            server = start(args.state_dir)
            print(address(server), flush=True)
            print(ready(server, time.monotonic() - started), file=sys.stderr)
        else:
            stop(args.state_dir)
    except error as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
