"""The janitor's ports, built once from settings: connected at start-up, closed at shutdown."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from faststream.rabbit import RabbitBroker

from cdds_shared.adapters.minio_store import MinioObjectStore
from cdds_shared.adapters.mongo import MongoDocumentStore
from cdds_shared.audit import AuditLog
from cdds_shared.messaging import Topology, publish
from cdds_shared.retention import ExpiryTimer, RetentionPorts
from cdds_shared.runs.store import RunStore
from cdds_shared.settings import Settings

__all__ = ["JanitorDeps"]


@dataclass
class JanitorDeps:
    documents: MongoDocumentStore
    retention: RetentionPorts
    timer: ExpiryTimer
    retention_seconds: int
    staging_prefix: str

    @classmethod
    def build(cls, broker: RabbitBroker, settings: Settings) -> JanitorDeps:
        """No connection is made here."""
        documents = MongoDocumentStore(settings.mongo)
        topology = Topology(delivery_limit=settings.rabbit.delivery_limit)
        return cls(
            documents=documents,
            retention=RetentionPorts(
                runs=RunStore(documents),
                objects=MinioObjectStore(settings.minio),
                audit=AuditLog(documents),
                publish=partial(publish, broker),
            ),
            timer=ExpiryTimer(broker, settings.retention.seconds, topology),
            retention_seconds=settings.retention.seconds,
            staging_prefix=settings.minio.staging_prefix,
        )

    async def start(self) -> None:
        await self.documents.connect()
        await self.retention.runs.ensure_indexes()
        await self.retention.audit.ensure_indexes()
        await self.retention.objects.ensure_bucket()

    async def stop(self) -> None:
        await self.retention.objects.close()
        await self.documents.close()
