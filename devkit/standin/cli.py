"""Run the stand-in in its own process until SIGTERM or SIGINT.

Line 1 on stdout is the endpoint URL (`http://127.0.0.1:PORT/behavioral/demo-key`), line 2 the
control API base (`http://127.0.0.1:CPORT/_standin`), which stays up while the endpoint is down.
Further faults are set over the control API.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import sys
from collections.abc import Sequence

from .contract import DEFAULT_PREFIX, MAX_BATCH_EVENTS, MAX_BODY_BYTES, Contract
from .faults import FaultPlan, Faults
from .recording import Recorder
from .server import Server

FREEZE_EVERY_S = 1.0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="standin", description="A loopback stand-in for Movable Ink's behavioral API."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--control-port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--username", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--prefix", default=DEFAULT_PREFIX, help="path before the API key")
    parser.add_argument(
        "--key",
        action="append",
        dest="keys",
        help="accepted API key, repeatable; the first is in the printed URL (default: any key)",
    )
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--jitter-ms", type=float, default=0.0)
    parser.add_argument("--max-body-bytes", type=int, default=MAX_BODY_BYTES)
    parser.add_argument("--max-batch-events", type=int, default=MAX_BATCH_EVENTS)
    parser.add_argument("--log-level", default="WARNING")
    return parser.parse_args(argv)


async def _freeze_what_was_recorded() -> None:
    """Every second, move what the process holds (mostly the recorded events, kept until a
    reset) out of the cyclic collector's sight. Unfrozen, its full collections walked every
    event recorded so far: pauses of up to a second in `make bench` runs, which answered
    every request in them that much later, and which the latency figure then counted as the
    consumer's. Recorded events hold no cycles: a reset frees them."""
    while True:
        await asyncio.sleep(FREEZE_EVERY_S)
        gc.freeze()


async def serve(server: Server) -> None:
    freezer = asyncio.create_task(_freeze_what_was_recorded())
    await server.start()
    print(server.url, flush=True)
    print(server.control_url, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        freezer.cancel()
        await server.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    try:
        contract = Contract(
            args.username,
            args.password,
            args.prefix,
            None if args.keys is None else tuple(args.keys),
            args.max_body_bytes,
            args.max_batch_events,
        )
        faults = Faults(latency_ms=args.latency_ms, jitter_ms=args.jitter_ms)
        server = Server(
            contract,
            Recorder(),
            FaultPlan(faults),
            host=args.host,
            port=args.port,
            control_port=args.control_port,
        )
        asyncio.run(serve(server))
    except (ValueError, OSError) as exc:
        print(f"standin: {exc}", file=sys.stderr)
        return 1
    return 0
