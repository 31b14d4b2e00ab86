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
from cdds_shared.settings import MinioSettings, MongoSettings, RetentionSettings

__all__ = ["JanitorDeps"]


@dataclass
class JanitorDeps:
    documents: MongoDocumentStore
    retention: RetentionPorts
    timer: ExpiryTimer
    retention_seconds: int
    staging_prefix: str

    @classmethod
    def build(
        cls,
        broker: RabbitBroker,
        topology: Topology,
        *,
        mongo: MongoSettings,
        minio: MinioSettings,
        retention: RetentionSettings,
    ) -> JanitorDeps:
        """From the settings parts the janitor uses; no connection is made."""
        documents = MongoDocumentStore(mongo)
        return cls(
            documents=documents,
            retention=RetentionPorts(
                runs=RunStore(documents),
                objects=MinioObjectStore(minio),
                audit=AuditLog(documents),
                publish=partial(publish, broker),
            ),
            timer=ExpiryTimer(broker, retention.seconds, topology),
            retention_seconds=retention.seconds,
            staging_prefix=minio.staging_prefix,
        )

    async def start(self) -> None:
        await self.documents.connect()
        await self.retention.runs.ensure_indexes()
        await self.retention.audit.ensure_indexes()
        await self.retention.objects.ensure_bucket()

    async def stop(self) -> None:
        await self.retention.objects.close()
        await self.documents.close()
