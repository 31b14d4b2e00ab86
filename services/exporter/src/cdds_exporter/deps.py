"""The exporter's ports, built once from settings (connected at start-up, closed at shutdown)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from faststream.rabbit import RabbitBroker

from cdds_shared.adapters.minio_store import MinioObjectStore
from cdds_shared.adapters.mongo import MongoDocumentStore
from cdds_shared.certificates import CertificateStore
from cdds_shared.crypto.transit import TransitKey
from cdds_shared.messaging import publish
from cdds_shared.ports.objects import ObjectStore
from cdds_shared.runs.lifecycle import Publish
from cdds_shared.runs.store import RunStore
from cdds_shared.settings import ExportSettings, Settings
from cdds_shared.ucs.source import PostgresUcsSource, UcsSource

__all__ = ["ExporterDeps"]


@dataclass
class ExporterDeps:
    runs: RunStore
    certificates: CertificateStore
    ucs: UcsSource
    objects: ObjectStore
    transit: TransitKey
    publish: Publish
    export: ExportSettings
    staging_prefix: str
    documents: MongoDocumentStore

    @classmethod
    def build(cls, broker: RabbitBroker, settings: Settings) -> ExporterDeps:
        documents = MongoDocumentStore(settings.mongo)
        return cls(
            runs=RunStore(documents),
            certificates=CertificateStore(documents),
            ucs=PostgresUcsSource.from_settings(settings.ucs),
            objects=MinioObjectStore(settings.minio),
            transit=TransitKey.from_base64(settings.transit.key.get_secret_value()),
            publish=partial(publish, broker),
            export=settings.export,
            staging_prefix=settings.minio.staging_prefix,
            documents=documents,
        )

    def failing(self, run_id: str) -> tuple[RunStore, Publish, ObjectStore, str, str]:
        """Arguments of ``fails_run_on_permanent_error`` for one run."""
        return self.runs, self.publish, self.objects, self.staging_prefix, run_id

    async def start(self) -> None:
        await self.documents.connect()
        await self.runs.ensure_indexes()
        await self.objects.ensure_bucket()

    async def stop(self) -> None:
        await self.ucs.close()
        await self.objects.close()
        await self.documents.close()
