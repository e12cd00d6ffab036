"""Start-up without Kafka: the status server answers at once, /readyz says why it is not ready,
and once the broker can be reached the consumer delivers, without a restart."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from devkit import processes
from devkit.harness import ConsumerProcess, produce, wait_for
from devkit.standin import StandIn, lost
from tests.pipeline import write_config


@contextmanager
def relay(port: int, target: tuple[str, int]) -> Iterator[None]:
    """Listen on `port` and pipe each connection to `target`: the broker "comes up" there.

    Only the bootstrap connection goes through it; Kafka then hands out the broker's own
    advertised address.
    """
    server = socket.create_server(("127.0.0.1", port))
    stop = threading.Event()

    def pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            sink.close()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                client, _ = server.accept()
                upstream = socket.create_connection(target)
            except TimeoutError:
                continue
            except OSError:  # closed: the relay is over
                return
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=pipe, args=(a, b), daemon=True).start()

    accepting = threading.Thread(target=accept, daemon=True)
    accepting.start()
    try:
        yield
    finally:
        stop.set()
        server.close()
        accepting.join(5)


def status(port: int, path: str) -> tuple[int, str]:
    try:
        answer = httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2)
    except httpx.HTTPError:
        return 0, ""
    return answer.status_code, answer.text


def test_start_up_without_kafka_waits_reports_and_then_delivers(
    tmp_path: Path, kafka_bootstrap: str, new_topic: object, standin: StandIn
) -> None:
    topic = new_topic(1)  # type: ignore[operator]
    bootstrap_port, metrics_port = processes.free_port(), processes.free_port()
    config = write_config(
        tmp_path / "config.toml",
        bootstrap=f"127.0.0.1:{bootstrap_port}",  # nothing listens there yet
        topic=topic,
        group=f"group-{topic}",
        url=standin.url,
        metrics_port=metrics_port,
    )
    consumer = ConsumerProcess(config, tmp_path / "consumer.log")
    try:
        wait_for(lambda: status(metrics_port, "/healthz")[0] == 200, 30, "/healthz")
        wait_for(lambda: "Kafka" in status(metrics_port, "/readyz")[1], 30, "the reason")
        code, why = status(metrics_port, "/readyz")
        assert code == 503 and "dead-letter topics" in why, why
        assert consumer.alive()
        host, _, port = kafka_bootstrap.rpartition(":")
        event = {"type": "track", "messageId": "after-start", "userId": "u", "event": "E"}
        produce(kafka_bootstrap, topic, [event])
        with relay(bootstrap_port, (host, int(port))):
            wait_for(lambda: not lost(standin.received(), ["after-start"]), 90, "delivery")
            wait_for(lambda: status(metrics_port, "/readyz")[0] == 200, 30, "ready")
        assert "could not create the dead-letter topics; trying again" in consumer.logs()
    finally:
        consumer.kill()
