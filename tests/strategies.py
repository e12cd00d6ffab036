"""Hypothesis strategies shared by the property tests: arbitrary JSON and Segment messages."""

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
