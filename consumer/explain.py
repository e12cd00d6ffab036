"""`explain`: what the consumer would do with Segment messages given as JSON (no Kafka, no I/O)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

from consumer.decision import Decision, decide_message
from consumer.errors import Rejected
from consumer.jsvalues import escape_lone_surrogates
from consumer.movableink import Destination, mask_url

MASKED_AUTHORIZATION = "Basic ***"
NO_BODY = (
    'sent with no body and no Content-Type: data resolved to nothing, null or "", as in Segment'
)


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


def describe(decision: Decision) -> dict[str, Any]:
    """The JSON line for one decision; the Authorization header is masked."""
    return {
        "messageId": decision.message_id,
        "outcome": decision.action,
        "reason": decision.first_reason,
        "deliveries": [
            {
                "destination": d.destination.name,
                "mapping": d.mapping,
                "url": mask_url(d.request.url),  # its last segment is the customer's key
                "headers": {
                    k: MASKED_AUTHORIZATION if k == "Authorization" else v
                    for k, v in d.request.headers.items()
                },
                "body": d.request.body,
                **({"note": NO_BODY} if d.request.body is None else {}),
            }
            for d in decision.deliveries
        ],
        "destinations": {
            v.destination: {"outcome": v.action, "reason": v.reason, "warnings": list(v.warnings)}
            for v in decision.verdicts
        },
    }


def explain(sources: Iterable[TextIO], destinations: tuple[Destination, ...], out: TextIO) -> int:
    """Write one JSON line per message; return how many messages were read."""
    count = 0
    for source in sources:
        for index, item in enumerate(read_messages(source.read())):
            if isinstance(item, Rejected):
                decision = Decision(f"input-{index}", None, (), item.reason)
            else:
                decision = decide_message(item, destinations, topic="input", offset=index)
            line = json.dumps(describe(decision), ensure_ascii=False)
            out.write(escape_lone_surrogates(line) + "\n")
            count += 1
    return count
