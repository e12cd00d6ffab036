"""Toxiproxy between the clients and each broker: network faults switched on and off by its API.

`toxiproxy-server` is built by `deploy/tools/install-toxiproxy.sh` (`make toxiproxy`) into
`${MIK_CACHE_DIR:-.cache}/ops-tools/bin`. One proxy per broker listens on the address that broker
advertises, so every client connection to that broker (fetches, commits, the dead-letter
producer) passes through it, while the brokers replicate among themselves directly. A fault
applies to the connections already open as well as to new ones.

    proxy = Toxiproxy.start(state_dir)
    proxy.add("broker-1", listen_port, upstream_port)
    proxy.latency("broker-1", 500); proxy.clear("broker-1")
    proxy.cut("broker-1"); proxy.restore("broker-1")
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devkit import processes

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 20.0


class ToxiproxyError(RuntimeError):
    """Toxiproxy could not be found, started or driven; the message says why."""


def binary() -> Path:
    path = processes.cache_root(ROOT) / "ops-tools" / "bin" / "toxiproxy-server"
    if not path.exists():
        raise ToxiproxyError(
            f"{path} is missing: run `make toxiproxy` (it builds Toxiproxy with `go install`)."
        )
    return path


@dataclass(frozen=True)
class Toxiproxy:
    """A running toxiproxy-server and its HTTP API."""

    api: str
    state_dir: Path

    @classmethod
    def start(cls, state_dir: Path) -> Toxiproxy:
        """Start the server on a free loopback port; return once its API answers."""
        stop(state_dir)
        state_dir.mkdir(parents=True, exist_ok=True)
        port = processes.free_port()
        command = [str(binary()), "-host", "127.0.0.1", "-port", str(port)]
        log = state_dir / "toxiproxy.log"
        proc = processes.spawn(command, log, state_dir)
        proxy = cls(f"http://127.0.0.1:{port}", state_dir)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                raise ToxiproxyError(f"toxiproxy-server exited: {processes.tail(log)}")
            try:
                proxy._call("GET", "/version")
                return proxy
            except OSError:
                if time.monotonic() > deadline:
                    stop(state_dir)
                    raise ToxiproxyError(f"toxiproxy-server did not answer; see {log}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        stop(self.state_dir)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.api + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                text = answer.read()
        except urllib.error.HTTPError as exc:
            raise ToxiproxyError(f"toxiproxy {method} {path}: {exc.code} {exc.read()!r}") from exc
        return json.loads(text) if text else None

    # -- proxies -------------------------------------------------------------------------

    def add(self, name: str, listen_port: int, upstream_port: int) -> None:
        """A proxy from 127.0.0.1:`listen_port` to 127.0.0.1:`upstream_port`."""
        self._call(
            "POST",
            "/proxies",
            {
                "name": name,
                "listen": f"127.0.0.1:{listen_port}",
                "upstream": f"127.0.0.1:{upstream_port}",
                "enabled": True,
            },
        )

    def cut(self, name: str) -> None:
        """A full cut: open connections are closed and new ones refused."""
        self._call("POST", f"/proxies/{name}", {"enabled": False})

    def restore(self, name: str) -> None:
        """Undo `cut` and remove every toxic of the proxy."""
        self._call("POST", f"/proxies/{name}", {"enabled": True})
        self.clear(name)

    def _toxic(self, name: str, kind: str, **attributes: int) -> None:
        for stream in ("downstream", "upstream"):
            body = {
                "name": f"{kind}-{stream}",
                "type": kind,
                "stream": stream,
                "toxicity": 1.0,
                "attributes": attributes,
            }
            self._call("POST", f"/proxies/{name}/toxics", body)

    def latency(self, name: str, ms: int, jitter_ms: int = 0) -> None:
        """`ms` added to every chunk each way."""
        self._toxic(name, "latency", latency=ms, jitter=jitter_ms)

    def bandwidth(self, name: str, kb_per_s: int) -> None:
        """At most `kb_per_s` KB/s each way."""
        self._toxic(name, "bandwidth", rate=kb_per_s)

    def hang(self, name: str) -> None:
        """Connections stay open and accept bytes, but nothing comes through (timeout 0)."""
        self._toxic(name, "timeout", timeout=0)

    def reset_peer(self, name: str, after_ms: int = 0) -> None:
        """Connections are reset (TCP RST) `after_ms` after data arrives."""
        self._toxic(name, "reset_peer", timeout=after_ms)

    def clear(self, name: str) -> None:
        """Remove every toxic of the proxy (a cut is undone by `restore`)."""
        for toxic in self._call("GET", f"/proxies/{name}/toxics") or []:
            self._call("DELETE", f"/proxies/{name}/toxics/{toxic['name']}")

    def clear_all(self) -> None:
        for name in self._call("GET", "/proxies") or {}:
            self.restore(name)


def stop(state_dir: Path) -> None:
    processes.stop(state_dir)
