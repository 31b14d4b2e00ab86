"""The ports every run worker (exporter, encryptor) needs, built once from settings: connected
at start-up, closed at shutdown. Each service's deps extend it with its own."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

from faststream.rabbit import RabbitBroker

from cdds_shared.adapters.minio_store import MinioObjectStore
from cdds_shared.adapters.mongo import MongoDocumentStore
from cdds_shared.certificates import CertificateStore
from cdds_shared.crypto.transit import TransitKey
from cdds_shared.messaging import publish
from cdds_shared.ports.objects import ObjectStore
from cdds_shared.runs.lifecycle import Publish, fail_run
from cdds_shared.runs.store import RunStore
from cdds_shared.settings import MinioSettings, MongoSettings, TransitSettings

__all__ = ["RunDeps"]


@dataclass
class RunDeps:
    documents: MongoDocumentStore
    runs: RunStore
    certificates: CertificateStore
    objects: ObjectStore
    transit: TransitKey
    publish: Publish
    staging_prefix: str

    @staticmethod
    def common(
        broker: RabbitBroker,
        *,
        mongo: MongoSettings,
        minio: MinioSettings,
        transit: TransitSettings,
    ) -> dict[str, Any]:
        """Keyword arguments for the fields above (no connection is made)."""
        documents = MongoDocumentStore(mongo)
        return {
            "documents": documents,
            "runs": RunStore(documents),
            "certificates": CertificateStore(documents),
            "objects": MinioObjectStore(minio),
            "transit": TransitKey.from_base64(transit.key.get_secret_value()),
            "publish": partial(publish, broker),
            "staging_prefix": minio.staging_prefix,
        }

    async def give_up(self, run_id: str, reason: str) -> None:
        """The worker's ``on_give_up``: a message of the run was dead-lettered (a permanent
        error, or the retry budget spent), so the run fails at once with that reason."""
        await fail_run(self.runs, self.publish, self.objects, self.staging_prefix, run_id, reason)

    async def start(self) -> None:
        await self.documents.connect()
        await self.runs.ensure_indexes()
        await self.objects.ensure_bucket()

    async def stop(self) -> None:
        await self.objects.close()
        await self.documents.close()
