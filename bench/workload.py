"""The benchmark workload: realistic ~1 KB Segment events of many people, deterministic."""

from __future__ import annotations

import random
from typing import Any

EVENT_NAMES = ("Product Viewed", "Product Added", "Order Completed", "Item Clicked")


def event(i: int, people: int, rnd: random.Random) -> dict[str, Any]:
    """Event number `i`: each person's events carry both ids after their first identify."""
    person = i % people
    anon, user = f"anon-{person:06d}", f"user-{person:06d}"
    kind = "identify" if i < people else "track"
    message: dict[str, Any] = {
        "type": kind,
        "messageId": f"bench-{i:09d}",
        "anonymousId": anon,
        "userId": user,
        "timestamp": "2026-11-24T12:00:00.000Z",
        "sentAt": "2026-11-24T12:00:00.120Z",
        "receivedAt": "2026-11-24T12:00:00.200Z",
        "context": {
            "ip": f"10.0.{person % 250}.{i % 250}",
            "library": {"name": "analytics.js", "version": "2.11.1"},
            "page": {
                "path": "/products/widget",
                "url": "https://shop.example/products/widget?utm_source=newsletter",
                "referrer": "https://mail.example/",
                "title": "Widget - Example Shop",
            },
            "userAgent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)",
            "locale": "en-US",
            "campaign": {"name": "winter", "source": "newsletter", "medium": "email"},
        },
        "integrations": {},
        "version": 2,
    }
    if kind == "identify":
        message["traits"] = {"email": f"{user}@example.com", "plan": "pro", "vip": person % 7 == 0}
    else:
        sku = f"sku-{rnd.randrange(1000):04d}"
        message["event"] = EVENT_NAMES[i % len(EVENT_NAMES)]
        message["properties"] = {
            "sku": sku,
            "product_id": sku,
            "url": f"https://shop.example/p/{sku}",
            "price": round(rnd.uniform(1, 200), 2),
            "total": round(rnd.uniform(1, 500), 2),
            "currency": "USD",
            "products": [{"sku": sku, "price": "19.99", "quantity": 1}],
            "category": "widgets",
        }
    return message


def events(count: int, people: int, seed: int = 1) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    return [event(i, people, rnd) for i in range(count)]
