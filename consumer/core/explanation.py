"""What `explain` and `replay --dry-run` print for one decision: a JSON object per record, the
Authorization header and the URL's key masked, each body exactly the bytes that would be sent."""

from __future__ import annotations

import json
from typing import Any

from consumer.core.decision import Decision
from consumer.core.movableink import mask_url

MASKED_AUTHORIZATION = "Basic ***"
NO_BODY = (
    'sent with no body and no Content-Type: data resolved to nothing, null or "", as in Segment'
)


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
            v.destination: {
                "outcome": v.action,
                "reason": v.reason,
                "warnings": list(v.warnings),
                **(
                    {"rejected": [{"mapping": r.mapping, "reason": r.reason} for r in v.rejected]}
                    if v.rejected
                    else {}
                ),
            }
            for v in decision.verdicts
        },
    }


def json_line(decision: Decision) -> str:
    """`describe` as one JSON line whose bodies are the request bodies' own bytes.

    Parsing a body and writing it again could change it (a number's form, an infinity the
    mapping made, which JSON.stringify sends as null), and the dry run must show what is sent.
    """
    document = describe(decision)
    deliveries = []
    for shown, delivery in zip(document.pop("deliveries"), decision.deliveries, strict=True):
        del shown["body"]
        note = shown.pop("note", None)
        body = delivery.content.decode() if delivery.content else "null"
        text = json.dumps(shown, ensure_ascii=False)[:-1] + f', "body": {body}'
        deliveries.append(text + ("" if note is None else f', "note": {json.dumps(note)}') + "}")
    destinations = json.dumps(document.pop("destinations"), ensure_ascii=False)
    head = json.dumps(document, ensure_ascii=False)[:-1]
    return f'{head}, "deliveries": [{", ".join(deliveries)}], "destinations": {destinations}}}'
