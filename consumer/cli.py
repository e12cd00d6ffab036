"""The command line: `python -m consumer explain|run|replay|check-topic|import-segment` (also
`movableink-consumer`)."""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from contextlib import ExitStack
from typing import Any, NoReturn, TextIO, TypeVar

from consumer import __version__, config
from consumer.commands import check_topic, import_segment, replay, run
from consumer.commands.explain import explain
from consumer.core.errors import ConfigError
from consumer.settings import LOG_LEVELS
from consumer.shell import logs

EXIT_CONFIG = 2
GC_THRESHOLD = (500_000, 20, 20)
SWITCH_INTERVAL_S = 0.0005
T = TypeVar("T")


def tune_gc() -> None:
    """Cyclic garbage collections only every 500,000 net allocations, not every 700.

    What the consumer allocates per event (records, requests, futures) is freed by reference
    counting and makes no cycles; the cyclic collector still walked every young object that
    was alive, and a consumer's live objects are its buffered records (many containers each, up
    to `max_buffered`), so every refill of the buffer meant collections that found nothing.
    Start-up objects (config, schemas, compiled triggers) are frozen out of every collection.
    The figures behind the threshold are in bench/README.md.
    """
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)


def tune_threads() -> None:
    """Hand the GIL over every 0.5 ms instead of Python's 5 ms.

    The Kafka thread decides records (CPU only); the delivery loop's thread gives the GIL up at
    every socket call and then waits for it. With the default switch interval, a Kafka thread
    deciding a burst of records (after intake resumes) held the loop to about one step per
    interval: a healthy destination beside a down one delivered in waves, and the latency tail
    grew (bench/README.md has the figures)."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop where it is installed (a dependency on Linux and macOS), else
    asyncio's own. The delivery loop's own work (callbacks, socket reads and writes, timers)
    is a large share of each event's CPU; uvloop does it in C."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run_loop(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run`, on the loop `loop_factory` gives."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)


class _Parser(argparse.ArgumentParser):
    """argparse, with a mistake reported as one line (and exit 2), like configuration errors."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_CONFIG, f"error: {self.prog}: {message} (see --help).\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="movableink-consumer",
        description="Deliver Segment events from Kafka to Movable Ink, in order per person.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
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
    live = commands.add_parser("run", help="consume the topics and deliver to Movable Ink")
    live.add_argument("--config", required=True, help="the TOML configuration file")
    live.add_argument("--log-level", help="DEBUG, INFO (default), WARNING or ERROR")
    rp = commands.add_parser(
        "replay", help="reprocess a range of a topic (input, dead letters, archive), in order"
    )
    rp.add_argument("--config", required=True, help="the TOML configuration file")
    rp.add_argument("--topic", required=True, help="the topic to read")
    rp.add_argument("--since", help="start time: ISO-8601 with zone, or epoch ms")
    rp.add_argument("--until", help="end time (exclusive); default: the end at start")
    rp.add_argument("--start-offsets", help="start offsets per partition: 0:120,1:98")
    rp.add_argument("--end-offsets", help="end offsets (exclusive) per partition")
    rp.add_argument("--filter", help="a trigger on top of the destinations' mappings")
    rp.add_argument("--to-topic", help="re-publish the records to this topic instead")
    rp.add_argument("--dry-run", action="store_true", help="print what would be delivered")
    rp.add_argument(
        "--progress-every",
        type=float,
        default=replay.PROGRESS_LOG_EVERY_S,
        help="seconds between progress log lines when stderr is not a terminal (default 10)",
    )
    rp.add_argument("--log-level", help="DEBUG, INFO, WARNING (default) or ERROR")
    ct = commands.add_parser(
        "check-topic",
        help="report a topic's keying, people spread over partitions and producers' partitioners",
    )
    ct.add_argument("--config", required=True, help="the TOML configuration file")
    ct.add_argument("--topic", required=True, help="the topic to check")
    ct.add_argument(
        "--sample",
        type=int,
        default=check_topic.DEFAULT_SAMPLE,
        help="records per partition, read back from its end; 0: all (default 10000)",
    )
    import_segment.add_arguments(
        commands.add_parser(
            "import-segment",
            help="write the TOML of a Movable Ink (Actions) destination set up in Segment",
        )
    )
    return parser


def _logs(args: argparse.Namespace, settings: config.Settings, default: str) -> None:
    """The level: --log-level, else [logging] level (or MIK__LOGGING__LEVEL), else `default`."""
    level = args.log_level or settings.logging.level or default
    if level.upper() not in LOG_LEVELS:
        raise ConfigError(f"--log-level must be one of {', '.join(LOG_LEVELS)}, not {level!r}.")
    logs.setup(level, settings.logging.format)


def _offsets(text: str | None, what: str) -> dict[int, int] | None:
    return None if text is None else replay.parse_offsets(text, what)


def _replay(args: argparse.Namespace) -> int:
    settings = config.load(args.config)
    if not args.progress_every > 0:
        raise ConfigError("--progress-every must be a number of seconds above 0.")
    request = replay.ReplayRequest(
        topic=args.topic,
        since_ms=None if args.since is None else replay.parse_time(args.since, "--since"),
        until_ms=None if args.until is None else replay.parse_time(args.until, "--until"),
        start_offsets=_offsets(args.start_offsets, "--start-offsets"),
        end_offsets=_offsets(args.end_offsets, "--end-offsets"),
        filter=replay.parse_filter(args.filter),
        to_topic=args.to_topic,
        dry_run=args.dry_run,
        config_path=args.config,
        progress_every_s=args.progress_every,
    )
    _logs(args, settings, "WARNING")
    tune_gc()
    tune_threads()
    return run_loop(replay.replay(settings, request, sys.stdout))


def _run(args: argparse.Namespace) -> int:
    settings = config.load(args.config)
    _logs(args, settings, "INFO")
    tune_gc()
    tune_threads()
    return run_loop(run.run(settings))


def _check_topic(args: argparse.Namespace) -> int:
    settings = config.load(args.config)
    if args.sample < 0:
        raise ConfigError("--sample must be a number of records, 0 or more.")
    logs.setup(settings.logging.level or "WARNING", settings.logging.format)
    return check_topic.check_topic(settings, args.topic, args.sample, sys.stdout)


def _explain(args: argparse.Namespace) -> int:
    settings = config.load(args.config)
    with ExitStack() as stack:
        sources: list[TextIO] = [
            sys.stdin if name == "-" else stack.enter_context(open(name, encoding="utf-8"))
            for name in args.events
        ]
        explain(sources, settings.destinations, sys.stdout)
    return 0


def _import_segment(args: argparse.Namespace) -> int:
    return import_segment.run(args, os.environ, explain)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = {
        "explain": _explain,
        "run": _run,
        "replay": _replay,
        "check-topic": _check_topic,
        "import-segment": _import_segment,
    }[args.command]
    try:
        return command(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except OSError as exc:
        print(f"error: cannot read {exc.filename}: {exc.strerror}.", file=sys.stderr)
        return EXIT_CONFIG
