"""The encryptor's ports: the run workers' common ones and the retention to stamp on artifacts."""

from __future__ import annotations

from dataclasses import dataclass

from faststream.rabbit import RabbitBroker

from cdds_shared.runs.deps import RunDeps
from cdds_shared.settings import Settings

__all__ = ["EncryptorDeps"]


@dataclass
class EncryptorDeps(RunDeps):
    retention_seconds: int

    @classmethod
    def build(cls, broker: RabbitBroker, settings: Settings) -> EncryptorDeps:
        return cls(**cls.common(broker, settings), retention_seconds=settings.retention.seconds)
