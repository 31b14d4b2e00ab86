"""The encryptor: seals staged parts for their owner's certificate and stores the artifacts.

Run: ``faststream run --factory cdds_encryptor.app:create_app --host 127.0.0.1 --port 8082``.
"""

from __future__ import annotations

from faststream.asgi import AsgiFastStream
from faststream.rabbit import Channel, RabbitBroker

from cdds_encryptor.deps import EncryptorDeps
from cdds_encryptor.sealing import seal_part
from cdds_shared.messaging import WORK_QUEUES, Topology
from cdds_shared.messaging.messages import PartStaged
from cdds_shared.messaging.topology import EVENTS
from cdds_shared.settings import Settings
from cdds_shared.worker import WorkerHooks, create_worker_app

__all__ = ["create_app", "register"]

DEPENDENCIES = ("mongodb", "minio")


def register(broker: RabbitBroker, settings: Settings) -> WorkerHooks:
    deps = EncryptorDeps.build(broker, settings)
    topology = Topology(delivery_limit=settings.rabbit.delivery_limit)
    channel = Channel(
        prefetch_count=settings.export.concurrency, publisher_confirms=True, on_return_raises=True
    )

    @broker.subscriber(topology.queue(WORK_QUEUES["encryptor"]), EVENTS, channel=channel)
    async def on_part_staged(message: PartStaged) -> None:
        """Seal the part for its owner, store the artifact, report progress and completion."""
        await seal_part(message, deps)

    return WorkerHooks(
        on_startup=[deps.start],
        after_startup=[deps.timer.declare],
        on_shutdown=[deps.stop],
        on_give_up=deps.give_up,
    )


def create_app(settings: Settings | None = None) -> AsgiFastStream:
    return create_worker_app("encryptor", DEPENDENCIES, register, settings=settings)
