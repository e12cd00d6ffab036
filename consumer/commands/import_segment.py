"""`import-segment`: a Movable Ink (Actions) destination's setup in Segment -> our TOML.

Wiring and I/O only: read Segment's documents (files, standard input, or the Public API),
translate them (`core.segment_import`), run the configuration's own checks on the result
(`config.parse_settings`, mapping by mapping, so that each problem names its subscription),
write the file, and with `--check` print what `explain` does with sample events under it.
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TextIO

from consumer import config
from consumer.core import segment_documents, segment_import
from consumer.core.errors import ConfigError
from consumer.core.movableink import Destination
from consumer.core.segment_import import Translation
from consumer.shell import segment_api

# `explain` (the CLI hands it in: one command does not import another).
Explain = Callable[[Iterable[TextIO], tuple[Destination, ...], TextIO], int]
EXIT_REFUSED = 2
# Without mappings a destination takes the default preset: never what an import means.
NOTHING_LIVE = (
    "no enabled subscription can be carried, and a destination without mappings would send "
    "every event (the default preset): nothing can be written"
)
# What the configuration needs besides the destination, to check the imported tables alone.
CHECK_KAFKA = {"bootstrap_servers": "127.0.0.1:9092", "topics": ["segment-events"]}
STAND_IN_SECRET = "not-the-secret"  # the placeholder's value while checking: nothing is sent
_STAND_IN = {
    "movable_ink_url": "https://collector.movableink-dmz.com/behavioral/KEY",
    "username": "user",
    "password": STAND_IN_SECRET,
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_argument_group("source (one of)")
    source.add_argument("--destination", help="the answer of GET /destinations/{id} (- for stdin)")
    source.add_argument(
        "--subscriptions", help="the answer of GET /destinations/{id}/subscriptions (- for stdin)"
    )
    source.add_argument("--terraform", help="`terraform show -json` or a .tfstate (- for stdin)")
    source.add_argument(
        "--fetch",
        metavar="DESTINATION_ID",
        help=f"read both from Segment's Public API, with the token in ${segment_api.TOKEN_ENV}",
    )
    parser.add_argument(
        "--api-url",
        default=segment_api.API_URL,
        help=f"the Public API (default {segment_api.API_URL}; EU: https://eu1.api.segmentapis.com)",
    )
    parser.add_argument("--destination-id", help="which segment_destination of the Terraform file")
    parser.add_argument("--name", help="our destination's name (default: from Segment's name)")
    parser.add_argument("--secret-env", help="the variable for the secret (default MIK_<NAME>_…)")
    parser.add_argument("--out", default="-", help="the TOML file to write (default: stdout)")
    parser.add_argument(
        "--partial", action="store_true", help="write what can be carried even if some cannot"
    )
    parser.add_argument(
        "--check", metavar="EVENTS", help="then explain these JSON events under the result"
    )


def run(
    args: argparse.Namespace,
    environ: Mapping[str, str],
    explain: Explain,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Import; exit 0, or 2 when something could not be carried (nothing is written then,
    unless `--partial`). The streams default to the process's, read at the call."""
    stdin, stdout, stderr = stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr
    if args.check and args.out == "-":
        raise ConfigError(
            "--check needs --out: the TOML and what explain prints cannot share stdout."
        )
    destination, subscriptions = _read(args, environ, stdin)
    translation = segment_import.translate(
        destination, subscriptions, name=args.name, secret_env=args.secret_env
    )
    translation = checked(translation)
    for problem in translation.problems:
        print(f"error: {problem}.", file=stderr)
    if translation.problems and not (args.partial and any(m.live for m in translation.mappings)):
        print("error: nothing written (--partial writes what can be carried).", file=stderr)
        return EXIT_REFUSED
    text = segment_import.render(translation)
    try:
        settings = load(text, translation)
    except ConfigError as exc:
        print(f"error: the result does not load, so nothing is written: {exc}", file=stderr)
        return EXIT_REFUSED
    if args.out == "-":
        stdout.write(text)
    else:
        Path(args.out).write_text(text, encoding="utf-8")
    live = sum(m.live for m in translation.mappings)
    where = "stdout" if args.out == "-" else args.out
    print(
        f"imported {live} of {len(translation.mappings)} subscriptions into {where}; set "
        f"{translation.secret_env} to the secret before `run`.",
        file=stderr,
    )
    if args.check:
        with open(args.check, encoding="utf-8") as events:
            explain([events], settings.destinations, stdout)
    return EXIT_REFUSED if translation.problems else 0


def _read(
    args: argparse.Namespace, environ: Mapping[str, str], stdin: TextIO
) -> tuple[segment_documents.SegmentDestination, list[segment_documents.SegmentSubscription]]:
    given = [
        name
        for name, value in (
            ("--destination/--subscriptions", args.destination or args.subscriptions),
            ("--terraform", args.terraform),
            ("--fetch", args.fetch),
        )
        if value
    ]
    if len(given) != 1:
        raise ConfigError(
            "Give one source: --destination and --subscriptions, --terraform, or --fetch."
        )
    if args.terraform:
        return segment_documents.from_terraform(_json(args.terraform, stdin), args.destination_id)
    if args.fetch:
        token = environ.get(segment_api.TOKEN_ENV, "")
        if not token:
            raise ConfigError(
                f"--fetch needs a Segment Public API token in {segment_api.TOKEN_ENV}."
            )
        destination, pages = segment_api.fetch(args.fetch, token, args.api_url)
        return segment_documents.from_public_api(destination, pages)
    if not (args.destination and args.subscriptions):
        raise ConfigError("--destination and --subscriptions go together: give both.")
    if args.destination == args.subscriptions == "-":
        raise ConfigError("Only one of --destination and --subscriptions can be stdin (-).")
    return segment_documents.from_public_api(
        _json(args.destination, stdin), _json(args.subscriptions, stdin)
    )


def _json(name: str, stdin: TextIO) -> Any:
    text = stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{'stdin' if name == '-' else name} is not JSON: {exc}.") from None


def checked(translation: Translation) -> Translation:
    """The translation, refused wherever the configuration's own checks refuse it: each live
    mapping alone under a stand-in destination, then the destination's own settings."""
    for mapping in translation.mappings:
        if mapping.live:
            stand_in = {**_STAND_IN, "name": "imported", "mappings": [mapping.table]}
            try:
                config.parse_settings({"kafka": CHECK_KAFKA, "destinations": [stand_in]}, {})
            except ConfigError as exc:
                translation = translation.refuse(mapping.subscription.id, str(exc).rstrip("."))
    try:
        config.parse_settings(
            {"kafka": CHECK_KAFKA, "destinations": [translation.table]},
            {translation.secret_env: STAND_IN_SECRET},
        )
    except ConfigError as exc:
        translation = translation.with_problem(str(exc).rstrip("."))
    if not any(m.live for m in translation.mappings):
        translation = translation.with_problem(NOTHING_LIVE)
    return translation


def load(text: str, translation: Translation) -> config.Settings:
    """The written TOML as `run` would read it (under a stand-in Kafka section and secret)."""
    document = {"kafka": CHECK_KAFKA, **tomllib.loads(text)}
    return config.parse_settings(document, {translation.secret_env: STAND_IN_SECRET})
