"""The gateway's ports, built once per app and reached from routes as ``Deps`` (``Annotated``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Annotated

from fastapi import Depends, Request
from faststream.rabbit import RabbitBroker

from cdds_gateway.coalesce import Coalescer
from cdds_gateway.jobs_store import JobStore
from cdds_gateway.metrics import GatewayMetrics
from cdds_shared.adapters.minio_store import MinioObjectStore
from cdds_shared.adapters.mongo import MongoDocumentStore
from cdds_shared.audit import AuditLog
from cdds_shared.certificates import CertificateStore
from cdds_shared.identity import IdentityStore
from cdds_shared.identity.integrations import IntegrationStore
from cdds_shared.identity.policy import IdentityPolicy
from cdds_shared.messaging import publish
from cdds_shared.ports.documents import DocumentStore
from cdds_shared.ports.objects import ObjectStore
from cdds_shared.runs.dispatch_store import DispatchStore
from cdds_shared.runs.lifecycle import Publish
from cdds_shared.runs.store import RunStore
from cdds_shared.settings import Settings

__all__ = ["Deps", "GatewayDeps", "get_deps"]


@dataclass
class GatewayDeps:
    settings: Settings
    documents: DocumentStore
    runs: RunStore
    certificates: CertificateStore
    identity: IdentityStore
    jobs: JobStore
    audit: AuditLog
    objects: ObjectStore
    publish: Publish
    reads: Coalescer
    dispatch: DispatchStore
    metrics: GatewayMetrics = field(default_factory=GatewayMetrics)

    @property
    def integrations(self) -> IntegrationStore:
        """Integrations' tokens (made by ``cdds-admin integration``)."""
        return IntegrationStore(self.documents, self.identity)

    @classmethod
    def build(
        cls, broker: RabbitBroker, settings: Settings, metrics: GatewayMetrics | None = None
    ) -> GatewayDeps:
        deps = cls.of(
            settings,
            MongoDocumentStore(settings.mongo),
            MinioObjectStore(settings.minio),
            partial(publish, broker),
        )
        deps.metrics = metrics or deps.metrics
        return deps

    @classmethod
    def of(
        cls, settings: Settings, documents: DocumentStore, objects: ObjectStore, publish: Publish
    ) -> GatewayDeps:
        """The stores on ``documents`` (the unit tests pass the fakes of the ports)."""
        return cls(
            settings=settings,
            documents=documents,
            runs=RunStore(documents),
            certificates=CertificateStore(documents),
            identity=IdentityStore(documents, IdentityPolicy.of(settings.gateway)),
            jobs=JobStore(documents),
            audit=AuditLog(documents),
            objects=objects,
            publish=publish,
            reads=Coalescer(lambda: documents.writes),
            dispatch=DispatchStore(documents),
        )

    async def start(self) -> None:
        await self.documents.connect()
        for store in (self.runs, self.identity, self.jobs, self.audit):
            await store.ensure_indexes()
        await self.objects.ensure_bucket()

    async def stop(self) -> None:
        await self.objects.close()
        await self.documents.close()


def get_deps(request: Request) -> GatewayDeps:
    deps: GatewayDeps = request.app.state.deps
    return deps


Deps = Annotated[GatewayDeps, Depends(get_deps)]
