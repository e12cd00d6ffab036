"""Writer schemas by id from a Confluent-API schema registry, with its errors translated.

An unknown id is the record's fault (dead letter); anything else (network, auth, 5xx) is the
registry's, so the record is retried later rather than dead-lettered.
"""

from __future__ import annotations

from typing import Any

from consumer.core.errors import ConfigError, DecodeError, Unavailable
from consumer.settings import RegistrySettings

NOT_FOUND = 404


class RegistryLookup:
    """A `SchemaLookup` backed by confluent-kafka's `SchemaRegistryClient`."""

    def __init__(self, settings: RegistrySettings) -> None:
        # Imported here: the client (with httpx and authlib) costs 0.3 s of every start-up,
        # and most deployments name no registry. Start-up time is recovery time after a crash.
        from confluent_kafka.schema_registry import SchemaRegistryClient

        try:
            self._client = SchemaRegistryClient({**settings.properties, "url": settings.url})
        except Exception as exc:  # ValueError, TypeError, AttributeError, as the client has it
            # Its own words name the setting but may quote a credential: show only the keys.
            raise ConfigError(
                "schema_registry.url or schema_registry.properties is refused by the schema "
                f"registry client ({type(exc).__name__}); the properties given: "
                f"{', '.join(sorted(settings.properties)) or 'none'}."
            ) from None

    def __call__(self, schema_id: int) -> str:
        from confluent_kafka.schema_registry.error import SchemaRegistryError

        try:
            schema: Any = self._client.get_schema(schema_id)
        except SchemaRegistryError as exc:
            if exc.http_status_code == NOT_FOUND:
                raise DecodeError(
                    "decode.unknown_schema_id", f"The schema registry has no schema id {schema_id}."
                ) from exc
            raise Unavailable(
                f"The schema registry answered {exc.http_status_code} for schema id {schema_id}."
            ) from exc
        except Exception as exc:  # the client raises its HTTP library's errors as they come
            kind = type(exc).__name__
            raise Unavailable(f"The schema registry cannot be reached: {kind}.") from exc
        if schema.schema_type not in (None, "AVRO"):
            raise DecodeError(
                "decode.bad_schema", f"Schema id {schema_id} is {schema.schema_type}, not Avro."
            )
        text: str = schema.schema_str
        return text

    def close(self) -> None:
        self._client.close()
