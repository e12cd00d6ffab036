from __future__ import annotations

import io
import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

from hypothesis import given, settings

from consumer import config
from consumer.commands.explain import explain, read_messages
from tests.pipeline import BASE_CONFIG
from tests.strategies import json_values

CONFIG = (
    BASE_CONFIG
    + """
[[destinations.mappings]]
name = "Send Entire Event"
subscribe = 'type = "identify" or type = "track"'
headers = { "X-Brand" = "acme" }
"""
)
ENV = {"MI_USER": "access-id", "MI_PASSWORD": "pw-secret"}


def run_cli(
    tmp_path: Path, stdin: str, *args: str, text: str = CONFIG
) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return subprocess.run(
        [sys.executable, "-m", "consumer", "explain", "--config", str(path), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**ENV, "PATH": "/usr/bin:/bin"},
        check=False,
    )


def test_explain_shows_the_exact_request_for_each_message(tmp_path: Path) -> None:
    track = {"type": "track", "messageId": "m1", "userId": "u", "event": "Signed Up"}
    page = {"type": "page", "messageId": "m2", "anonymousId": "a"}
    done = run_cli(tmp_path, "\n".join(json.dumps(m) for m in [track, page]) + "\n")
    assert done.returncode == 0, done.stderr
    first, second = (json.loads(line) for line in done.stdout.splitlines())
    assert (
        first
        == {
            "messageId": "m1",
            "outcome": "deliver",
            "reason": None,
            "deliveries": [
                {
                    "destination": "movable-ink",
                    "mapping": "Send Entire Event",
                    "url": "https://collector.movableink-dmz.com/behavioral/***",  # the key is masked, as in logs
                    "headers": {
                        "Authorization": "Basic ***",
                        "Content-Type": "application/json",
                        "X-Brand": "acme",
                    },
                    "body": track,
                }
            ],
            "destinations": {"movable-ink": {"outcome": "deliver", "reason": None, "warnings": []}},
        }
    )
    assert (second["outcome"], second["reason"], second["deliveries"]) == (
        "filtered",
        "trigger.no_match",
        [],
    )
    assert "pw-secret" not in done.stdout + done.stderr


def test_explain_reads_arrays_files_and_reports_bad_lines(tmp_path: Path) -> None:
    events = tmp_path / "events.json"
    events.write_text(json.dumps([{"type": "identify", "userId": "u"}, {"type": "track"}]))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"type": "track", "userId": "u"}\nnot json\n')
    done = run_cli(tmp_path, "", str(events), str(bad))
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(x["outcome"], x["reason"]) for x in lines] == [
        ("deliver", None),
        ("invalid", "message.missing_identity"),
        ("deliver", None),
        ("invalid", "decode.invalid_json"),
    ]


def test_a_configuration_error_exits_2_with_one_line(tmp_path: Path) -> None:
    done = run_cli(tmp_path, "", text=CONFIG.replace('"identify"', '"identify" AND'))
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1
    assert done.stderr.startswith(
        "error: destinations.movable-ink.mappings.'Send Entire Event'.subscribe"
    )


def test_an_unreadable_events_file_exits_2(tmp_path: Path) -> None:
    done = run_cli(tmp_path, "", str(tmp_path / "missing.json"))
    assert done.returncode == 2 and "cannot read" in done.stderr


def test_read_messages_accepts_one_object_per_file() -> None:
    assert list(read_messages('{"type": "track"}')) == [{"type": "track"}]


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_explain_never_crashes_on_arbitrary_json(value: Any) -> None:
    settings_ = config.parse_settings(tomllib.loads(CONFIG), ENV)
    out = io.StringIO()
    explain([io.StringIO(json.dumps(value))], settings_.destinations, out)
    for line in out.getvalue().splitlines():
        assert json.loads(line)["outcome"] in {"deliver", "filtered", "invalid"}


MAPPED = """
[[destinations.mappings]]
name = "By kind"
subscribe = 'type="track"'
data = { "@path" = "$.properties.payload" }
headers = { "X-Count" = { "@path" = "$.properties.count" }, "X-Note" = { "@path" = "$.properties.note" } }
"""


def test_explain_shows_the_send_or_no_send_decision_of_each_mapping(tmp_path: Path) -> None:
    text = (
        CONFIG.replace(
            'subscribe = \'type = "identify" or type = "track"\'',
            "subscribe = 'type = \"identify\"'",
        )
        + MAPPED
    )
    messages = [
        {"type": "track", "userId": "u", "properties": {"payload": {"a": 1}, "count": 10.0}},
        {"type": "track", "userId": "u", "properties": {"payload": "text"}},
        {"type": "track", "userId": "u", "properties": {"payload": {}, "note": "a\nb"}},
        {"type": "track", "userId": "u", "properties": {}},
    ]
    done = run_cli(tmp_path, "\n".join(json.dumps(m) for m in messages), text=text)
    assert done.returncode == 0, done.stderr
    sent, text_data, bad_header, nothing = (json.loads(line) for line in done.stdout.splitlines())
    (delivery,) = sent["deliveries"]
    assert delivery["headers"]["X-Count"] == "10" and delivery["body"] == {"a": 1}
    verdict = text_data["destinations"]["movable-ink"]
    assert (text_data["outcome"], verdict["reason"]) == ("invalid", "mapping.data_not_object")
    assert verdict["warnings"] == ["mapping 'By kind': Data must be an object but it was a string"]
    assert bad_header["reason"] == "mapping.invalid_header"
    assert "line break" in bad_header["destinations"]["movable-ink"]["warnings"][0]
    (empty,) = nothing["deliveries"]
    assert empty["body"] is None and "Content-Type" not in empty["headers"]
    assert empty["note"].startswith("sent with no body and no Content-Type")


EXACT = """
[[destinations.mappings]]
name = "Decoded"
subscribe = 'type = track'
data = { n = { "@json" = { mode = "decode", value = { "@path" = "$.properties.j" } } }, "e" = 1e-7 }

[[destinations.mappings]]
name = "Text data"
subscribe = 'type = track'
data = { "@path" = "$.event" }
"""


def test_explain_prints_the_body_bytes_sent_and_each_mappings_own_outcome(
    tmp_path: Path,
) -> None:
    """`@json` decoding 1e400 gives Infinity, which JSON.stringify (and we) send as null; the
    dry run prints those bytes. The mapping whose data is text is rejected alone."""
    message = {"type": "track", "userId": "u", "event": "E", "properties": {"j": "1e400"}}
    done = run_cli(tmp_path, json.dumps(message), text=CONFIG + EXACT)
    assert done.returncode == 0, done.stderr
    assert '"mapping": "Decoded"' in done.stdout
    assert '"body": {"n":null,"e":1e-7}' in done.stdout
    (line,) = (json.loads(text) for text in done.stdout.splitlines())
    assert line["outcome"] == "deliver"
    assert [d["mapping"] for d in line["deliveries"]] == ["Send Entire Event", "Decoded"]
    assert line["destinations"]["movable-ink"]["rejected"] == [
        {"mapping": "Text data", "reason": "mapping.data_not_object"}
    ]
