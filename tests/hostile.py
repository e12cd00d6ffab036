"""Generators of hostile input: Segment-shaped JSON with any type in any field, and records
of any bytes, shared by the unit tests of the decision core and the real-broker tests."""

from __future__ import annotations

import json

from hypothesis import strategies as st

SEGMENT_FIELDS = (
    "type", "event", "name", "userId", "anonymousId", "previousId", "messageId", "groupId",
    "category", "timestamp", "receivedAt", "originalTimestamp", "sentAt", "properties",
    "traits", "context", "integrations", "version",
)  # fmt: skip

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(["track", "identify", "page", "Order Completed", "", "2026-11-24T11:00:00Z"])
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
segment_like = st.fixed_dictionaries(
    {"type": st.sampled_from(["track", "identify", "page", "screen", "group", "alias"])},
    optional={name: json_values for name in SEGMENT_FIELDS if name != "type"},
) | st.dictionaries(st.sampled_from(SEGMENT_FIELDS), json_values, max_size=8)
record_values = (
    st.binary(max_size=300)
    | segment_like.map(lambda m: json.dumps(m).encode())
    | st.text(max_size=200).map(str.encode)
)
"""Record values as producers get them wrong: any bytes, any Segment-like JSON (NaN included,
as Python writes it), any text."""
