"""`explain`: what the consumer would do with Segment messages given as JSON (no Kafka, no I/O)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

from consumer.core.decision import Decision, decide_message
from consumer.core.errors import Rejected
from consumer.core.explanation import json_line
from consumer.core.jsvalues import escape_lone_surrogates
from consumer.core.movableink import Destination
from consumer.core.segment import Place


def read_messages(text: str) -> Iterator[Any]:
    """A JSON object or array is one document; anything else is read as one message per line.

    A line that is not JSON yields `Rejected` so that it is reported, not skipped.
    """
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    else:
        yield from document if isinstance(document, list) else [document]
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                yield json.loads(line)
            except ValueError as exc:
                yield Rejected("decode.invalid_json", f"line {number}: {exc}")


def explain(sources: Iterable[TextIO], destinations: tuple[Destination, ...], out: TextIO) -> int:
    """Write one JSON line per message; return how many messages were read."""
    count = 0
    for source in sources:
        for index, item in enumerate(read_messages(source.read())):
            if isinstance(item, Rejected):
                decision = Decision(f"input-{index}", None, (), item.reason)
            else:
                decision = decide_message(item, destinations, Place("input", offset=index))
            out.write(escape_lone_surrogates(json_line(decision)) + "\n")
            count += 1
    return count
