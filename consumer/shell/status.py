"""The status server: `/metrics` (Prometheus), `/healthz` (alive) and `/readyz` (ready).

A small threaded HTTP server of the standard library: it must answer while the delivery loop is
busy, so it runs on its own thread and reads only thread-safe state.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

STALL_S = 60.0  # a loop that has not turned for this long is not alive


@dataclass
class Health:
    """Heartbeats and flags the shell updates; read by the status server's thread."""

    kafka_beat: float = field(default_factory=time.monotonic)
    loop_beat: float = field(default_factory=time.monotonic)
    joined: bool = False  # the group assigned us partitions (possibly none) at least once
    broker_reachable: bool = False
    draining: bool = False
    starting: str | None = None  # while start-up is not done: what it is waiting for
    # More reasons not to be ready, each asked at every probe (None: no objection).
    checks: list[Callable[[], str | None]] = field(default_factory=list)

    def alive(self, now: float | None = None) -> tuple[bool, str]:
        now = time.monotonic() if now is None else now
        if now - self.kafka_beat > STALL_S:
            return False, f"the Kafka loop has not turned for {now - self.kafka_beat:.0f} s"
        if now - self.loop_beat > STALL_S:
            return False, f"the delivery loop has not turned for {now - self.loop_beat:.0f} s"
        return True, "ok"

    def ready(self, now: float | None = None) -> tuple[bool, str]:
        alive, why = self.alive(now)
        if not alive:
            return False, why
        if self.draining:
            return False, "draining for shutdown"
        if self.starting is not None:
            return False, self.starting
        if not self.broker_reachable:
            return False, "the Kafka broker is not reachable"
        if not self.joined:
            return False, "not yet a member of the consumer group"
        for check in self.checks:
            problem = check()
            if problem is not None:
                return False, problem
        return True, "ok"


def serve(host: str, port: int, registry: CollectorRegistry, health: Health) -> ThreadingHTTPServer:
    """Start the status server on a daemon thread; `server_address` has the bound port."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._answer(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            elif path in ("/healthz", "/readyz"):
                ok, why = health.alive() if path == "/healthz" else health.ready()
                self._answer(200 if ok else 503, (why + "\n").encode(), "text/plain")
            else:
                self._answer(404, b"not found\n", "text/plain")

        def _answer(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Scrapes are not news: no access log."""

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="status", daemon=True).start()
    return server
