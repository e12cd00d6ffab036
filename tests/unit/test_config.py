from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from consumer import config
from consumer.core import movableink
from consumer.core.errors import ConfigError
from consumer.settings import LoggingSettings
from tests.pipeline import BASE_CONFIG as BASE

ENV = {"MI_USER": "access-id", "MI_PASSWORD": "s3cret-value"}


def load(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> config.Settings:
    path = tmp_path / "config.toml"
    path.write_text(textwrap.dedent(text))
    return config.load(path, ENV if env is None else env)


def error(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text, env)
    return str(caught.value)


def test_the_issue_example_loads(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        """
        [kafka]
        bootstrap_servers = "127.0.0.1:9092"
        topics = ["segment-events"]
        group_id = "movableink-consumer"
        [kafka.properties]
        "security.protocol" = "SASL_SSL"
        [schema_registry]
        url = "http://registry:8081"
        [[destinations]]
        name = "movable-ink"
        movable_ink_url = "https://collector.movableink-dmz.com/behavioral/KEY"
        username = "${MI_USER}"
        password = "${MI_PASSWORD}"
        signals = "enforce"
        [[destinations.mappings]]
        name = "Send Entire Event"
        subscribe = 'type = "identify" or type = "track"'
        data = { "@path" = "$." }
        headers = { "X-Brand" = "acme" }
        """,
    )
    assert settings.kafka.properties == {"security.protocol": "SASL_SSL"}
    assert settings.schema_registry is not None
    assert settings.schema_registry.url == "http://registry:8081"
    (dest,) = settings.destinations
    assert dest.username == "access-id"
    assert dest.password.reveal() == "s3cret-value"
    (sub,) = dest.subscriptions
    assert sub.trigger.matches({"type": "track"}) and not sub.trigger.matches({"type": "page"})
    assert sub.headers is not None and sub.headers.apply({}) == {"X-Brand": "acme"}


def test_defaults(tmp_path: Path) -> None:
    settings = load(tmp_path, BASE)
    assert settings.kafka.group_id == "movableink-consumer"
    assert settings.kafka.value_format == "confluent"
    assert settings.kafka.dead_letter_topic == "{topic}.dlq"
    assert settings.schema_registry is None
    (dest,) = settings.destinations
    assert dest.signals == "enforce"
    assert dest.on_dead_letter == "continue"
    assert dest.max_event_age_s is None
    (preset,) = dest.subscriptions
    assert preset.name == movableink.PRESET_NAME
    assert preset.trigger.text == movableink.PRESET_SUBSCRIBE
    event = {"type": "identify", "userId": "u"}
    assert preset.data.apply(event) == event


def test_secrets_never_print(tmp_path: Path) -> None:
    (dest,) = load(tmp_path, BASE).destinations
    shown = f"{dest!r} {dest.password} {dest.password!r} {dest.authorization!r}"
    assert "s3cret-value" not in shown
    assert "***" in shown


def test_a_missing_environment_variable_names_the_setting(tmp_path: Path) -> None:
    message = error(tmp_path, BASE, {"MI_USER": "u"})
    assert message == "destinations[0].password refers to ${MI_PASSWORD}, which is not set."


def test_dollar_dollar_is_a_literal_dollar(tmp_path: Path) -> None:
    settings = load(tmp_path, BASE.replace("${MI_USER}", "a$$b"))
    assert settings.destinations[0].username == "a$b"


def test_environment_overrides_a_scalar(tmp_path: Path) -> None:
    env = {
        **ENV,
        "MIK__KAFKA__BOOTSTRAP_SERVERS": "broker:9093",
        "MIK__KAFKA__MAX_MESSAGE_BYTES": "500",
    }
    settings = load(tmp_path, BASE, env)
    assert settings.kafka.bootstrap_servers == "broker:9093"
    assert settings.kafka.max_message_bytes == 500


def test_the_group_instance_id_comes_from_the_pod_name(tmp_path: Path) -> None:
    assert load(tmp_path, BASE).kafka.group_instance_id == ""  # dynamic membership
    env = {**ENV, "MIK__KAFKA__GROUP_INSTANCE_ID": "movableink-consumer-6f9c8d7b5-x2k4q"}
    assert load(tmp_path, BASE, env).kafka.group_instance_id == env["MIK__KAFKA__GROUP_INSTANCE_ID"]


def test_legacy_api_key_is_basic_auth_with_an_empty_password(tmp_path: Path) -> None:
    text = BASE.replace('username = "${MI_USER}"\npassword = "${MI_PASSWORD}"', 'apiKey = "k"')
    (dest,) = load(tmp_path, text).destinations
    assert dest.authorization.reveal() == "Basic azo="  # base64("k:")


def test_an_empty_password_is_basic_auth_with_it_as_segment_sends_it(tmp_path: Path) -> None:
    text = BASE.replace('password = "${MI_PASSWORD}"', 'password = ""')
    (dest,) = load(tmp_path, text).destinations
    assert dest.authorization.reveal() == "Basic YWNjZXNzLWlkOg=="  # base64("access-id:")
    missing = BASE.replace('password = "${MI_PASSWORD}"\n', "")
    with pytest.raises(ConfigError, match="needs username and password"):
        load(tmp_path, missing)


def test_a_url_is_read_as_segment_reads_it(tmp_path: Path) -> None:
    idn = BASE.replace("collector.movableink-dmz.com/behavioral/KEY123", "bücher.example/a b/K")
    (dest,) = load(tmp_path, idn).destinations
    assert dest.movable_ink_url == "https://xn--bcher-kva.example/a%20b/K"
    bad = BASE.replace("collector.movableink-dmz.com", "a b.example")
    with pytest.raises(ConfigError, match="cannot be read as a URL"):
        load(tmp_path, bad)


def test_durations(tmp_path: Path) -> None:
    for text, seconds in [("30d", 2592000.0), ("4h", 14400.0), ("250ms", 0.25), ("90", 90.0)]:
        value = f'"{text}"' if not text.isdigit() else text
        (dest,) = load(tmp_path, BASE + f"max_event_age = {value}\n").destinations
        assert dest.max_event_age_s == seconds


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("bootstrap_servers", "bootstrap_server"),
            "Unknown setting kafka.bootstrap_server (did you mean kafka.bootstrap_servers?).",
        ),
        (
            ('topics = ["segment-events"]', "topics = []"),
            "kafka.topics must name at least one topic.",
        ),
        (
            ('topics = ["segment-events"]', 'topics = "segment-events"'),
            "kafka.topics must be a list.",
        ),
        (
            ('topics = ["segment-events"]', 'topics = ["a", "b"]\ndead_letter_topic = "dlq"'),
            "kafka.dead_letter_topic must contain {topic} when several topics are consumed.",
        ),
        (
            ('topics = ["segment-events"]', 'topics = ["t"]\nvalue_format = "protobuf"'),
            "kafka.value_format must be one of 'confluent', 'avro', 'json', not 'protobuf'.",
        ),
        (
            ('topics = ["segment-events"]', 'topics = ["t"]\nmax_message_bytes = "big"'),
            "kafka.max_message_bytes must be a whole number, not 'big'.",
        ),
        (
            ('name = "movable-ink"', 'name = "movable ink"'),
            "destinations.movable ink.name must be letters, digits, '.', '_' or '-' (1-63).",
        ),
        (
            ('username = "${MI_USER}"\n', ""),
            "destinations.movable-ink needs username and password (or the legacy apiKey).",
        ),
        (
            ("/behavioral/KEY123", "/"),
            "destinations.movable-ink.movable_ink_url must be the full http(s) endpoint ending in your key, such as https://collector.movableink-dmz.com/behavioral/KEY; got 'https://collector.movableink-dmz.com/'.",
        ),
        (
            ('name = "movable-ink"', 'name = "movable-ink"\nsignals = "strict"'),
            "destinations[0].signals must be one of 'enforce', 'warn', 'off', not 'strict'.",
        ),
        (
            ('name = "movable-ink"', 'name = "movable-ink"\nmax_event_age = "a month"'),
            "destinations[0].max_event_age must be a duration such as 10s, 5m, 4h or 30d, not 'a month'.",
        ),
    ],
)
def test_each_error_is_one_sentence_naming_the_setting(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    assert error(tmp_path, BASE.replace(*change)) == expected


def test_no_destination(tmp_path: Path) -> None:
    text = BASE.split("[[destinations]]", maxsplit=1)[0]
    assert error(tmp_path, text) == "At least one [[destinations]] table is required."


def test_url_errors_never_show_the_key(tmp_path: Path) -> None:
    message = error(tmp_path, BASE.replace("https://collector", "ftp://collector"))
    assert "KEY123" not in message


def test_an_unparsable_trigger_names_the_mapping_and_position(tmp_path: Path) -> None:
    text = BASE + '[[destinations.mappings]]\nname = "Tracks"\nsubscribe = \'type = "track" and\'\n'
    message = error(tmp_path, text)
    assert message.startswith(
        "destinations.movable-ink.mappings.'Tracks'.subscribe is not a valid trigger: "
    )
    assert "position" in message


def test_an_unknown_mapping_directive_is_a_config_error(tmp_path: Path) -> None:
    text = BASE + '[[destinations.mappings]]\nname = "M"\ndata = { "@json" = "$." }\n'
    assert "@json" in error(tmp_path, text)


def test_url_with_blanks_and_a_trailing_slash_is_read_as_segment_reads_it(tmp_path: Path) -> None:
    text = BASE.replace('"https://collector', '" HTTPS://Collector').replace('KEY123"', 'KEY123/ "')
    (dest,) = load(tmp_path, text).destinations
    assert dest.movable_ink_url == "https://collector.movableink-dmz.com/behavioral/KEY123/"


def test_a_headers_directive_is_accepted(tmp_path: Path) -> None:
    text = BASE + '[[destinations.mappings]]\nname = "M"\nheaders = { "@path" = "$.h" }\n'
    (dest,) = load(tmp_path, text).destinations
    (sub,) = dest.subscriptions
    assert sub.headers is not None and sub.headers.apply({"h": {"X": 1}}) == {"X": 1}


def test_equal_data_mappings_are_compiled_once_and_shared(tmp_path: Path) -> None:
    """So that the decision maps and encodes an event once for all their subscriptions."""
    second = "\n[[destinations]]" + BASE.split("\n[[destinations]]")[1].replace(
        '"movable-ink"', '"other"'
    )
    first, other = load(tmp_path, BASE + second).destinations
    assert first.subscriptions[0].data is other.subscriptions[0].data  # the default preset
    mappings = "".join(
        f'[[destinations.mappings]]\nname = "{name}"\ndata = {{ {data} }}\n'
        for name, data in [
            ("A", 'a = { "@path" = "$.x" }, b = 1'),
            ("Same", 'a = { "@path" = "$.x" }, b = 1'),
            ("Order", 'b = 1, a = { "@path" = "$.x" }'),
            ("Float", 'a = { "@path" = "$.x" }, b = 1.0'),
        ]
    )
    _, other = load(tmp_path, BASE + second + mappings).destinations
    a, same, order, number = (s.data for s in other.subscriptions)
    assert a is same
    assert len({id(a), id(order), id(number)}) == 3  # key order and number types matter


def test_non_ascii_literal_headers_are_refused(tmp_path: Path) -> None:
    text = BASE + '[[destinations.mappings]]\nname = "M"\nheaders = { "X-Brand" = "acmé" }\n'
    assert (
        error(tmp_path, text)
        == "destinations.movable-ink.mappings.'M'.headers: header 'X-Brand' has a value with a line break, a control character or non-ASCII text."
    )


def test_disabled_mappings_are_left_out(tmp_path: Path) -> None:
    text = (
        BASE
        + '[[destinations.mappings]]\nname = "A"\n[[destinations.mappings]]\nname = "B"\nenabled = false\n'
    )
    (dest,) = load(tmp_path, text).destinations
    assert [s.name for s in dest.subscriptions] == ["A"]


def test_at_most_fifty_mappings(tmp_path: Path) -> None:
    text = BASE + "".join(f'[[destinations.mappings]]\nname = "m{i}"\n' for i in range(51))
    assert (
        error(tmp_path, text) == "destinations.movable-ink has 51 mappings; at most 50 are allowed."
    )


def test_destination_names_are_unique(tmp_path: Path) -> None:
    second = BASE.split("\n[[destinations]]")[1]
    assert "must be unique" in error(tmp_path, BASE + "\n[[destinations]]" + second)


def test_unreadable_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Cannot read the configuration file"):
        config.load(tmp_path / "missing.toml", {})
    assert error(tmp_path, "[kafka\n").startswith("The configuration file")


def test_delivery_defaults_and_checks(tmp_path: Path) -> None:
    delivery = load(tmp_path, BASE).delivery
    assert (delivery.max_in_flight, delivery.timeout, delivery.retry_window) == (256, 10.0, 14400.0)
    assert (delivery.max_attempts, delivery.shutdown_grace) == (0, 25.0)
    assert delivery.commit_interval == 0.2  # a crash sends again what finished since
    assert delivery.max_retry_after == 300.0
    text = BASE.replace(
        "[[destinations]]", '[delivery]\nmax_retry_after = "1m"\n\n[[destinations]]'
    )
    assert load(tmp_path, text).delivery.max_retry_after == 60.0
    text = BASE.replace("[[destinations]]", "[delivery]\nmax_attempts = 5\n\n[[destinations]]")
    assert error(tmp_path, text).startswith("delivery.circuit_threshold must be below")
    text = BASE.replace("[[destinations]]", "[delivery]\nmax_in_flight = 0\n\n[[destinations]]")
    assert error(tmp_path, text) == "delivery.max_in_flight must be at least 1."


def test_the_http_client_is_the_builtin_one_unless_another_is_chosen(tmp_path: Path) -> None:
    assert load(tmp_path, BASE).delivery.http_client == "builtin"
    chosen = BASE.replace(
        "[[destinations]]", '[delivery]\nhttp_client = "httpx"\n\n[[destinations]]'
    )
    assert load(tmp_path, chosen).delivery.http_client == "httpx"
    assert error(tmp_path, chosen.replace('"httpx"', '"requests"')) == (
        "delivery.http_client must be one of 'builtin', 'httpx', not 'requests'."
    )


@pytest.mark.parametrize("value", ["482913577", "true", "[1, 2]", "{ a = 1 }"])
def test_a_wrong_typed_secret_is_never_echoed(tmp_path: Path, value: str) -> None:
    message = error(tmp_path, BASE.replace('"${MI_PASSWORD}"', value))
    assert message == "destinations[0].password must be text (a secret: its value is not shown)."


def test_an_override_of_a_list_of_tables_names_the_variable(tmp_path: Path) -> None:
    message = error(tmp_path, BASE, {**ENV, "MIK__DESTINATIONS__NAME": "x"})
    assert message.startswith("MIK__DESTINATIONS__NAME cannot be applied: destinations is not")


@pytest.mark.parametrize(
    "userinfo", ["user:pa55word@", "user@", ":pa55word@", "user:pa55word@other@"]
)
def test_a_url_with_credentials_is_refused_without_showing_them(
    tmp_path: Path, userinfo: str
) -> None:
    text = BASE.replace("https://collector", f"https://{userinfo}collector")
    message = error(tmp_path, text)
    assert "pa55word" not in message and "KEY123" not in message
    assert "must not carry credentials" in message


def test_masked_urls_never_show_credentials_or_the_key() -> None:
    masked = movableink.mask_url("https://u:pa55word@collector.example:8443/behavioral/KEY?x=1")
    assert masked == "https://collector.example:8443/behavioral/***"


def test_logging_format_and_level_from_the_file_or_the_environment(tmp_path: Path) -> None:
    assert load(tmp_path, BASE).logging == LoggingSettings("auto", "")
    chosen = BASE.replace("[[destinations]]", '[logging]\nformat = "text"\n\n[[destinations]]')
    env = {**ENV, "MIK__LOGGING__LEVEL": "debug"}
    assert load(tmp_path, chosen, env).logging == LoggingSettings("text", "debug")
    assert error(tmp_path, BASE, {**ENV, "MIK__LOGGING__LEVEL": "loud"}) == (
        "logging.level must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, not 'loud'."
    )
    assert "logging.format must be one of" in error(tmp_path, chosen.replace('"text"', '"xml"'))


def test_the_shipped_example_configuration_loads() -> None:
    example = Path(__file__).resolve().parents[2] / "config.example.toml"
    settings = config.load(example, {"MOVABLEINK_USERNAME": "u", "MOVABLEINK_PASSWORD": "p"})
    assert settings.kafka.topics == ("segment-events",)
    assert settings.destinations[0].name == "movable-ink"


def test_the_identity_gate_settings(tmp_path: Path) -> None:
    ordering = load(tmp_path, BASE).ordering
    assert (ordering.gate, ordering.hold_max, ordering.links_topic, ordering.skew) == (
        "off",
        10.0,
        "{group}.identity-links",
        0.25,
    )
    text = BASE + '[ordering]\ngate = "enforce"\nhold_max = "3s"\nskew = "50ms"\n'
    assert (load(tmp_path, text).ordering.gate, load(tmp_path, text).ordering.skew) == (
        "enforce",
        0.05,
    )
    assert error(tmp_path, BASE + '[ordering]\ngate = "strict"\n') == (
        "ordering.gate must be one of 'off', 'observe', 'enforce', not 'strict'."
    )
    assert error(tmp_path, BASE + '[ordering]\ngate = "observe"\nhold_max = 0\n') == (
        "ordering.hold_max must be above 0 while ordering.gate is on."
    )
    assert error(tmp_path, BASE + '[ordering]\nlinks_topic = "a b"\n') == (
        "ordering.links_topic must give a valid Kafka topic name, not 'a b'."
    )


def test_avro_null_fields_defaults_to_omit_and_takes_keep(tmp_path: Path) -> None:
    assert load(tmp_path, BASE).kafka.avro_null_fields == "omit"
    keep = BASE.replace(
        'topics = ["segment-events"]', 'topics = ["segment-events"]\navro_null_fields = "keep"'
    )
    assert load(tmp_path, keep).kafka.avro_null_fields == "keep"
    wrong = BASE.replace(
        'topics = ["segment-events"]', 'topics = ["segment-events"]\navro_null_fields = "drop"'
    )
    assert "kafka.avro_null_fields" in error(tmp_path, wrong)
