"""Measure the stand-in the way the benchmarks load it: httpx.AsyncClient, N concurrent
keep-alive requests, the stand-in in its own process. Prints requests/s and how busy the
stand-in was, which shows whether it or the client is the bottleneck.

    python -m devkit.standin.loadtest [--concurrency 200] [--seconds 5]
        [--latency-ms 0] [--clients 1]

`--clients K` spreads the concurrency over K clients: httpcore 1.0's pool scans every
connection for every request, so one client with hundreds of connections is the bottleneck.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

_AUTH = ("load", "secret")


async def _load(url: str, concurrency: int, seconds: float, clients: int) -> int:
    per_client = -(-concurrency // clients)
    limits = httpx.Limits(max_connections=per_client, max_keepalive_connections=per_client)
    pool = [httpx.AsyncClient(limits=limits, auth=_AUTH, timeout=30) for _ in range(clients)]
    deadline = time.monotonic() + seconds
    done = 0

    async def worker(worker_id: int) -> None:
        nonlocal done
        client = pool[worker_id % clients]
        while time.monotonic() < deadline:
            event = {"type": "track", "userId": f"u{worker_id}", "messageId": f"{done}"}
            response = await client.post(url, json=event)
            response.raise_for_status()
            done += 1

    try:
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
    finally:
        for client in pool:
            await client.aclose()
    return done


def _cpu_s(pid: int) -> float | None:
    """User plus system CPU seconds of a process so far (Linux /proc; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(prog="devkit.standin.loadtest")
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--clients", type=int, default=1)
    args = parser.parse_args()
    command = [
        sys.executable,
        "-m",
        "devkit.standin",
        "--username",
        _AUTH[0],
        "--password",
        _AUTH[1],
    ]
    command += ["--latency-ms", str(args.latency_ms)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as server:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        cpu_before = _cpu_s(server.pid)
        started = time.monotonic()
        done = asyncio.run(_load(url, args.concurrency, args.seconds, args.clients))
        elapsed = time.monotonic() - started
        cpu_after = _cpu_s(server.pid)
        server.terminate()
    print(
        f"{done} requests in {elapsed:.1f} s = {done / elapsed:.0f} requests/s "
        f"({args.concurrency} concurrent over {args.clients} client(s), "
        f"latency {args.latency_ms:g} ms)"
    )
    if cpu_before is not None and cpu_after is not None and done:
        cpu_s = cpu_after - cpu_before
        print(
            f"stand-in busy {cpu_s / elapsed:.0%} of one core, "
            f"{cpu_s / done * 1e6:.0f} us CPU per request"
        )


if __name__ == "__main__":
    main()
