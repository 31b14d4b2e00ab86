"""The AsyncAPI document of CDDS's messages, generated from the code (docs/pipeline.md §10).

Every worker's app is built here (nothing connects until an app starts) and its real subscribers
are moved onto one broker, and the events services publish for others (progress, completion,
failure) are declared as publishers, so the document shows the whole contract.

``make asyncapi`` runs ``faststream docs gen --factory cdds_tools.asyncapi:create_app --yaml``.
"""

from __future__ import annotations

from faststream import FastStream
from faststream.rabbit import RabbitBroker
from faststream.specification import AsyncAPI

from cdds_encryptor.app import create_app as create_encryptor
from cdds_exporter.app import create_app as create_exporter
from cdds_janitor.app import create_app as create_janitor
from cdds_shared.messaging.messages import (
    ArtifactExpired,
    ExportPartition,
    Message,
    PartSealed,
    PartStaged,
    RunCompleted,
    RunFailed,
)
from cdds_shared.messaging.topology import EVENTS
from cdds_shared.settings import Settings

__all__ = ["create_app"]

PUBLISHED: dict[type[Message], str] = {
    ExportPartition: "exporter: one per planned partition of a run",
    PartStaged: "exporter: a part is staged (claim check)",
    PartSealed: "encryptor: a part is sealed and stored as an artifact",
    RunCompleted: "encryptor/exporter: every part of a run is sealed, or it had no data",
    RunFailed: "any worker: a run failed, with the reason",
    ArtifactExpired: "janitor: an artifact was deleted at the end of its retention",
}


def create_app() -> FastStream:
    settings = Settings(environment="development")
    broker = RabbitBroker("amqp://cdds.example:5672/", description="CDDS message broker")
    for create in (create_exporter, create_encryptor, create_janitor):
        broker.include_router(create(settings).subscribers)
    for message, description in PUBLISHED.items():
        broker.publisher(
            exchange=EVENTS,
            routing_key=message.ROUTING_KEY,
            schema=message,
            title=f"{message.ROUTING_KEY}:{message.__name__}",
            description=description,
        )
    spec = AsyncAPI(broker, title="CDDS", version="1", description=__doc__)
    return FastStream(broker, specification=spec)
