"""`import-segment`: Segment's documents in, the TOML our configuration takes out.

The documents follow the published shapes: the Public API's `GET /destinations/{id}` and
`GET /destinations/{id}/subscriptions` answers (segmentio/public-api-sdk-typescript models
DestinationV1 and DestinationSubscription), and the Terraform provider's `segment_destination`
and `segment_destination_subscription` resources (settings kept as JSON text) as `terraform
show -json` writes a state or a plan, and as a `.tfstate` file holds them.
"""

from __future__ import annotations

import copy
import http.server
import io
import json
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consumer import cli, config
from consumer.core import segment_documents, segment_import
from consumer.core.decision import decide_message

HERE = Path(__file__).resolve().parent / "segment_documents"
DESTINATION = json.loads((HERE / "destination.json").read_text(encoding="utf-8"))
SUBSCRIPTIONS = json.loads((HERE / "subscriptions.json").read_text(encoding="utf-8"))
SECRET_ENV = "MIK_MOVABLE_INK_ACTIONS_BRAND_A_PASSWORD"
KAFKA = '[kafka]\nbootstrap_servers = "127.0.0.1:9092"\ntopics = ["segment-events"]\n\n'
SEND_ENTIRE_EVENT = "qM8zWvx5oE4ETQxQXKn8Tp"


def _subscriptions(document: dict[str, Any] = SUBSCRIPTIONS) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = document["data"]["subscriptions"]
    return listed


def _answer(subscriptions: list[dict[str, Any]]) -> dict[str, Any]:
    return {"data": {"subscriptions": subscriptions, "pagination": {"current": "MA=="}}}


def _subscription(number: int, **fields: Any) -> dict[str, Any]:
    return {
        "id": f"sub{number}",
        "name": f"Mapping {number}",
        "actionId": SEND_ENTIRE_EVENT,
        "actionSlug": "sendEntireEvent",
        "destinationId": "6548a1b2c3d4e5f6a7b8c9d0",
        "enabled": True,
        "trigger": 'type = "track"',
        "settings": {"data": {"@path": "$."}},
        **fields,
    }


def _import(
    destination: Any = DESTINATION, subscriptions: Any = SUBSCRIPTIONS, **options: Any
) -> segment_import.Translation:
    found, listed = segment_documents.from_public_api(destination, subscriptions)
    return segment_import.translate(found, listed, **options)


def _written_mappings(text: str) -> list[dict[str, Any]]:
    """The mapping tables as the configuration reads them (after `$$` and `${VAR}`)."""
    document = config._interpolate(tomllib.loads(text), "", {SECRET_ENV: "pw"})
    mappings: list[dict[str, Any]] = document["destinations"][0]["mappings"]
    return mappings


def _cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str, stdin: str = ""
) -> tuple[int, str, str]:
    destination = tmp_path / "destination.json"
    destination.write_text(json.dumps(DESTINATION))
    sources = [] if "--terraform" in args or "--fetch" in args else [
        "--destination", str(destination), "--subscriptions", str(tmp_path / "subscriptions.json")
    ]  # fmt: skip
    if not (tmp_path / "subscriptions.json").exists():
        (tmp_path / "subscriptions.json").write_text(json.dumps(SUBSCRIPTIONS))
    code = cli.main(["import-segment", *sources, *args])
    out, err = capsys.readouterr()
    return code, out, err


# -- the Public API's answers ------------------------------------------------------------------


def test_every_enabled_subscription_is_written_as_segment_stores_it(tmp_path: Path) -> None:
    translation = _import()
    assert translation.problems == ()
    text = segment_import.render(translation)
    enabled = [s for s in _subscriptions() if s["enabled"]]
    expected = [{"name": s["name"], "subscribe": s["trigger"], **s["settings"]} for s in enabled]
    assert _written_mappings(text) == expected  # Liquid, headers, `$` and odd names included
    # the destination: URL and username as given, the secret a placeholder
    table = tomllib.loads(text)["destinations"][0]
    settings_ = DESTINATION["data"]["destination"]["settings"]
    assert table["movable_ink_url"] == settings_["movable_ink_url"]
    assert table["username"] == settings_["username"]
    assert table["password"] == "${" + SECRET_ENV + "}"
    assert "2f9a" not in text and f"set {SECRET_ENV} to it" in text
    # a config `run` accepts: the file under a [kafka] table, the variable set
    path = tmp_path / "config.toml"
    path.write_text(KAFKA + text)
    loaded = config.load(path, {SECRET_ENV: "pw"})
    (destination,) = loaded.destinations
    assert [s.name for s in destination.subscriptions] == [s["name"] for s in enabled]
    assert destination.password.reveal() == "pw"


def test_a_disabled_subscription_is_written_commented_out_with_a_note() -> None:
    text = segment_import.render(_import())
    block = text[text.index('## Segment subscription "Product Viewed"') :].split("\n\n")[0]
    assert "## Disabled in Segment" in block
    assert (
        '# name = "Product Viewed"' in block
        and '# subscribe = "event = \\"Product Viewed\\""' in block
    )
    uncommented = tomllib.loads(
        "\n".join(line.removeprefix("# ").removeprefix("#") for line in block.splitlines())
    )
    assert uncommented["destinations"]["mappings"][0]["data"] == {"@path": "$.properties"}
    assert "Product Viewed" not in {m["name"] for m in _written_mappings(text)}


def test_the_decisions_are_segments_mappings_applied() -> None:
    loaded = _settings(segment_import.render(_import()))
    event = {
        "type": "track",
        "event": "Order Completed",
        "userId": "u1",
        "messageId": "m1",
        "properties": {"total": 30, "products": [{"sku": "A", "price": 10, "x": 1}]},
        "context": {"library": {"name": "analytics.js"}},
    }
    decision = decide_message(event, loaded.destinations)
    requests = {d.mapping: d.request for d in decision.deliveries}
    assert set(requests) == {"Send Entire Event", 'Order Completed → "Signals" (EU) [v2]'}
    assert requests["Send Entire Event"].body == event
    signals = requests['Order Completed → "Signals" (EU) [v2]']
    assert signals.body == {
        "event": "Order Completed",
        "userId": "u1",
        "total": 30,
        "products": [{"sku": "A", "price": 10}],
        "greeting": "Hello there",
        "cost": "${price} in $$",
    }
    assert signals.headers["X-Brand"] == "brand-a" and signals.headers["X-Source"] == "analytics.js"


def _settings(text: str) -> config.Settings:
    return config.parse_settings({**tomllib.loads(KAFKA + text)}, {SECRET_ENV: "pw"})


def test_a_subscription_without_data_is_sent_with_no_body_as_in_segment() -> None:
    answer = _answer([_subscription(1, settings={}), _subscription(2, settings={"data": None})])
    text = segment_import.render(_import(subscriptions=answer))
    assert text.count("maps no data") == 2
    event = {"type": "track", "userId": "u", "messageId": "m"}
    decision = decide_message(event, _settings(text).destinations)
    assert [d.request.body for d in decision.deliveries] == [None, None]
    assert all("Content-Type" not in d.request.headers for d in decision.deliveries)


def test_a_fifty_subscription_destination_is_accepted_whole() -> None:
    odd = ["Ünïcødé ✓", 'quote " and \\ backslash', "tab\there", "${NOT_A_VAR}", "#hash", "  "]
    subscriptions = [
        _subscription(
            i,
            name=f"{odd[i % len(odd)]} {i}",
            trigger=f'type = "track" and event = "Event {i}"',
            settings={
                "data": {"n": i, "e": {"@path": "$.event"}, "l": {"@liquid": "{{ userId }}"}},
                **({"headers": {"X-N": str(i)}} if i % 2 else {}),
            },
        )
        for i in range(50)
    ]
    translation = _import(subscriptions=_answer(subscriptions))
    assert translation.problems == ()
    loaded = _settings(segment_import.render(translation))
    names = [s.name for s in loaded.destinations[0].subscriptions]
    assert names == [s["name"] for s in subscriptions]
    decision = decide_message(
        {"type": "track", "event": "Event 7", "userId": "u", "messageId": "m"}, loaded.destinations
    )
    assert [
        (d.mapping, d.request.body, d.request.headers.get("X-N")) for d in decision.deliveries
    ] == [(f"{odd[7 % len(odd)]} 7", {"n": 7, "e": "Event 7", "l": "u"}, "7")]


def test_a_repeated_name_is_made_unique_with_the_subscription_id() -> None:
    answer = _answer([_subscription(1, name="Same"), _subscription(2, name="Same")])
    text = segment_import.render(_import(subscriptions=answer))
    assert [m["name"] for m in _written_mappings(text)] == ["Same", "Same (sub2)"]
    assert "Renamed" in text


@settings(max_examples=150, deadline=None)
@given(
    text=st.text(st.characters(exclude_categories=["Cs"]), max_size=12),
    key=st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=6),
)
def test_any_text_is_written_so_that_the_configuration_reads_it_back(text: str, key: str) -> None:
    """`$`, `${...}`, quotes, backslashes, control characters, any Unicode: exact."""
    data = {key: text, "nested": [text, {key: {"@literal": text}}]}
    answer = _answer(
        [
            _subscription(
                1, name=text or "x", trigger=text, settings={"data": data, "headers": {key: text}}
            )
        ]
    )
    translation = _import(subscriptions=answer)
    (mapping,) = _written_mappings(segment_import.render(translation))
    assert mapping == {"name": text or "x", "subscribe": text, "data": data, "headers": {key: text}}


# -- Terraform -----------------------------------------------------------------------------------


def _terraform_values() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The fixture's destination and subscriptions as the provider's resources hold them."""
    found = DESTINATION["data"]["destination"]
    destination = {
        "id": found["id"],
        "name": found["name"],
        "enabled": True,
        "source_id": found["sourceId"],
        "settings": json.dumps({**found["settings"], "password": "s3cr3t-from-state"}),
        "metadata": {
            "id": found["metadata"]["id"],
            "name": found["metadata"]["name"],
            "slug": found["metadata"]["slug"],
            "actions": [
                {"id": SEND_ENTIRE_EVENT, "slug": "sendEntireEvent", "name": "Send Entire Event"}
            ],
        },
    }
    subscriptions = [
        {
            "id": s["id"],
            "destination_id": found["id"],
            "name": s["name"],
            "enabled": s["enabled"],
            "action_id": s["actionId"],
            "action_slug": s["actionSlug"],
            "trigger": s["trigger"],
            "settings": json.dumps(s["settings"]),
            "model_id": None,
        }
        for s in _subscriptions()
    ]
    return destination, subscriptions


def _resource(kind: str, name: str, values: dict[str, Any]) -> dict[str, Any]:
    return {
        "address": f"{kind}.{name}",
        "mode": "managed",
        "type": kind,
        "name": name,
        "provider_name": "registry.terraform.io/segmentio/segment",
        "schema_version": 0,
        "values": values,
        "sensitive_values": {},
    }


def _show_state() -> dict[str, Any]:
    destination, subscriptions = _terraform_values()
    resources = [_resource("segment_source", "web", {"id": "qTRZy4FsBNPnvETsbRzrbD"})]
    resources.append(_resource("segment_destination", "movable_ink", destination))
    return {
        "format_version": "1.0",
        "terraform_version": "1.9.5",
        "values": {
            "root_module": {
                "resources": resources,
                "child_modules": [
                    {
                        "address": "module.movable_ink",
                        "resources": [
                            _resource("segment_destination_subscription", f"s{i}", s)
                            for i, s in enumerate(subscriptions)
                        ],
                    }
                ],
            }
        },
    }


def _show_plan() -> dict[str, Any]:
    """A plan: the slugs are not known yet (read-only); the destination's actions tell them."""
    state = _show_state()
    planned = copy.deepcopy(state["values"])
    for module in [planned["root_module"], *planned["root_module"]["child_modules"]]:
        for resource in module["resources"]:
            resource["values"].pop("action_slug", None)
    return {"format_version": "1.2", "planned_values": planned, "prior_state": state}


def _tfstate() -> dict[str, Any]:
    destination, subscriptions = _terraform_values()
    return {
        "version": 4,
        "terraform_version": "1.9.5",
        "serial": 12,
        "lineage": "c0ffee",
        "outputs": {},
        "resources": [
            {
                "mode": "managed",
                "type": "segment_destination",
                "name": "movable_ink",
                "provider": 'provider["registry.terraform.io/segmentio/segment"]',
                "instances": [{"schema_version": 0, "attributes": destination}],
            },
            {
                "mode": "managed",
                "type": "segment_destination_subscription",
                "name": "mapping",
                "provider": 'provider["registry.terraform.io/segmentio/segment"]',
                "instances": [
                    {"index_key": i, "schema_version": 0, "attributes": s}
                    for i, s in enumerate(subscriptions)
                ],
            },
        ],
    }


@pytest.mark.parametrize("document", [_show_state, _show_plan, _tfstate], ids=lambda f: f.__name__)
def test_terraform_state_plan_and_state_file_import_as_the_public_api_does(document: Any) -> None:
    found, listed = segment_documents.from_terraform(document())
    translation = segment_import.translate(found, listed)
    assert translation.problems == ()
    text = segment_import.render(translation)
    assert text == segment_import.render(_import())
    assert "s3cr3t-from-state" not in text


def test_terraform_with_two_destinations_asks_which(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = _show_state()
    other = _resource("segment_destination", "other", {**_terraform_values()[0], "id": "d2"})
    state["values"]["root_module"]["resources"].append(other)
    path = tmp_path / "state.json"
    path.write_text(json.dumps(state))
    code, _, err = _cli(tmp_path, capsys, "--terraform", str(path))
    assert code == 2 and "--destination-id" in err
    code, _, err = _cli(tmp_path, capsys, "--terraform", str(path), "--destination-id", "d2")
    assert code == 2 and "error: destination: no enabled subscription can be carried" in err
    first = DESTINATION["data"]["destination"]["id"]
    code, out, err = _cli(tmp_path, capsys, "--terraform", str(path), "--destination-id", first)
    assert code == 0, err
    assert out == segment_import.render(_import())


# -- refusals ------------------------------------------------------------------------------------

REFUSED = [
    _subscription(1, name="Identify action", actionSlug="identify", actionId="x1"),
    _subscription(2, name="Unknown field", settings={"data": {"@path": "$."}, "throttle": 5}),
    _subscription(3, name="Bad trigger", trigger='type = "track" AND event = "x"'),
    _subscription(4, name="Bad mapping", settings={"data": {"@nope": 1}}),
    _subscription(5, name="Null", settings={"data": {"a": None}}),
    _subscription(6, name="Fine"),
    _subscription(7, name="PUT", settings={"data": {"@path": "$."}, "method": "PUT"}),
    _subscription(8, name="Disabled and odd", enabled=False, actionSlug="conversion"),
]


def test_what_cannot_be_carried_is_refused_one_line_each_and_nothing_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "subscriptions.json").write_text(json.dumps(_answer(REFUSED)))
    out = tmp_path / "out.toml"
    code, _, err = _cli(tmp_path, capsys, "--out", str(out))
    assert code == 2 and not out.exists()
    lines = [line for line in err.splitlines() if line.startswith("error: subscription")]
    assert len(lines) == 6, err
    for name, why in [
        ("Identify action", "'identify'; only Send Entire Event"),
        ("Unknown field", "'throttle' is not one of Send Entire Event's"),
        ("Bad trigger", "subscribe is not a valid trigger"),
        ("Bad mapping", "@nope"),
        ("Null", "null, which TOML cannot write"),
        ("PUT", "'PUT'; the consumer POSTs"),
    ]:
        assert any(f'"{name}"' in line and why in line for line in lines), (name, err)
    assert "nothing written (--partial" in err


def test_partial_writes_what_can_be_carried_and_notes_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "subscriptions.json").write_text(json.dumps(_answer(REFUSED)))
    out = tmp_path / "out.toml"
    code, _, _ = _cli(tmp_path, capsys, "--out", str(out), "--partial")
    assert code == 2
    text = out.read_text()
    assert [m["name"] for m in _written_mappings(text)] == ["Fine"]
    assert text.count("## Not carried:") == 6 and "## It could not be carried as it is" in text
    _settings(text)  # loads


def test_a_destination_setting_we_do_not_know_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = copy.deepcopy(DESTINATION)
    document["data"]["destination"]["settings"]["region"] = "eu"
    document["data"]["destination"]["metadata"]["slug"] = "actions-webhook"
    translation = _import(destination=document)
    assert [str(p) for p in translation.problems] == [
        "destination: it is a 'actions-webhook' destination, not 'actions-movable-ink'",
        "destination: the setting 'region' is not one the consumer knows "
        "(movable_ink_url, username, password, apiKey)",
    ]


def test_the_configuration_checks_the_destination_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = copy.deepcopy(DESTINATION)
    document["data"]["destination"]["settings"]["movable_ink_url"] = "https://user:pw@host/x/KEY"
    (tmp_path / "d.json").write_text(json.dumps(document))
    (tmp_path / "subscriptions.json").write_text(json.dumps(SUBSCRIPTIONS))
    code = cli.main(["import-segment", "--destination", str(tmp_path / "d.json"),
                     "--subscriptions", str(tmp_path / "subscriptions.json")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "error: destination: " in err and "must not carry credentials" in err
    assert "user:pw" not in err


# -- --check ---------------------------------------------------------------------------------


def test_check_explains_events_under_the_imported_configuration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text(
        json.dumps(
            {"type": "identify", "userId": "u1", "messageId": "m2", "traits": {"email": "a@b.c"}}
        )
        + "\n"
        + json.dumps({"type": "alias", "userId": "u1", "previousId": "a", "messageId": "m3"})
        + "\n"
    )
    code, out, err = _cli(
        tmp_path, capsys, "--out", str(tmp_path / "c.toml"), "--check", str(events)
    )
    assert code == 0, err
    first, second = (json.loads(line) for line in out.splitlines())
    assert [(d["mapping"], d["body"]) for d in first["deliveries"]] == [
        (
            "Send Entire Event",
            {"type": "identify", "userId": "u1", "messageId": "m2", "traits": {"email": "a@b.c"}},
        ),
        ("Identify (template)", {"id": "u1", "email": "a@b.c"}),
    ]
    assert first["deliveries"][0]["headers"]["Authorization"] == "Basic ***"
    assert (second["outcome"], second["reason"]) == ("filtered", "trigger.no_match")
    code, _, err = _cli(tmp_path, capsys, "--check", str(events))
    assert code == 2 and "--check needs --out" in err


# -- the Public API, fetched -----------------------------------------------------------------


class _SegmentApi(http.server.BaseHTTPRequestHandler):
    token = "sgp_test-token-value"

    def do_GET(self) -> None:
        if self.headers.get("Authorization") != f"Bearer {self.token}":
            return self._answer(401, {"errors": [{"type": "unauthorized"}]})
        destination = DESTINATION["data"]["destination"]["id"]
        listed = _subscriptions()
        pages = {
            f"/destinations/{destination}": DESTINATION,
            f"/destinations/{destination}/subscriptions?pagination.count=200": {
                "data": {
                    "subscriptions": listed[:2],
                    "pagination": {"current": "MA==", "next": "Mg=="},
                }
            },
            f"/destinations/{destination}/subscriptions?pagination.count=200&pagination.cursor=Mg%3D%3D": {
                "data": {
                    "subscriptions": listed[2:],
                    "pagination": {"current": "Mg==", "next": None},
                }
            },
        }
        if self.path not in pages:
            return self._answer(404, {"errors": [{"type": "not-found"}]})
        return self._answer(200, pages[self.path])

    def _answer(self, status: int, document: Any) -> None:
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def segment_api() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SegmentApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_fetch_reads_both_answers_every_page_with_the_token(
    segment_api: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SEGMENT_PUBLIC_API_TOKEN", _SegmentApi.token)
    destination = DESTINATION["data"]["destination"]["id"]
    code, out, err = _cli(tmp_path, capsys, "--fetch", destination, "--api-url", segment_api)
    assert code == 0, err
    assert out == segment_import.render(_import())


def test_fetch_refused_names_the_variable_never_the_token(
    segment_api: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SEGMENT_PUBLIC_API_TOKEN", "sgp_wrong-token-value")
    code, _, err = _cli(tmp_path, capsys, "--fetch", "abc", "--api-url", segment_api)
    assert (
        code == 2 and "refused GET /destinations/abc" in err and "SEGMENT_PUBLIC_API_TOKEN" in err
    )
    assert "sgp_wrong" not in err
    monkeypatch.delenv("SEGMENT_PUBLIC_API_TOKEN")
    code, _, err = _cli(tmp_path, capsys, "--fetch", "abc", "--api-url", segment_api)
    assert code == 2 and "needs a Segment Public API token in SEGMENT_PUBLIC_API_TOKEN" in err


def test_standard_input_is_read_for_one_document(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(_show_state())))
    code, out, err = _cli(tmp_path, capsys, "--terraform", "-")
    assert code == 0, err
    assert out == segment_import.render(_import())
