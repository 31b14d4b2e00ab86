"""The janitor: deletes artifacts when their retention ends (docs/retention.md).

Retention timers (``ArtifactDue``) arrive from the hold queue; a periodic sweep catches whatever
a lost timer missed; a bucket lifecycle rule is the last backstop. ``GET /metrics`` exports the
deletion lag. See ``docs/retention.md``.

Run: ``faststream run --factory cdds_janitor.app:create_app --host 127.0.0.1 --port 8083``.
"""

from __future__ import annotations

from functools import partial

from faststream.asgi import AsgiFastStream
from faststream.rabbit import RabbitBroker

from cdds_janitor.deps import JanitorDeps
from cdds_janitor.metrics import JanitorMetrics
from cdds_janitor.sweeper import Sweeper
from cdds_shared.messaging import WORK_QUEUES, Topology
from cdds_shared.messaging.messages import ArtifactDue
from cdds_shared.messaging.topology import EVENTS
from cdds_shared.retention import expire_due
from cdds_shared.settings import Settings
from cdds_shared.worker import WorkerHooks, create_worker_app

__all__ = ["create_app", "register"]

DEPENDENCIES = ("mongodb", "minio")


def register(
    broker: RabbitBroker, settings: Settings, metrics: JanitorMetrics | None = None
) -> WorkerHooks:
    deps = JanitorDeps.build(broker, settings)
    metrics = metrics or JanitorMetrics()
    topology = Topology(delivery_limit=settings.rabbit.delivery_limit)

    @broker.subscriber(topology.queue(WORK_QUEUES["janitor"]), EVENTS)
    async def on_artifact_due(message: ArtifactDue) -> None:
        """Expire the artifact if it is still available and due (idempotent). MinIO or MongoDB
        down → retried through the delay queues for the retry budget, then dead-lettered (no
        run is failed: the janitor gives ``on_give_up`` none); the sweep is the backstop."""
        metrics.record(await expire_due(deps.retention, message))

    sweeper = Sweeper(deps, metrics, settings.janitor.sweep_interval_seconds)
    return WorkerHooks(
        on_startup=[deps.start],
        after_startup=[deps.timer.declare, sweeper.start],
        on_shutdown=[sweeper.stop, deps.stop],
    )


def create_app(settings: Settings | None = None) -> AsgiFastStream:
    metrics = JanitorMetrics()
    return create_worker_app(
        "janitor",
        DEPENDENCIES,
        partial(register, metrics=metrics),
        settings=settings,
        routes=[metrics.route()],
    )
