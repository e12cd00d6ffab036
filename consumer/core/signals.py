"""Movable Ink's Signals requirements for ecommerce events (spec section 5).

Each failed rule has its own reason code, so an operator can see at a glance which field a
source forgets. Number-like strings count as numbers for `total` and `price`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

SignalsPolicy = Literal["enforce", "warn", "off"]
POLICIES: tuple[SignalsPolicy, ...] = ("enforce", "warn", "off")
# The product events and the reason codes of their two rules (an id, a url), made once.
_PRODUCT_EVENTS: dict[Any, tuple[str, str]] = {
    name: (f"signals.{code}.product_id_missing", f"signals.{code}.url_missing")
    for name, code in (("Product Viewed", "product_viewed"), ("Product Added", "product_added"))
}


def _present(value: Any) -> bool:
    return value is not None and value != "" and not isinstance(value, (dict, list))


def _numeric(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    if isinstance(value, str) and value.strip():
        try:
            float(value)
        except ValueError:
            return False
        return True
    return False


def _has_product_id(item: Mapping[str, Any]) -> bool:
    return _present(item.get("sku")) or _present(item.get("product_id"))


def _number_rule(prefix: str, field: str, value: Any) -> list[str]:
    if value is None or value == "":
        return [f"{prefix}.{field}_missing"]
    return [] if _numeric(value) else [f"{prefix}.{field}_invalid"]


def violations(message: Mapping[str, Any]) -> list[str]:
    """The reason codes of every Signals rule the message fails; empty when it passes."""
    if message.get("type") != "track":
        return []
    name = message.get("event")
    props = message.get("properties")
    props = props if isinstance(props, dict) else {}
    codes = _PRODUCT_EVENTS.get(name)
    if codes is not None:
        id_missing, url_missing = codes
        failed = [] if _has_product_id(props) else [id_missing]
        url = props.get("url")
        if not (isinstance(url, str) and url):
            failed.append(url_missing)
        return failed
    if name != "Order Completed":
        return []
    prefix = "signals.order_completed"
    failed = _number_rule(prefix, "total", props.get("total"))
    products = props.get("products")
    if not isinstance(products, list) or not products:
        return [*failed, f"{prefix}.products_missing"]
    # One loop over the products for both rules (no comprehension, no `map` calling back into
    # Python): does any lack an id, and the first price problem.
    unidentified = False
    price: list[str] = []
    for product in products:
        item = product if isinstance(product, dict) else {}
        unidentified = unidentified or not _has_product_id(item)
        price = price or _number_rule(prefix, "price", item.get("price"))
    if unidentified:
        failed.append(f"{prefix}.product_id_missing")
    return failed + price
