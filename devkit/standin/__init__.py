"""A loopback stand-in for Movable Ink's behavioral API, for tests, the demo and benchmarks.

It speaks the documented contract (Basic auth, one event or `{"events": [...]}`, 400/401/404/
413/415), records what arrives by person, and injects faults on request: latency, random
errors, per-event rules, 429 rate limits, unanswered requests, and a refusing port.

In a test process (a background thread):

    from devkit.standin import Faults, Rule, StandIn
    with StandIn("user", "secret", faults=Faults(latency_ms=50)) as standin:
        ...  # POST to standin.url; read standin.received(); steer standin.set_faults(...)

In its own process (line 1 of stdout: the endpoint URL; line 2: the control API base):

    python -m devkit.standin --port 0 --username U --password P [--latency-ms N]

The HTTP control API is documented in `control.py`, the checks for tests in `checks.py`.
"""

from .background import StandIn
from .checks import OrderViolation, duplicates, lost, order_violations
from .faults import Faults, RateLimit, Rule
from .recording import Received, Rejected, person_keys

__all__ = [
    "Faults",
    "OrderViolation",
    "RateLimit",
    "Received",
    "Rejected",
    "Rule",
    "StandIn",
    "duplicates",
    "lost",
    "order_violations",
    "person_keys",
]
