"""Segment's record of a Movable Ink (Actions) destination -> our `[[destinations]]` TOML.

Pure: documents in (the Public API's answers for one destination, or a Terraform state or plan
as JSON), a `Translation` out, and its TOML text. What Segment stores is carried exactly (each
subscription's trigger and its `data` and `headers` fields as they are); what cannot be carried
is a `Problem` naming the subscription, never a silent change. The secret is never written: a
`${VAR}` placeholder stands for it. `consumer import-segment` runs the configuration's own
checks on the result.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import tomli_w

from consumer.core.segment_documents import SegmentDestination, SegmentSubscription

SLUG = "actions-movable-ink"
ACTION_SLUG = "sendEntireEvent"
SETTINGS = ("movable_ink_url", "username", "password", "apiKey")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# A `$` the configuration would read as `${VAR}` or `$$` is written doubled (`$$` is one `$`).
_INTERPOLATED = re.compile(r"\$(?=[${])")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_INT64 = range(-(2**63), 2**63)


class Problem(NamedTuple):
    """What cannot be carried, and where: "destination" or a subscription's name and id."""

    subject: str
    text: str

    def __str__(self) -> str:
        return f"{self.subject}: {self.text}"


@dataclass(frozen=True)
class ImportedMapping:
    """One subscription as a `[[destinations.mappings]]` table (`table`, as written: `$`
    escaped), with the notes written above it. Written live when enabled and not refused."""

    subscription: SegmentSubscription
    table: dict[str, Any]
    notes: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()

    @property
    def live(self) -> bool:
        return self.subscription.enabled and not self.refused


@dataclass(frozen=True)
class Translation:
    destination: SegmentDestination
    table: dict[str, Any]  # the [[destinations]] table without its mappings, as written
    secret_setting: str
    secret_env: str
    mappings: tuple[ImportedMapping, ...]
    problems: tuple[Problem, ...]  # the destination's and every enabled subscription's

    def refuse(self, subscription_id: str, text: str) -> Translation:
        """The same, with one more reason not to carry that subscription."""
        mappings = tuple(
            replace(m, refused=(*m.refused, text)) if m.subscription.id == subscription_id else m
            for m in self.mappings
        )
        subject = next(
            m.subscription.subject for m in mappings if m.subscription.id == subscription_id
        )
        return replace(self, mappings=mappings, problems=(*self.problems, Problem(subject, text)))

    def with_problem(self, text: str) -> Translation:
        return replace(self, problems=(*self.problems, Problem("destination", text)))

    def document(self) -> dict[str, Any]:
        """The TOML document as written (before `${VAR}` interpolation)."""
        live = [m.table for m in self.mappings if m.live]
        return {"destinations": [{**self.table, "mappings": live}]}


# -- translating -----------------------------------------------------------------------------


def default_name(segment_name: str) -> str:
    """A destination name the configuration accepts, from Segment's display name."""
    name = re.sub(r"[^a-z0-9_.-]+", "-", segment_name.lower()).strip("-._")[:63].rstrip("-._")
    return name or "movable-ink"


def default_secret_env(name: str, setting: str) -> str:
    """`MIK_<NAME>_PASSWORD` (or `_API_KEY`): one variable per destination."""
    stem = re.sub(r"[^A-Z0-9]+", "_", name.upper()).strip("_")
    return f"MIK_{stem}_{'API_KEY' if setting == 'apiKey' else 'PASSWORD'}"


def translate(
    destination: SegmentDestination,
    subscriptions: list[SegmentSubscription],
    *,
    name: str | None = None,
    secret_env: str | None = None,
) -> Translation:
    """The TOML tables for one destination, and every problem found on the way."""
    name = default_name(destination.name) if name is None else name
    problems = [Problem("destination", text) for text in _destination_problems(destination)]
    settings = destination.settings if isinstance(destination.settings, dict) else {}
    url, username = settings.get("movable_ink_url"), settings.get("username")
    legacy = bool(settings.get("apiKey")) and not username and not settings.get("password")
    secret_setting = "apiKey" if legacy else "password"
    env = secret_env or default_secret_env(name, secret_setting)
    if not _ENV_NAME.match(env):
        problems.append(Problem("destination", f"{env!r} is not a variable name (--secret-env)"))
    table: dict[str, Any] = {"name": name}
    for key, value in (("movable_ink_url", url), ("username", None if legacy else username)):
        if isinstance(value, str):
            table[key] = _escape(value)  # written as given; the configuration checks them
        elif value is not None:
            problems.append(Problem("destination", f"the setting {key!r} is not text"))
    table[secret_setting] = f"${{{env}}}"
    mappings: list[ImportedMapping] = []
    used: set[str] = set()  # the names given so far (a repeated one is made unique)
    for subscription in subscriptions:
        mapping = _mapping(subscription, destination, url, used)
        mappings.append(mapping)
        if subscription.enabled:
            problems.extend(Problem(subscription.subject, text) for text in mapping.refused)
    return Translation(destination, table, secret_setting, env, tuple(mappings), tuple(problems))


def _destination_problems(destination: SegmentDestination) -> list[str]:
    problems = []
    if destination.slug is not None and destination.slug != SLUG:
        problems.append(f"it is a {destination.slug!r} destination, not {SLUG!r}")
    if not isinstance(destination.settings, dict):
        problems.append("its settings are not a JSON object")
    else:
        known = ", ".join(SETTINGS)
        problems.extend(
            f"the setting {key!r} is not one the consumer knows ({known})"
            for key in destination.settings
            if key not in SETTINGS
        )
    return problems


def _mapping(
    subscription: SegmentSubscription, destination: SegmentDestination, url: Any, used: set[str]
) -> ImportedMapping:
    """One subscription's table, its notes, and why it cannot be carried (if it cannot)."""
    refused = []
    slug = subscription.action_slug or destination.actions.get(subscription.action_id)
    if slug is None:
        refused.append(f"the document does not say which action {subscription.action_id!r} is")
    elif slug != ACTION_SLUG:
        refused.append(f"it uses the action {slug!r}; only Send Entire Event ({ACTION_SLUG!r}) "
                       "can be carried")  # fmt: skip
    if subscription.model_id:
        refused.append(f"it is a Reverse ETL subscription (model {subscription.model_id})")
    notes = []
    name = subscription.name or f"subscription {subscription.id}"
    if name in used:
        name = f"{name} ({subscription.id})"
        notes.append("Renamed: an earlier subscription has the same name.")
    used.add(name)
    fields = subscription.settings if isinstance(subscription.settings, dict) else {}
    if not isinstance(subscription.settings, dict):
        refused.append("its settings are not a JSON object")
    refused.extend(p for k, v in fields.items() if (p := _field_problem(k, v, url)))
    given = {"subscribe": subscription.trigger, "data": fields.get("data")}
    given["headers"] = fields.get("headers")  # null or missing: no headers, as in Segment
    if not isinstance(subscription.trigger, str):
        refused.append("its trigger is not text")
        del given["subscribe"]
    if given["data"] is None:
        given["data"] = ""  # resolves to nothing, as Segment's missing or null `data` does
        notes.append("Segment's subscription maps no data: sent with no body, as in Segment.")
    table: dict[str, Any] = {"name": _escape(name)}
    for key, value in given.items():
        problem = None if value is None else _uncarriable(value, key)
        if problem is not None:
            refused.append(problem)
        elif value is not None:
            table[key] = _escape(value)
    if any(table.get(k, v) != v for k, v in given.items()):
        notes.append("A `$$` below is one `$` (the configuration reads `${VAR}` as a variable).")
    if not subscription.enabled:
        notes.insert(0, "Disabled in Segment: to enable it, remove one '# ' from each line below.")
        notes.extend(f"It could not be carried as it is: {text}." for text in refused)
    return ImportedMapping(subscription, table, tuple(notes), tuple(refused))


def _field_problem(key: str, value: Any, url: Any) -> str | None:
    """Why an action field cannot be carried (None: it can). Later versions of the action
    added fields; each is carried where its value is what the consumer does anyway."""
    batch_mode = "the consumer's batch mode is [destinations.batch], off by default"
    if key in ("data", "headers"):
        return None
    if key == "method":
        return None if value in (None, "POST") else f"it sends with {value!r}; the consumer POSTs"
    if key == "movable_ink_url":
        if value in (None, "", url):
            return None
        return "it sets its own Movable Ink URL: import it as another [[destinations]]"
    if key == "batch_size":
        return None if value in (None, 0) else f"it sets batch_size {value!r}; {batch_mode}"
    if key == "enable_batching":
        return None if value in (None, False) else f"it enables batching; {batch_mode}"
    return f"the field {key!r} is not one of Send Entire Event's (data, headers)"


def _uncarriable(value: Any, where: str) -> str | None:
    """What in a JSON value TOML cannot hold (null, an integer past 64 bits, a lone
    surrogate), or None if it can be written exactly."""
    if value is None:
        return f"{where} holds null, which TOML cannot write"
    if isinstance(value, int) and not isinstance(value, bool) and value not in _INT64:
        return f"{where} holds {value}, an integer past what TOML can write"
    if isinstance(value, str) and not _encodable(value):
        return f"{where} holds text with a lone surrogate, which TOML cannot write"
    if isinstance(value, list):
        return next(
            (p for i, v in enumerate(value) if (p := _uncarriable(v, f"{where}[{i}]"))), None
        )
    if isinstance(value, dict):
        for key, item in value.items():
            problem = _uncarriable(key, f"{where} key") or _uncarriable(item, f"{where}.{key}")
            if problem:
                return problem
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _escape(value: Any) -> Any:
    """`value` with every text's `$` doubled where the configuration would interpolate it
    (keys are not interpolated, so they are kept)."""
    if isinstance(value, str):
        return _INTERPOLATED.sub("$$", value)
    if isinstance(value, list):
        return [_escape(v) for v in value]
    if isinstance(value, dict):
        return {k: _escape(v) for k, v in value.items()}
    return value


# -- writing -----------------------------------------------------------------------------------


def render(translation: Translation) -> str:
    """The TOML text: a header saying where it came from and which variable holds the secret,
    the destination, its live mappings, and the others (disabled or refused) commented out with
    their notes. It reads back as `translation.document()`, or this raises `AssertionError`."""
    source = translation.destination
    mappings = translation.mappings
    disabled = sum(not m.subscription.enabled for m in mappings)
    refused = sum(m.subscription.enabled and bool(m.refused) for m in mappings)
    secret = "Access Secret" if translation.secret_setting == "password" else "API key"
    header = [
        "# Imported from Segment by `movableink-consumer import-segment`: destination",
        f"# {json.dumps(source.name, ensure_ascii=False)} (id {source.id}), {len(mappings)} "
        f"subscriptions: {len(mappings) - disabled - refused} carried, {disabled} disabled, "
        f"{refused} refused.",
        "# Disabled and refused subscriptions are written commented out, each with a note.",
        f"# The {secret} is not written here: set {translation.secret_env} to it before `run`.",
    ]
    if not source.enabled:
        header.append("# The destination is disabled in Segment.")
    blocks = [
        "\n".join(map(_comment, header)) + "\n[[destinations]]\n" + tomli_w.dumps(translation.table)
    ]
    for mapping in mappings:
        notes = [f"Segment {mapping.subscription.subject}.", *mapping.notes]
        if mapping.subscription.enabled:
            notes.extend(f"Not carried: {text}." for text in mapping.refused)
        body = "[[destinations.mappings]]\n" + _nest(tomli_w.dumps(mapping.table))
        if not mapping.live:
            body = "".join(f"# {line}\n" if line else "#\n" for line in body[:-1].split("\n"))
        mark = "#" if mapping.live else "##"  # notes stay comments when a block is uncommented
        blocks.append("".join(f"{mark} {_comment(note)}\n" for note in notes) + body)
    text = "\n".join(blocks)
    if tomllib.loads(text) != translation.document():
        raise AssertionError("the TOML written does not read back as the imported configuration")
    return text


def _comment(text: str) -> str:
    """Text a TOML comment can hold: control characters (a line break ends a comment)
    written as `\\uXXXX`."""
    return _CONTROL.sub(lambda c: f"\\u{ord(c.group()):04x}", text)


def _nest(text: str) -> str:
    """tomli-w's text for one mapping table, its table headers moved under
    `destinations.mappings` (a line that starts with `[` is a header: tomli-w indents the
    items of a multi-line array and writes no multi-line strings)."""
    lines = []
    for line in text[:-1].split("\n"):  # not splitlines: it also splits at U+2028 and others
        if line.startswith("["):
            brackets = "[[" if line.startswith("[[") else "["
            line = f"{brackets}destinations.mappings.{line[len(brackets) :]}"  # noqa: PLW2901
        lines.append(line)
    return "\n".join(lines) + "\n"
