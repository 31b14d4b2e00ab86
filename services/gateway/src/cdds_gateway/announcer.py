"""The announcer's subscribers: how every run ended, and every file that expired, told to the
run's tenant on ``cdds.integration.events`` (``usecases/announce.py`` says what).

Each internal event has its own work queue (``cdds.gateway.run-completed``,
``cdds.gateway.run-failed``, ``cdds.gateway.artifact-expired``), so an announcement RabbitMQ
or MongoDB could not make is retried through the delay queues like any work item, then
dead-lettered where an operator can replay it. Each run's end is counted here too
(``cdds_runs_completed_total``, ``cdds_runs_failed_total``): every end passes once.
"""

from __future__ import annotations

from faststream.rabbit import RabbitBroker

from cdds_gateway.deps import GatewayDeps
from cdds_gateway.usecases.announce import public_event_of
from cdds_shared.messaging import WORK_QUEUES
from cdds_shared.messaging.broker import publish_public
from cdds_shared.messaging.messages import ArtifactExpired, RunCompleted, RunFailed
from cdds_shared.messaging.topology import EVENTS, Topology

__all__ = ["ANNOUNCED_QUEUES", "install"]

ANNOUNCED_QUEUES = ("gateway-run-completed", "gateway-run-failed", "gateway-artifact-expired")


def install(broker: RabbitBroker, deps: GatewayDeps, topology: Topology) -> None:
    completed, failed, expired = (topology.queue(WORK_QUEUES[key]) for key in ANNOUNCED_QUEUES)

    async def announce(event: RunCompleted | RunFailed | ArtifactExpired) -> None:
        public = await public_event_of(deps.runs, event, gateway_url=deps.settings.gateway.url)
        if public is not None:
            await publish_public(broker, public)

    @broker.subscriber(completed, EVENTS)
    async def on_run_completed(message: RunCompleted) -> None:
        """``TENANT.run.completed`` with every file to download."""
        await announce(message)
        deps.metrics.runs.ended(message.status)

    @broker.subscriber(failed, EVENTS)
    async def on_run_failed(message: RunFailed) -> None:
        """``TENANT.run.failed`` with the reason."""
        await announce(message)
        deps.metrics.runs.ended("failed")

    @broker.subscriber(expired, EVENTS)
    async def on_artifact_expired(message: ArtifactExpired) -> None:
        """``TENANT.artifact.expired``: the file is gone."""
        await announce(message)
