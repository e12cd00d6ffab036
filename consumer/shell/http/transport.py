"""The HTTP boundary: POST a request, get an `Answer`; client errors never leak out.

Every expected client exception becomes an `Answer` with no status and a short error kind, so
the retry policy decides from the answer alone, and no exception text (which could quote a URL
with its key) reaches the logs. The body arrives already encoded: the decision made it once.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

from consumer.core.errors import AnswerError
from consumer.core.movableink import Request


class Answer(NamedTuple):
    """The result of one attempt: an HTTP status, or `error` when none came back (a tuple:
    one is made per request, and a frozen dataclass costs four times as much to build)."""

    status: int | None
    retry_after: str | None = None
    error: AnswerError | None = None  # why no status came back
    detail: str = ""  # for `internal`: the unexpected exception's class and message


class Transport(Protocol):
    async def post(self, request: Request, content: bytes) -> Answer:
        """POST `content`, the request's body already encoded, with the request's headers."""

    async def aclose(self) -> None: ...
