"""Segment's Public API, read for one destination: the two answers `import-segment` takes.

`GET /destinations/{id}` and every page of `GET /destinations/{id}/subscriptions`, with a
token from the environment (Bearer), through httpx (which honours HTTPS_PROXY). Every failure
is one `ConfigError` sentence; the token is never in one.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

import httpx

from consumer.core.errors import ConfigError

API_URL = "https://api.segmentapis.com"
TOKEN_ENV = "SEGMENT_PUBLIC_API_TOKEN"
PAGE_SIZE = 200  # the most the Public API gives per page
MAX_PAGES = 50  # a destination has at most 50 subscriptions: one page, a few at most
TIMEOUT_S = 30.0
logging.getLogger("httpx").setLevel(logging.WARNING)  # it logs every request at INFO


def fetch(
    destination_id: str, token: str, api_url: str = API_URL, timeout_s: float = TIMEOUT_S
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The destination's answer, and its subscriptions' answers (one per page)."""
    path = f"/destinations/{quote(destination_id, safe='')}"
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    with httpx.Client(base_url=api_url.rstrip("/"), headers=headers, timeout=timeout_s) as client:
        destination = _get(client, path, {})
        pages: list[dict[str, Any]] = []
        cursor: str | None = None
        while len(pages) < MAX_PAGES:
            params = {"pagination.count": str(PAGE_SIZE)}
            if cursor is not None:
                params["pagination.cursor"] = cursor
            page = _get(client, f"{path}/subscriptions", params)
            pages.append(page)
            following = (page.get("data") or {}).get("pagination", {}) or {}
            cursor = following.get("next") if isinstance(following, dict) else None
            if not cursor:
                break
    return destination, pages


def _get(client: httpx.Client, path: str, params: dict[str, str]) -> dict[str, Any]:
    where = f"GET {path} on {client.base_url}"
    try:
        answer = client.get(path, params=params)
    except httpx.HTTPError as exc:
        raise ConfigError(
            f"Segment's Public API did not answer {where}: {type(exc).__name__}."
        ) from None
    if answer.status_code in (401, 403):
        raise ConfigError(
            f"Segment's Public API refused {where} ({answer.status_code}): check that "
            f"{TOKEN_ENV} holds a token of that workspace with read access to the destination."
        )
    if answer.status_code != 200:
        raise ConfigError(f"Segment's Public API answered {answer.status_code} to {where}.")
    try:
        document = answer.json()
    except ValueError:
        raise ConfigError(f"Segment's Public API answered {where} with no JSON.") from None
    if not isinstance(document, dict):
        raise ConfigError(f"Segment's Public API answered {where} with no JSON object.")
    return document
