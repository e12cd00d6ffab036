"""Segment's documents about one destination, read into two small types.

Pure: the Public API's answers for a destination and its subscriptions (with or without their
`data` envelope, one page or several), or a Terraform state or plan as JSON (`terraform show
-json`, or a `.tfstate` file) with `segment_destination` and `segment_destination_subscription`
resources. Shapes as published in Segment's Public API SDKs and Terraform provider docs; what
is missing or of the wrong type is kept as found, for `segment_import` to refuse by name.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from consumer.core.errors import ConfigError


@dataclass(frozen=True)
class SegmentSubscription:
    id: str
    name: str
    action_id: str
    action_slug: str | None
    enabled: bool
    trigger: Any
    settings: Any
    model_id: str | None = None

    @property
    def subject(self) -> str:
        return f"subscription {json.dumps(self.name, ensure_ascii=False)} (id {self.id})"


@dataclass(frozen=True)
class SegmentDestination:
    id: str
    name: str
    slug: str | None
    enabled: bool
    settings: Any
    actions: Mapping[str, str]  # action id -> slug, where the document lists them


def _data(document: Any, key: str) -> Any:
    """A Public API answer's `data.<key>`, or the object itself when given without the
    envelope."""
    if isinstance(document, dict) and isinstance(document.get("data"), dict):
        document = document["data"]
    if isinstance(document, dict) and key in document:
        return document[key]
    return document


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def from_public_api(
    destination: Any, subscriptions: Any
) -> tuple[SegmentDestination, list[SegmentSubscription]]:
    """The answers to `GET /destinations/{id}` and `GET /destinations/{id}/subscriptions`
    (one answer, a list of pages, or the bare list of subscriptions)."""
    found = _data(destination, "destination")
    if not isinstance(found, dict) or "settings" not in found:
        raise ConfigError(
            "The destination document is not an answer of GET /destinations/{id} "
            "(no data.destination.settings)."
        )
    pages = (
        subscriptions
        if isinstance(subscriptions, list) and _is_pages(subscriptions)
        else [subscriptions]
    )
    items: list[Any] = []
    for page in pages:
        listed = _data(page, "subscriptions")
        if not isinstance(listed, list):
            raise ConfigError(
                "The subscriptions document is not an answer of "
                "GET /destinations/{id}/subscriptions (no data.subscriptions list)."
            )
        items.extend(listed)
    return (
        _destination(found, found.get("settings")),
        [_public_subscription(item, i) for i, item in enumerate(items)],
    )


def _destination(found: dict[str, Any], settings: Any) -> SegmentDestination:
    metadata = found.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    return SegmentDestination(
        id=_text(found.get("id")),
        name=_text(found.get("name")),
        slug=_optional_text(metadata.get("slug")),
        enabled=found.get("enabled") is not False,
        settings=settings,
        actions=_actions(metadata.get("actions")),
    )


def _optional_text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _is_pages(items: list[Any]) -> bool:
    return bool(items) and all(isinstance(i, dict) and "data" in i for i in items)


def _actions(listed: Any) -> dict[str, str]:
    if not isinstance(listed, list):
        return {}
    return {
        a["id"]: a["slug"]
        for a in listed
        if isinstance(a, dict) and isinstance(a.get("id"), str) and isinstance(a.get("slug"), str)
    }


# The Terraform provider's attribute names for the Public API's fields.
_TERRAFORM_NAMES = {"actionId": "action_id", "actionSlug": "action_slug", "modelId": "model_id"}


def _public_subscription(item: Any, index: int) -> SegmentSubscription:
    item = item if isinstance(item, dict) else {}
    return _subscription(item.get, index, item.get("settings", {}))


def _terraform_field(attributes: dict[str, Any], name: str) -> Any:
    return attributes.get(_TERRAFORM_NAMES.get(name, name))


def _subscription(field: Callable[[str], Any], index: int, settings: Any) -> SegmentSubscription:
    """A subscription from its fields, read by their Public API names."""
    return SegmentSubscription(
        id=_text(field("id")) or f"#{index + 1}",
        name=_text(field("name")),
        action_id=_text(field("actionId")),
        action_slug=_optional_text(field("actionSlug")),
        enabled=field("enabled") is True,
        trigger=field("trigger"),
        settings=settings,
        model_id=field("modelId") or None,
    )


def from_terraform(
    document: Any, destination_id: str | None = None
) -> tuple[SegmentDestination, list[SegmentSubscription]]:
    """A Terraform state or plan as JSON (`terraform show -json`, or a `.tfstate` file): its
    `segment_destination` and the `segment_destination_subscription`s pointing at it."""
    resources = list(_terraform_resources(document))
    destinations = [v for kind, v in resources if kind == "segment_destination"]
    if destination_id is not None:
        destinations = [d for d in destinations if d.get("id") == destination_id]
    if len(destinations) != 1:
        ids = ", ".join(sorted(str(d.get("id")) for d in destinations)) or "none"
        which = f"with id {destination_id}" if destination_id else "to import"
        raise ConfigError(
            f"The Terraform document must hold one segment_destination {which}; found {ids}"
            + ("" if destination_id or not destinations else ": choose one with --destination-id")
            + "."
        )
    found = destinations[0]
    own_id = found.get("id")
    subscriptions = [
        v
        for kind, v in resources
        if kind == "segment_destination_subscription"
        and (
            v.get("destination_id") == own_id
            or (v.get("destination_id") is None and len(destinations) == 1)
        )
    ]
    return (
        _destination(found, _json_setting(found.get("settings"))),
        [
            _subscription(partial(_terraform_field, v), i, _json_setting(v.get("settings")))
            for i, v in enumerate(subscriptions)
        ],
    )


def _json_setting(value: Any) -> Any:
    """The provider keeps `settings` as a JSON text; one that does not parse stays text (and
    is refused where it is read)."""
    if isinstance(value, str):
        try:
            return json.loads(value, parse_constant=_no_constant)
        except ValueError:
            return value
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _terraform_resources(document: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """(type, attributes) of every managed resource: `values` (state), `planned_values`
    (plan), nested modules included, or a state file's `resources[].instances[]`."""
    if not isinstance(document, dict):
        return
    for top in ("values", "planned_values"):
        module = document.get(top, {})
        if isinstance(module, dict) and isinstance(module.get("root_module"), dict):
            yield from _module_resources(module["root_module"])
            return
    for resource in document.get("resources", []):
        if isinstance(resource, dict) and resource.get("mode", "managed") == "managed":
            for instance in resource.get("instances", []):
                if isinstance(instance, dict) and isinstance(instance.get("attributes"), dict):
                    yield str(resource.get("type")), instance["attributes"]


def _module_resources(module: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for resource in module.get("resources", []):
        if (
            isinstance(resource, dict)
            and resource.get("mode", "managed") == "managed"
            and isinstance(resource.get("values"), dict)
        ):
            yield str(resource.get("type")), resource["values"]
    for child in module.get("child_modules", []):
        if isinstance(child, dict):
            yield from _module_resources(child)
