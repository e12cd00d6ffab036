"""The tests' consumer config over the shared harness (devkit/harness.py): retries, probes
and fetch waits in milliseconds, so that a test waits for behaviour, not for timers."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from devkit import harness
from devkit.harness import Destination

FAST_DELIVERY = {
    "backoff_base": "50ms",
    "backoff_cap": "500ms",
    "probe_interval": "200ms",
    "max_probe_interval": "500ms",
}
FAST_FETCH = {"fetch.wait.max.ms": 50}

# The smallest whole config file, one topic and one destination, its credentials from `MI_USER`
# and `MI_PASSWORD`: where the unit tests of the config and of the commands start.
BASE_CONFIG = """
[kafka]
bootstrap_servers = "127.0.0.1:9092"
topics = ["segment-events"]

[[destinations]]
name = "movable-ink"
movable_ink_url = "https://collector.movableink-dmz.com/behavioral/KEY123"
username = "${MI_USER}"
password = "${MI_PASSWORD}"
"""


def write_config(
    path: Path,
    *,
    url: str,
    destination: dict[str, Any] | None = None,
    others: Sequence[Destination] = (),
    delivery: dict[str, Any] | None = None,
    properties: dict[str, Any] | None = None,
    **rest: Any,
) -> Path:
    """`harness.write_config` with the destination "mi" at `url` (its options `destination`),
    then `others`, and the fast settings under `delivery` and `properties`."""
    return harness.write_config(
        path,
        destinations=[Destination("mi", url, destination or {}), *others],
        delivery=FAST_DELIVERY | (delivery or {}),
        properties=FAST_FETCH | (properties or {}),
        **rest,
    )
