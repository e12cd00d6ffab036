"""HTTP to Movable Ink: two clients behind one `Transport` interface, chosen by
`delivery.http_client`.

The consumer is CPU-bound on its HTTP client, so the default is the cheapest: the built-in one
(`builtin`), which writes a POST whose body is already encoded and parses the answer with
llhttp. httpx (`httpx_client`) is the standard client, for whoever prefers it, and the one the
built-in client hands a URL to when the environment names a proxy for it. Both take the proxy
from the environment and verify TLS with the system's certificates.
"""

from __future__ import annotations

from consumer.settings import HttpClient
from consumer.shell.http.builtin import Http1Transport
from consumer.shell.http.httpx_client import HttpxTransport
from consumer.shell.http.transport import Answer, Transport

__all__ = ["Answer", "Transport", "open_transport"]


def open_transport(client: HttpClient, *, max_connections: int, timeout_s: float) -> Transport:
    """Keep-alive connections to Movable Ink, shared by one destination's requests."""
    if client == "httpx":
        return HttpxTransport(max_connections=max_connections, timeout_s=timeout_s)
    return Http1Transport(max_connections=max_connections, timeout_s=timeout_s)
