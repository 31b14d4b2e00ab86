"""The public integration contract of CDDS, seen from an integrating system (docs/integration.md).

An integration sends ``RequestRun`` to the topic exchange ``cdds.integration.requests`` with the
routing key ``{tenant}.run.request``, ``content_type: application/json`` and the AMQP ``user_id``
set to its broker username. It receives the events of its tenant from
``cdds.integration.events`` on its own queue ``cdds.int.{tenant}.{name}.events``, bound with
``{tenant}.#`` (or one binding per event it wants). The broker lets an integration see nothing
else: no other tenant's routing keys, no internal exchange or queue.

Generated from the models of ``cdds_shared.messaging.public``, in a stable order, by
``make asyncapi`` (``faststream docs gen --factory cdds_tools.asyncapi_integration:create_app
--yaml``); ``python -m cdds_tools.asyncapi_integration DIR`` writes their JSON Schemas
(docs/schemas/integration/).
"""

from __future__ import annotations

import inspect
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from faststream import FastStream
from faststream.rabbit import ExchangeType, RabbitBroker, RabbitExchange, RabbitQueue
from faststream.specification import AsyncAPI
from faststream.specification.asyncapi.v3_0_0.schema import ApplicationSchema
from faststream.specification.base import Specification
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode

from cdds_shared.messaging.public import (
    ALL_PUBLIC_EVENTS,
    ALL_PUBLIC_MESSAGES,
    EVENTS_EXCHANGE,
    REQUEST_SUFFIX,
    REQUESTS_EXCHANGE,
    PublicEvent,
    PublicRequestRun,
)

__all__ = ["SCHEMA_ID", "create_app", "json_schema", "main", "write_schemas"]

SCHEMA_ID = "https://cdds.example/schemas/integration/{title}/1"
EVENTS_QUEUE = "cdds.int.{tenant}.{name}.events"


class SortedAsyncAPI(AsyncAPI):
    """faststream keeps publishers in a ``WeakSet``: channels, operations and components come out
    in a different order on every run. Sorted, the document only changes when the contract does."""

    def to_specification(self) -> Specification:
        schema = super().to_specification()
        assert isinstance(schema, ApplicationSchema)
        update: dict[str, Any] = {
            "channels": dict(sorted(schema.channels.items())),
            "operations": dict(sorted(schema.operations.items())),
        }
        if (components := schema.components) is not None:
            parts = {
                name: dict(sorted(value.items()))
                for name in ("messages", "schemas")
                if (value := getattr(components, name)) is not None
            }
            update["components"] = components.model_copy(update=parts)
        return schema.model_copy(update=update)


def _prose(text: str | None) -> str:
    """A docstring as YAML-friendly prose: paragraphs kept, lines joined."""
    paragraphs = inspect.cleandoc(text or "").split("\n\n")
    return "\n\n".join(" ".join(p.split()) for p in paragraphs)


def _receiver(event: type[PublicEvent]) -> Callable[..., Awaitable[None]]:
    """A stand-in for the integrator's handler: only its annotation matters (the payload)."""

    async def receive(message: PublicEvent) -> None:
        raise NotImplementedError  # documentation only: never subscribed to a broker

    receive.__annotations__ = {"message": event, "return": None}
    receive.__name__ = f"On{event.model_config.get('title')}"
    return receive


def create_app() -> FastStream:
    broker = RabbitBroker("amqp://cdds.example:5672/", description="CDDS message broker")
    requests = RabbitExchange(REQUESTS_EXCHANGE, type=ExchangeType.TOPIC, durable=True)
    events = RabbitExchange(EVENTS_EXCHANGE, type=ExchangeType.TOPIC, durable=True)
    broker.publisher(
        exchange=requests,
        routing_key=f"{{tenant}}.{REQUEST_SUFFIX}",
        schema=PublicRequestRun,
        title="RequestRun",
        persist=True,
        description=(
            f"{_prose(PublicRequestRun.__doc__)} Publish with content_type application/json "
            "and the AMQP user_id property set to the integration's broker username; the "
            "answer is run.accepted or run.rejected."
        ),
    )
    for event in ALL_PUBLIC_EVENTS:
        queue = RabbitQueue(EVENTS_QUEUE, durable=True, routing_key=f"{{tenant}}.{event.EVENT}")
        broker.subscriber(queue, events, title=event.EVENT, description=_prose(event.__doc__))(
            _receiver(event)
        )
    spec = SortedAsyncAPI(
        broker, title="CDDS integration", version="1", description=_prose(__doc__)
    )
    return FastStream(broker, specification=spec)


def json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A request as integrators send it (validation), an event as they receive it."""
    mode: JsonSchemaMode = "validation" if model is PublicRequestRun else "serialization"
    schema = model.model_json_schema(mode=mode)
    title = schema["title"]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID.format(title=title),
        **schema,
    }


def write_schemas(directory: Path) -> list[Path]:
    """One ``<Title>.schema.json`` per public message, keys sorted."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for model in ALL_PUBLIC_MESSAGES:
        schema = json_schema(model)
        path = directory / f"{schema['title']}.schema.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m cdds_tools.asyncapi_integration DIRECTORY", file=sys.stderr)
        return 2
    for path in write_schemas(Path(args[0])):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
