"""The janitor's subscriber: thin, it hands a due retention timer to the expiry use case."""

from __future__ import annotations

from faststream.rabbit import RabbitRouter

from cdds_janitor.deps import JanitorDeps
from cdds_janitor.metrics import JanitorMetrics
from cdds_shared.messaging import WORK_QUEUES
from cdds_shared.messaging.messages import ArtifactDue
from cdds_shared.messaging.topology import EVENTS
from cdds_shared.retention import expire_due
from cdds_shared.worker import WorkerRuntime

__all__ = ["subscribers"]


def subscribers(runtime: WorkerRuntime, deps: JanitorDeps, metrics: JanitorMetrics) -> RabbitRouter:
    router = RabbitRouter()
    due = runtime.topology.queue(WORK_QUEUES["janitor"])

    @router.subscriber(due, EVENTS, channel=runtime.channel)
    async def on_artifact_due(message: ArtifactDue) -> None:
        """Expire the artifact if it is still available and due (idempotent). MinIO or MongoDB
        down → retried through the delay queues for the retry budget, then dead-lettered (no
        run is failed: the janitor gives ``on_give_up`` none); the sweep is the backstop."""
        metrics.record(await expire_due(deps.retention, message))

    return router
