"""HTTP clients side by side against the stand-in: requests/s and client CPU per request.

The consumer's two transports (`delivery.http_client`: the built-in client, httpx) and a minimal
keep-alive HTTP/1.1 client on asyncio streams (a lower bound on the cost of a request). Same
~1 KB workload bodies, same concurrency, no Kafka.

    .venv/bin/python bench/http_clients.py [--seconds 10] [--concurrency 256] [--latency-ms 0]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import random
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any
from urllib.parse import urlsplit

import kit
from workload import event

from consumer.core.movableink import Request, body_bytes
from consumer.settings import DeliverySettings, HttpClient
from consumer.shell.http import open_transport
from devkit import harness

Post = Callable[[int], Awaitable[int]]
# A client under test: (url, headers, bodies, concurrency, seconds) -> (requests done, elapsed).
Client = Callable[
    [str, dict[str, str], list[object], int, float], Coroutine[Any, Any, tuple[int, float]]
]


async def _load(post: Post, concurrency: int, seconds: float) -> tuple[int, float]:
    done = 0
    deadline = time.monotonic() + seconds

    async def worker(k: int) -> None:
        nonlocal done
        i = k
        while time.monotonic() < deadline:
            status = await post(i)
            if status != 200:
                raise RuntimeError(f"the stand-in answered {status}")
            done += 1
            i += concurrency

    started = time.monotonic()
    await asyncio.gather(*(worker(k) for k in range(concurrency)))
    return done, time.monotonic() - started


def with_transport(client: HttpClient) -> Client:
    async def run(url: str, headers: dict[str, str], bodies: list[object], n: int,
                  seconds: float) -> tuple[int, float]:  # fmt: skip
        transport = open_transport(client, max_connections=n, timeout_s=DeliverySettings.timeout)
        requests = [(Request(url, headers, b), body_bytes(b)) for b in bodies]

        async def post(i: int) -> int:
            answer = await transport.post(*requests[i % len(requests)])
            return answer.status or 0

        try:
            return await _load(post, n, seconds)
        finally:
            await transport.aclose()

    return run


async def with_streams(url: str, headers: dict[str, str], bodies: list[object], n: int,
                       seconds: float) -> tuple[int, float]:  # fmt: skip
    """One keep-alive connection per worker; a bare-bones HTTP/1.1 exchange."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    head = f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items()
    )
    contents = [body_bytes(b) for b in bodies]
    pool: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    for _ in range(n):
        pool.append(await asyncio.open_connection(host, port))

    async def post(i: int) -> int:
        reader, writer = pool[i % n]
        content = contents[i % len(contents)]
        writer.write(f"{head}Content-Length: {len(content)}\r\n\r\n".encode() + content)
        status_line = await reader.readline()
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await reader.readexactly(length)
        return int(status_line.split()[1])

    try:
        return await _load(post, n, seconds)
    finally:
        for _, writer in pool:
            writer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args()
    kit.STATE.mkdir(parents=True, exist_ok=True)
    standin = kit.StandInProcess(latency_ms=args.latency_ms)
    auth = base64.b64encode(f"{harness.USERNAME}:{harness.PASSWORD}".encode()).decode()
    headers = {"Authorization": f"Basic {auth}", "Content-Type": "application/json"}
    rnd = random.Random(1)
    bodies: list[object] = [event(20_000 + i, 20_000, rnd) for i in range(2000)]
    clients: dict[str, Client] = {"consumer (builtin)": with_transport("builtin"),
               "consumer (httpx)": with_transport("httpx"),
               "asyncio streams": with_streams}  # fmt: skip
    try:
        for name, run in clients.items():
            standin.reset()
            cpu0, standin0 = kit.cpu_seconds(os.getpid()), standin.cpu_s()
            try:
                done, elapsed = asyncio.run(
                    run(standin.url, headers, bodies, args.concurrency, args.seconds)
                )
            except ImportError:
                print(f"{name:20} not installed")
                continue
            cpu = kit.cpu_seconds(os.getpid()) - cpu0
            busy = (standin.cpu_s() - standin0) / elapsed
            print(
                f"{name:20} {done / elapsed:7,.0f} requests/s  client "
                f"{cpu / max(done, 1) * 1e6:5.0f} us CPU/request ({cpu / elapsed:.0%} of a core)"
                f"  stand-in {busy:.0%}"
            )
    finally:
        standin.stop()


if __name__ == "__main__":
    main()
