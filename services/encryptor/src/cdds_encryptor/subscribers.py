"""The encryptor's subscriber: thin, it hands the staged part to the sealing use case."""

from __future__ import annotations

from faststream.rabbit import RabbitRouter

from cdds_encryptor.deps import EncryptorDeps
from cdds_encryptor.sealing import seal_part
from cdds_shared.messaging import WORK_QUEUES
from cdds_shared.messaging.messages import PartStaged
from cdds_shared.messaging.topology import EVENTS
from cdds_shared.worker import WorkerRuntime

__all__ = ["subscribers"]


def subscribers(runtime: WorkerRuntime, deps: EncryptorDeps) -> RabbitRouter:
    router = RabbitRouter()
    staged = runtime.topology.queue(WORK_QUEUES["encryptor"])

    @router.subscriber(staged, EVENTS, channel=runtime.channel)
    async def on_part_staged(message: PartStaged) -> None:
        """Seal the part for its owner, store the artifact, report progress and completion."""
        await seal_part(message, deps)

    return router
