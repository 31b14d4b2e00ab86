"""The exporter's subscribers: thin, each hands its message to one use case."""

from __future__ import annotations

from faststream.rabbit import RabbitRouter

from cdds_exporter.deps import ExporterDeps
from cdds_exporter.partition import export_partition
from cdds_exporter.planning import plan_run
from cdds_shared.messaging import WORK_QUEUES
from cdds_shared.messaging.messages import ExportPartition, RunRequested
from cdds_shared.messaging.topology import EVENTS
from cdds_shared.worker import WorkerRuntime

__all__ = ["subscribers"]


def subscribers(runtime: WorkerRuntime, deps: ExporterDeps) -> RabbitRouter:
    router = RabbitRouter()
    run_requested = runtime.topology.queue(WORK_QUEUES["exporter"])
    partitions = runtime.topology.queue(WORK_QUEUES["exporter-partition"])

    @router.subscriber(run_requested, EVENTS, channel=runtime.channel)
    async def on_run_requested(message: RunRequested) -> None:
        """Plan the run and fan it out as one ``ExportPartition`` per partition."""
        await plan_run(message, deps)

    @router.subscriber(partitions, EVENTS, channel=runtime.channel)
    async def on_export_partition(message: ExportPartition) -> None:
        """Stream one partition into staged parts."""
        await export_partition(message, deps)

    return router
