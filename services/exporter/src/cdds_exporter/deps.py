"""The exporter's ports: the run workers' common ones, the UCS source and the export settings."""

from __future__ import annotations

from dataclasses import dataclass

from faststream.rabbit import RabbitBroker

from cdds_shared.runs.deps import RunDeps
from cdds_shared.settings import ExportSettings, Settings
from cdds_shared.ucs.source import PostgresUcsSource, UcsSource

__all__ = ["ExporterDeps"]


@dataclass
class ExporterDeps(RunDeps):
    ucs: UcsSource
    export: ExportSettings

    @classmethod
    def build(cls, broker: RabbitBroker, settings: Settings) -> ExporterDeps:
        return cls(
            **cls.common(broker, settings),
            ucs=PostgresUcsSource.from_settings(settings.ucs),
            export=settings.export,
        )

    async def stop(self) -> None:
        await self.ucs.close()
        await super().stop()
