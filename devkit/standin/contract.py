"""The Movable Ink request contract the stand-in enforces (spec sections 1 and 3).

Checks run in the order a real endpoint would: method, Basic auth, API key, size, media type,
JSON shape. Each failure is a `Refusal` carrying the status the consumer must handle.
"""

from __future__ import annotations

import base64
import hmac
import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import unquote

from .http11 import Request

DEFAULT_PREFIX = "/behavioral/"
DEFAULT_KEY = "demo-key"
# "1 MB" read strictly (10**6, not 2**20), so a consumer that packs up to the looser reading fails.
MAX_BODY_BYTES = 1_000_000
MAX_BATCH_EVENTS = 1000
_JSON = "application/json"


class Refusal(Exception):
    """The request breaks the contract: answer `status`, with `reason` as the error code."""

    def __init__(
        self, status: int, reason: str, message: str, headers: tuple[tuple[str, str], ...] = ()
    ) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.headers = headers


@dataclass(frozen=True)
class Contract:
    """What a request must look like; `keys=None` accepts any API key."""

    username: str
    password: str = field(repr=False)
    prefix: str = DEFAULT_PREFIX
    keys: tuple[str, ...] | None = None
    max_body_bytes: int = MAX_BODY_BYTES
    max_batch_events: int = MAX_BATCH_EVENTS

    def __post_init__(self) -> None:
        if not (self.prefix.startswith("/") and self.prefix.endswith("/")):
            raise ValueError(f"The path prefix must start and end with '/', not {self.prefix!r}.")
        if self.keys is not None and not (self.keys and all(self.keys)):
            raise ValueError("Give at least one API key, none of them empty, or None for any key.")

    @property
    def url_key(self) -> str:
        """The key shown in the stand-in's URL: the first accepted one, or a placeholder."""
        return self.keys[0] if self.keys else DEFAULT_KEY

    @cached_property
    def _credentials(self) -> bytes:
        return f"{self.username}:{self.password}".encode()

    @cached_property
    def _authorization(self) -> str:
        return "Basic " + base64.b64encode(self._credentials).decode("ascii")

    def api_key(self, path: str) -> str | None:
        """The last path segment when `path` is under the prefix (may be empty), else None."""
        if not path.startswith(self.prefix):
            return None
        return unquote(path.rsplit("/", 1)[-1])

    def authorized(self, header: str | None) -> bool:
        if header == self._authorization:
            return True
        scheme, _, token = (header or "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(token.strip(), validate=True)
        except ValueError:
            return False
        return hmac.compare_digest(decoded, self._credentials)

    def events(self, request: Request, key: str) -> list[dict[str, Any]]:
        """The events a request delivers: one event, or the batch `{"events": [...]}`."""
        if request.method != "POST":
            raise Refusal(405, "method_not_allowed", "Only POST is allowed.", (("Allow", "POST"),))
        if not self.authorized(request.headers.get("authorization")):
            raise Refusal(
                401,
                "unauthorized",
                "Basic auth is missing or wrong.",
                (("WWW-Authenticate", 'Basic realm="movableink"'),),
            )
        if not key or (self.keys is not None and key not in self.keys):
            raise Refusal(404, "unknown_key", "Unknown API key.")
        if request.body is None:
            raise Refusal(413, "too_large", f"The body is larger than {self.max_body_bytes} bytes.")
        media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media_type != _JSON:
            raise Refusal(415, "unsupported_media_type", f"Content-Type must be {_JSON}.")
        try:
            data = json.loads(request.body)
        except (ValueError, RecursionError):
            raise Refusal(400, "invalid_json", "The body is not JSON.") from None
        if not isinstance(data, dict):
            raise Refusal(400, "not_an_object", "The body must be a JSON object.")
        if "events" not in data or "type" in data:
            return [data]
        events = data["events"]
        if (
            len(data) != 1
            or not isinstance(events, list)
            or not events
            or not all(isinstance(e, dict) for e in events)
        ):
            raise Refusal(400, "bad_batch", 'A batch must be exactly {"events": [objects]}.')
        if len(events) > self.max_batch_events:
            raise Refusal(
                413, "too_many_events", f"A batch holds at most {self.max_batch_events} events."
            )
        return events
