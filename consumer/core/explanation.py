"""What `explain` and `replay --dry-run` print for one decision: a JSON object per record, the
Authorization header and the URL's key masked."""

from __future__ import annotations

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
            v.destination: {"outcome": v.action, "reason": v.reason, "warnings": list(v.warnings)}
            for v in decision.verdicts
        },
    }
