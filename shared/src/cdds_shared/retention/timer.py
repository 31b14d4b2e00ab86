"""The retention timer (docs/retention.md §1): an ``ArtifactDue`` per sealed artifact, in the hold
queue of the retention value until RabbitMQ dead-letters it, at-least-once, to the janitor.

Never per-message expiration: it blocks at the head of a queue behind longer-lived messages. The
queue-level TTL is the same for every message of a hold queue, so it expires them in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aio_pika.exceptions import DeliveryError
from faststream.rabbit import RabbitBroker, RabbitQueue

from cdds_shared.errors import TransientError
from cdds_shared.messaging.messages import ArtifactDue
from cdds_shared.messaging.topology import Topology
from cdds_shared.runs.model import Artifact

__all__ = ["ExpiryTimer", "HoldQueueRefused"]


class HoldQueueRefused(TransientError):
    """The hold queue did not take a timer (full: ``x-overflow: reject-publish``). Loud on
    purpose: the sealing message is retried, then dead-lettered, never silently acked."""


@dataclass
class ExpiryTimer:
    """Schedules ``ArtifactDue`` for ``retention_seconds`` after now."""

    broker: RabbitBroker
    retention_seconds: int
    topology: Topology = field(default_factory=Topology)

    @property
    def queue(self) -> RabbitQueue:
        return self.topology.hold_queue(self.retention_seconds)

    async def declare(self) -> None:
        """Declare the hold queue (idempotent; the broker caches it per connection)."""
        await self.broker.declare_queue(self.queue)

    async def schedule(self, artifact: Artifact) -> None:
        """Park the artifact's timer; returns once RabbitMQ confirmed it. Raises
        ``HoldQueueRefused`` when the queue rejects it, so the caller does not move on."""
        await self.declare()
        message = ArtifactDue(
            correlation_id=artifact.run_id,
            artifact_id=artifact.id,
            object_key=artifact.object_key,
            expires_at=artifact.expires_at,
        )
        try:
            # Default exchange, routed by queue name; mandatory, so a missing queue raises too.
            await self.broker.publish(
                message,
                queue=self.queue,
                mandatory=True,
                persist=True,
                correlation_id=message.correlation_id,
                message_id=str(message.message_id),
            )
        except DeliveryError as exc:
            raise HoldQueueRefused(
                f"hold queue {self.queue.name} refused the retention timer of artifact "
                f"{artifact.id} (full? it holds at most {self.topology.hold_max_length} "
                f"messages): {exc}"
            ) from exc
