"""The HTTP control API under `/_standin/`, for tests and the chaos suite in other processes.

    GET  /_standin/received[?since=SEQ][&person=KEY]  {"received": [...], "next": SEQ}
    GET  /_standin/rejected[?since=N]                  {"rejected": [...], "next": N}
    GET  /_standin/stats                               {"requests", "accepted_events", ...}
    GET  /_standin/faults                              {"faults": {...}, "remaining": [...]}
    POST /_standin/faults   <Faults JSON>              replaces all faults
    POST /_standin/reset    {"faults": true, "received": true}   (both default to true)
    POST /_standin/down     {"for_s": 2.5}             (for_s optional: down until /up)
    POST /_standin/up

No auth and no injected faults here: it is a loopback test tool.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from .faults import Faults
from .http11 import Request, Response, json_response

if TYPE_CHECKING:
    from .server import Server

PREFIX = "/_standin/"


async def handle(
    server: Server, request: Request, path: str, writer: asyncio.StreamWriter
) -> Response:
    query = parse_qs(urlsplit(request.target).query)
    try:
        match request.method, path.removeprefix(PREFIX).rstrip("/"):
            case "GET", "received":
                since = _since(query)
                person = query["person"][0] if "person" in query else None
                items = server.recorder.received(person, since)
                next_seq = items[-1].seq + 1 if items else since
                return _ok({"received": [r.to_json() for r in items], "next": next_seq})
            case "GET", "rejected":
                since = _since(query)
                rejected = server.recorder.rejected(since)
                return _ok(
                    {"rejected": [r.to_json() for r in rejected], "next": since + len(rejected)}
                )
            case "GET", "stats":
                return _ok(server.stats())
            case "GET", "faults":
                faults_now = server.plan.faults.to_json()
                return _ok({"faults": faults_now, "remaining": server.plan.remaining()})
            case "POST", "faults":
                faults = Faults.from_json(_body(request))
                server.plan.replace(faults)
                return _ok({"faults": faults.to_json()})
            case "POST", "reset":
                body = _body(request)
                if _flag(body, "faults"):
                    server.plan.replace(Faults())
                if _flag(body, "received"):
                    server.recorder.clear()
                return _ok({"reset": True})
            case "POST", "down":
                for_s = _body(request).get("for_s")
                if for_s is not None and (
                    isinstance(for_s, bool) or not isinstance(for_s, int | float) or for_s < 0
                ):
                    raise ValueError("`for_s` must be a non-negative number of seconds or null.")
                await server.down(for_s, spare=writer)
                return json_response(200, {"down": True}, close=True)
            case "POST", "up":
                await server.up()
                return _ok({"down": False})
    except ValueError as exc:
        return json_response(400, {"error": "bad_control_request", "message": str(exc)})
    return json_response(404, {"error": "not_found", "message": f"No {request.method} {path}."})


def _ok(payload: object) -> Response:
    return json_response(200, payload)


def _since(query: dict[str, list[str]]) -> int:
    raw = query.get("since", ["0"])[0]
    if not raw.isdecimal():
        raise ValueError("`since` must be a non-negative whole number.")
    return int(raw)


def _body(request: Request) -> dict[str, Any]:
    """The JSON object in a control request's body; an empty body counts as `{}`."""
    if not request.body:
        return {}
    try:
        data = json.loads(request.body)
    except ValueError:
        raise ValueError("The body is not JSON.") from None
    if not isinstance(data, dict):
        raise ValueError("The body must be a JSON object.")
    return data


def _flag(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, True)
    if not isinstance(value, bool):
        raise ValueError(f"`{name}` must be true or false.")
    return value
