"""A Movable Ink URL as the WHATWG URL parser behind Segment's fetch reads it.

Segment sends to the URL its parser makes of the setting: an internationalised host in
punycode (`bücher.example` -> `xn--bcher-kva.example`, mapped by UTS #46 first), spaces and
other characters outside its sets percent-encoded, `.` and `..` segments resolved, a backslash
read as a slash before the query. We send the same bytes, so the URL is read that way once, at
start-up. The percent-encoded set is the one actions-core 3.170.0's requests show (it encodes
`'`, `^` and `|` in paths too), not the narrower one of Node's own `URL`.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

import idna

# C0 controls and space (trimmed at both ends), and what WHATWG drops anywhere.
_TRIMMED = "".join(map(chr, range(0x21)))
_DROPPED = re.compile(r"[\t\n\r]")
_ENCODED = frozenset(_TRIMMED) | frozenset("\"'<>^`{|}\x7f")
_FORBIDDEN_IN_HOST = frozenset(" #%/:<>?@[\\]^|") | frozenset(_TRIMMED) | {"\x7f"}
_DEFAULT_PORTS = {"http": "80", "https": "443", "ws": "80", "wss": "443", "ftp": "21"}
_SINGLE_DOT = frozenset({".", "%2e"})
_DOUBLE_DOT = frozenset({"..", ".%2e", "%2e.", "%2e%2e"})


def normalise_url(url: str) -> str:
    """The URL Segment's parser makes of `url`, with no fragment (fetch never sends one).

    Raises ValueError for a URL Segment cannot parse either (a host it cannot map, a port
    past 65535)."""
    url = _DROPPED.sub("", url.strip(_TRIMMED))
    url = url.partition("#")[0]
    rest, question, query = url.partition("?")
    scheme, colon, rest = rest.replace("\\", "/").partition(":")
    if not colon or not rest.startswith("//"):
        raise ValueError("the URL needs scheme://host")
    scheme = scheme.lower()
    authority, slash, path = rest[2:].partition("/")
    userinfo, at, host_port = authority.rpartition("@")
    host, port = _split_port(host_port)
    if port and port != _DEFAULT_PORTS.get(scheme):
        host += f":{port}"
    query_text = question + _encode(query, "\\")
    return f"{scheme}://{userinfo}{at}{host}{_path(slash + path)}{query_text}"


def _split_port(host_port: str) -> tuple[str, str]:
    """The host in ASCII and the port without leading zeros ('' for none)."""
    if host_port.startswith("["):  # an IPv6 literal
        close = host_port.find("]")
        host, port = host_port[: close + 1].lower(), host_port[close + 1 :]
        if close < 0 or (port and not port.startswith(":")):
            raise ValueError("the IPv6 host is not closed by ]")
        port = port[1:]
    else:
        host, _, port = host_port.partition(":")
        host = _domain_to_ascii(unquote(host))
    if port and not port.isdigit():
        raise ValueError(f"the port {port!r} is not a number")
    if port and int(port) > 65535:
        raise ValueError(f"the port {port} is past 65535")
    return host, str(int(port)) if port else ""


def _domain_to_ascii(host: str) -> str:
    """UTS #46 processing as WHATWG asks for it (not IDNA 2008's strict rules): map, then
    write each non-ASCII label as `xn--` punycode."""
    if not host:
        raise ValueError("the URL has no host")
    try:
        mapped = _remap(host)
    except idna.IDNAError as exc:
        raise ValueError(f"the host cannot be written in ASCII: {exc}") from exc
    labels = []
    for label in mapped.split("."):
        if label.isascii():
            if label.startswith("xn--"):
                _check_punycode(label)
            labels.append(label)
        else:
            labels.append("xn--" + label.encode("punycode").decode("ascii"))
    ascii_host = ".".join(labels)
    if _FORBIDDEN_IN_HOST.intersection(ascii_host):
        raise ValueError(f"the host {ascii_host!r} has a character a host cannot have")
    return ascii_host


def _check_punycode(label: str) -> None:
    """An `xn--` label must decode to a label UTS #46 keeps as it is."""
    try:
        decoded = label[4:].encode("ascii").decode("punycode")
        valid = not decoded.isascii() and _remap(decoded) == decoded
    except (UnicodeError, idna.IDNAError):
        valid = False
    if not valid:
        raise ValueError(f"the host label {label!r} is not valid punycode")


def _remap(text: str) -> str:
    return idna.uts46_remap(text, std3_rules=False, transitional=False)


def _path(path: str) -> str:
    """`.` and `..` segments resolved, each segment percent-encoded; "/" for none."""
    segments: list[str] = []
    raw = path.split("/")[1:] or [""]
    for index, segment in enumerate(raw):
        last = index == len(raw) - 1
        lowered = segment.lower()
        if lowered in _DOUBLE_DOT:
            if segments:
                segments.pop()
            if last:
                segments.append("")
        elif lowered in _SINGLE_DOT:
            if last:
                segments.append("")
        else:
            segments.append(_encode(segment, ""))
    return "/" + "/".join(segments)


def _encode(text: str, extra: str) -> str:
    """Percent-encode (UTF-8) what the parser encodes; `%` itself is kept as written."""
    if text.isascii() and not _ENCODED.intersection(text) and not (extra and extra in text):
        return text
    out = []
    for char in text:
        if char < "\x7f" and char not in _ENCODED and char not in extra:
            out.append(char)
        elif "\ud800" <= char <= "\udfff":  # a lone surrogate: WHATWG writes U+FFFD
            out.append(quote("\ufffd", safe=""))
        else:
            out.append(quote(char, safe=""))
    return "".join(out)
