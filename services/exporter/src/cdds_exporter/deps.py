"""The exporter's ports: the run workers' common ones, the UCS source, fair-share dispatch state
and the export settings."""

from __future__ import annotations

from dataclasses import dataclass

from faststream.rabbit import RabbitBroker

from cdds_shared.adapters.postgres_ucs import PostgresUcsSource
from cdds_shared.ports.ucs import UcsSource
from cdds_shared.runs.deps import RunDeps
from cdds_shared.runs.dispatch_store import DispatchStore
from cdds_shared.settings import ExportSettings, Settings

__all__ = ["ExporterDeps"]


@dataclass
class ExporterDeps(RunDeps):
    ucs: UcsSource
    export: ExportSettings
    dispatch: DispatchStore

    @classmethod
    def build(cls, broker: RabbitBroker, settings: Settings) -> ExporterDeps:
        common = cls.common(broker, settings)
        return cls(
            **common,
            ucs=PostgresUcsSource.from_settings(settings.ucs),
            export=settings.export,
            dispatch=DispatchStore(common["documents"]),
        )

    async def start(self) -> None:
        await super().start()
        await self.dispatch.ensure_indexes()

    async def stop(self) -> None:
        await self.ucs.close()
        await super().stop()
