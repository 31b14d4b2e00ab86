"""The exporter: plans runs and streams UCS records into transit-encrypted staged parts.

Run: ``faststream run --factory cdds_exporter.app:create_app --host 127.0.0.1 --port 8081``.
"""

from __future__ import annotations

from faststream.asgi import AsgiFastStream
from faststream.rabbit import Channel, RabbitBroker

from cdds_exporter.deps import ExporterDeps
from cdds_exporter.partition import export_partition
from cdds_exporter.planning import plan_run
from cdds_exporter.watchdog import Watchdog
from cdds_shared.messaging import WORK_QUEUES, Topology
from cdds_shared.messaging.messages import ExportPartition, RunRequested
from cdds_shared.messaging.topology import EVENTS
from cdds_shared.settings import Settings
from cdds_shared.worker import WorkerHooks, create_worker_app

__all__ = ["create_app", "register"]

DEPENDENCIES = ("ucs", "minio", "mongodb")


def register(broker: RabbitBroker, settings: Settings) -> WorkerHooks:
    deps = ExporterDeps.build(broker, settings)
    topology = Topology(delivery_limit=settings.rabbit.delivery_limit)
    channel = Channel(
        prefetch_count=settings.export.concurrency, publisher_confirms=True, on_return_raises=True
    )

    @broker.subscriber(topology.queue(WORK_QUEUES["exporter"]), EVENTS, channel=channel)
    async def on_run_requested(message: RunRequested) -> None:
        """Plan the run and fan it out as one ``ExportPartition`` per partition."""
        await plan_run(message, deps)

    @broker.subscriber(topology.queue(WORK_QUEUES["exporter-partition"]), EVENTS, channel=channel)
    async def on_export_partition(message: ExportPartition) -> None:
        """Stream one partition into staged parts."""
        await export_partition(message, deps)

    watchdog = Watchdog(deps, settings)
    return WorkerHooks(
        on_startup=[deps.start],
        after_startup=[watchdog.start],
        on_shutdown=[watchdog.stop, deps.stop],
        on_give_up=deps.give_up,
    )


def create_app(settings: Settings | None = None) -> AsgiFastStream:
    return create_worker_app("exporter", DEPENDENCIES, register, settings=settings)
