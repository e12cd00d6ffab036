"""The command line: `python -m consumer explain|run|replay` (also `movableink-consumer`)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from typing import TextIO

from consumer import app, config, logs
from consumer.errors import ConfigError
from consumer.explain import explain

EXIT_CONFIG = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="movableink-consumer",
        description="Deliver Segment events from Kafka to Movable Ink, in order per person.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    ex = commands.add_parser(
        "explain",
        help="show what would happen to Segment messages given as JSON (no Kafka, no network)",
    )
    ex.add_argument("--config", required=True, help="the TOML configuration file")
    ex.add_argument(
        "events",
        nargs="*",
        default=["-"],
        help="files of JSON messages (one per line, or an object or array); - for stdin",
    )
    run = commands.add_parser("run", help="consume the topics and deliver to Movable Ink")
    run.add_argument("--config", required=True, help="the TOML configuration file")
    run.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    return parser


def _run(args: argparse.Namespace) -> int:
    settings = config.load(args.config)
    logs.setup(args.log_level)
    return asyncio.run(app.run(settings))


def _explain(args: argparse.Namespace) -> int:
    settings = config.load(args.config)
    with ExitStack() as stack:
        sources: list[TextIO] = [
            sys.stdin if name == "-" else stack.enter_context(open(name, encoding="utf-8"))
            for name in args.events
        ]
        explain(sources, settings.destinations, sys.stdout)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = {"explain": _explain, "run": _run}[args.command]
    try:
        return command(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except OSError as exc:
        print(f"error: cannot read {exc.filename}: {exc.strerror}.", file=sys.stderr)
        return EXIT_CONFIG
