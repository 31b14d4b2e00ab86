"""The encryptor's ports: the run workers' common ones, the retention to stamp on artifacts and
the timer that expires them (docs/retention.md)."""

from __future__ import annotations

from dataclasses import dataclass

from faststream.rabbit import RabbitBroker

from cdds_shared.messaging import Topology
from cdds_shared.retention.timer import ExpiryTimer
from cdds_shared.runs.deps import RunDeps
from cdds_shared.settings import Settings

__all__ = ["EncryptorDeps"]


@dataclass
class EncryptorDeps(RunDeps):
    retention_seconds: int
    timer: ExpiryTimer

    @classmethod
    def build(cls, broker: RabbitBroker, settings: Settings) -> EncryptorDeps:
        retention = settings.retention.seconds
        topology = Topology(delivery_limit=settings.rabbit.delivery_limit)
        return cls(
            **cls.common(broker, settings),
            retention_seconds=retention,
            timer=ExpiryTimer(broker, retention, topology),
        )
