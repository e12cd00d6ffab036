"""Hypothesis strategies shared by the property tests: arbitrary JSON, Segment messages, and
Avro values damaged."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values: st.SearchStrategy[Any] = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
json_objects = st.dictionaries(st.text(), json_values, max_size=5)
segment_types = st.sampled_from(["identify", "track", "page", "screen", "group", "alias"])


@st.composite
def segment_messages(draw: st.DrawFn) -> dict[str, Any]:
    """Messages with a valid type and anything (typed or not) in every other field."""
    message: dict[str, Any] = draw(json_objects)
    message["type"] = draw(segment_types)
    for key in ("messageId", "userId", "anonymousId", "event", "timestamp", "version"):
        if draw(st.booleans()):
            message[key] = draw(json_values)
    for key in ("properties", "traits", "context", "integrations"):
        if draw(st.booleans()):
            message[key] = draw(json_objects | json_values)
    return message


# 1: -1 (a negative length or index); 0x80: more bytes follow; 0xFF: both, and not UTF-8.
_telling_bytes = st.sampled_from([0, 1, 2, 3, 0x7F, 0x80, 0x81, 0xFF]) | st.integers(0, 255)


@st.composite
def damaged(draw: st.DrawFn, value: bytes) -> bytes:
    """A Confluent-framed `value` with its body cut short, or bytes overwritten, inserted or
    added at the end."""
    body = bytearray(value[5:])
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(body)))
        how = draw(st.sampled_from(["cut", "set", "insert"]))
        if how == "cut":
            del body[at:]
        elif how == "set" and at < len(body):
            body[at] = draw(_telling_bytes)
        else:
            body[at:at] = bytes(draw(st.lists(_telling_bytes, min_size=1, max_size=11)))
    return value[:5] + bytes(body)
