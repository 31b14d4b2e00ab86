"""The exporter's ports: the run workers' common ones, the UCS source, fair-share dispatch state
and the export settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from faststream.rabbit import RabbitBroker

from cdds_shared.adapters.postgres_ucs import PostgresUcsSource
from cdds_shared.metrics import ExporterMetrics
from cdds_shared.ports.ucs import UcsSource
from cdds_shared.runs.deps import RunDeps
from cdds_shared.runs.dispatch_store import DispatchStore
from cdds_shared.settings import (
    ExportSettings,
    MinioSettings,
    MongoSettings,
    TransitSettings,
    UcsSettings,
)

__all__ = ["ExporterDeps"]


@dataclass
class ExporterDeps(RunDeps):
    ucs: UcsSource
    export: ExportSettings
    dispatch: DispatchStore
    metrics: ExporterMetrics = field(default_factory=ExporterMetrics)

    @classmethod
    def build(
        cls,
        broker: RabbitBroker,
        *,
        ucs: UcsSettings,
        mongo: MongoSettings,
        minio: MinioSettings,
        transit: TransitSettings,
        export: ExportSettings,
        metrics: ExporterMetrics | None = None,
    ) -> ExporterDeps:
        """From the settings parts the exporter uses; no connection is made."""
        common = cls.common(broker, mongo=mongo, minio=minio, transit=transit)
        return cls(
            **common,
            ucs=PostgresUcsSource.from_settings(ucs),
            export=export,
            dispatch=DispatchStore(common["documents"]),
            metrics=metrics or ExporterMetrics(),
        )

    async def start(self) -> None:
        await super().start()
        await self.dispatch.ensure_indexes()

    async def stop(self) -> None:
        await self.ucs.close()
        await super().stop()
