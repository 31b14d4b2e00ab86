"""The encryptor's ports: the run workers' common ones, the retention to stamp on artifacts and
the timer that expires them (docs/retention.md)."""

from __future__ import annotations

from dataclasses import dataclass, field

from faststream.rabbit import RabbitBroker

from cdds_shared.messaging import Topology
from cdds_shared.metrics import EncryptorMetrics
from cdds_shared.retention.timer import ExpiryTimer
from cdds_shared.runs.deps import RunDeps
from cdds_shared.settings import (
    MinioSettings,
    MongoSettings,
    RetentionSettings,
    TransitSettings,
)

__all__ = ["EncryptorDeps"]


@dataclass
class EncryptorDeps(RunDeps):
    retention_seconds: int
    timer: ExpiryTimer
    metrics: EncryptorMetrics = field(default_factory=EncryptorMetrics)

    @classmethod
    def build(
        cls,
        broker: RabbitBroker,
        topology: Topology,
        *,
        mongo: MongoSettings,
        minio: MinioSettings,
        transit: TransitSettings,
        retention: RetentionSettings,
        metrics: EncryptorMetrics | None = None,
    ) -> EncryptorDeps:
        """From the settings parts the encryptor uses; no connection is made."""
        return cls(
            **cls.common(broker, mongo=mongo, minio=minio, transit=transit),
            retention_seconds=retention.seconds,
            timer=ExpiryTimer(broker, retention.seconds, topology),
            metrics=metrics or EncryptorMetrics(),
        )
