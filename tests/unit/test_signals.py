from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consumer.core.signals import _has_product_id, _number_rule, violations
from tests.strategies import json_values

PRODUCT = {"sku": "s-1", "price": 9.5}


def track(event: str, **properties: Any) -> dict[str, Any]:
    return {"type": "track", "userId": "u", "event": event, "properties": properties}


@pytest.mark.parametrize("event", ["Product Viewed", "Product Added"])
def test_product_events_need_an_id_and_a_url(event: str) -> None:
    code = event.lower().replace(" ", "_")
    assert violations(track(event, sku="s", url="https://x")) == []
    assert violations(track(event, product_id=12, url="https://x")) == []
    assert violations(track(event, url="https://x")) == [f"signals.{code}.product_id_missing"]
    assert violations(track(event, sku="s")) == [f"signals.{code}.url_missing"]
    assert violations(track(event, sku="", url="")) == [
        f"signals.{code}.product_id_missing",
        f"signals.{code}.url_missing",
    ]


def test_order_completed_passes_with_total_and_priced_identified_products() -> None:
    assert violations(track("Order Completed", total=19.99, products=[PRODUCT])) == []
    assert (
        violations(track("Order Completed", total="19.99", products=[{**PRODUCT, "price": "9"}]))
        == []
    )
    assert (
        violations(track("Order Completed", total=0, products=[{"product_id": "p", "price": 0}]))
        == []
    )


@pytest.mark.parametrize(
    ("properties", "codes"),
    [
        ({"products": [PRODUCT]}, ["signals.order_completed.total_missing"]),
        ({"total": "", "products": [PRODUCT]}, ["signals.order_completed.total_missing"]),
        ({"total": "abc", "products": [PRODUCT]}, ["signals.order_completed.total_invalid"]),
        ({"total": True, "products": [PRODUCT]}, ["signals.order_completed.total_invalid"]),
        ({"total": 1}, ["signals.order_completed.products_missing"]),
        ({"total": 1, "products": []}, ["signals.order_completed.products_missing"]),
        ({"total": 1, "products": {"sku": "s"}}, ["signals.order_completed.products_missing"]),
        ({"total": 1, "products": [{"price": 1}]}, ["signals.order_completed.product_id_missing"]),
        ({"total": 1, "products": [{"sku": "s"}]}, ["signals.order_completed.price_missing"]),
        (
            {"total": 1, "products": [{"sku": "s", "price": ""}]},
            ["signals.order_completed.price_missing"],
        ),
        (
            {"total": 1, "products": [PRODUCT, {"sku": "s", "price": "x"}]},
            ["signals.order_completed.price_invalid"],
        ),
        (
            {"total": 1, "products": ["junk"]},
            ["signals.order_completed.product_id_missing", "signals.order_completed.price_missing"],
        ),
    ],
)
def test_order_completed_rules(properties: dict[str, Any], codes: list[str]) -> None:
    assert violations(track("Order Completed", **properties)) == codes


def test_other_events_and_types_have_no_requirements() -> None:
    assert violations(track("Signed Up")) == []
    assert violations({"type": "page", "event": "Order Completed"}) == []
    assert violations({"type": "track", "event": "Order Completed", "properties": "x"}) == [
        "signals.order_completed.total_missing",
        "signals.order_completed.products_missing",
    ]


@given(
    st.sampled_from(["Product Viewed", "Product Added"]),
    st.dictionaries(st.sampled_from(["sku", "product_id", "url", "price"]), json_values),
)
def test_product_rules_on_any_properties(event: str, properties: dict[str, Any]) -> None:
    def present(value: Any) -> bool:
        return value is not None and value != "" and not isinstance(value, dict | list)

    code = event.lower().replace(" ", "_")
    url = properties.get("url")
    expected = (
        []
        if present(properties.get("sku")) or present(properties.get("product_id"))
        else [f"signals.{code}.product_id_missing"]
    )
    if not (isinstance(url, str) and url):
        expected.append(f"signals.{code}.url_missing")
    assert violations(track(event, **properties)) == expected


_products = st.lists(
    st.dictionaries(st.sampled_from(["sku", "product_id", "price"]), json_values) | json_values,
    max_size=4,
)


@given(st.dictionaries(st.sampled_from(["total", "products"]), json_values | _products))
def test_order_completed_rules_on_any_properties(properties: dict[str, Any]) -> None:
    """The products are looked at in one loop: the codes are those of one pass per rule."""
    prefix = "signals.order_completed"
    expected = _number_rule(prefix, "total", properties.get("total"))
    products = properties.get("products")
    if not isinstance(products, list) or not products:
        expected.append(f"{prefix}.products_missing")
    else:
        items = [p if isinstance(p, dict) else {} for p in products]
        if not all(map(_has_product_id, items)):
            expected.append(f"{prefix}.product_id_missing")
        prices = [_number_rule(prefix, "price", item.get("price")) for item in items]
        expected += next((codes for codes in prices if codes), [])
    assert violations(track("Order Completed", **properties)) == expected
