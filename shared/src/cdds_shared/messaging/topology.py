"""RabbitMQ topology, declared once, imported by publishers and subscribers (docs/pipeline.md §10).

- ``cdds.events`` (topic): every message, routed by its ``ROUTING_KEY``.
- ``cdds.integration.requests`` and ``cdds.integration.events`` (topic): the public contract of
  other contact-centre systems, routing keys ``<tenant>.<subject>``. Their broker users may reach
  only these two, pinned to their tenant (docs/operations.md, "Integrations"); the internal
  exchange and queues stay closed to them.
- Work queues are quorum queues. A message whose fate is "dead letter" (``messaging/fate.py``)
  ends in ``<queue>.dead``, where it stays visible: malformed bodies are rejected through
  ``cdds.dead``; permanent failures and spent retry budgets are republished there with the reason.
  ``x-delivery-limit`` is only a backstop against a crash loop (a worker that dies on a message).
- Retry queues ``<queue>.retry.<delay>`` (one per work queue and delay tier) hold a failed
  message for a queue-level TTL, then dead-letter it at-least-once through the default exchange
  back to ``<queue>``: delayed redelivery without holding a consumer.
- Retention hold queues (one per retention value) carry ``ArtifactDue`` with a queue-level TTL and
  dead-letter it at-least-once back to ``cdds.events`` when it is due.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from faststream.rabbit import ExchangeType, QueueType, RabbitBroker, RabbitExchange, RabbitQueue
from faststream.rabbit.schemas.queue import QuorumQueueArgs

from cdds_shared.messaging.messages import (
    ArtifactDue,
    ArtifactExpired,
    ExportPartition,
    PartStaged,
    RunCompleted,
    RunFailed,
    RunRequested,
)
from cdds_shared.messaging.public import EVENTS_EXCHANGE, REQUESTS_EXCHANGE
from cdds_shared.settings import Settings

__all__ = [
    "DEAD_LETTERS",
    "EVENTS",
    "INTEGRATION_EVENTS",
    "INTEGRATION_REQUESTS",
    "WORK_QUEUES",
    "Topology",
    "WorkQueue",
    "declare_topology",
    "tier_name",
    "topology_of",
]

EVENTS = RabbitExchange("cdds.events", type=ExchangeType.TOPIC, durable=True)
DEAD_LETTERS = RabbitExchange("cdds.dead", type=ExchangeType.DIRECT, durable=True)
INTEGRATION_REQUESTS = RabbitExchange(REQUESTS_EXCHANGE, type=ExchangeType.TOPIC, durable=True)
INTEGRATION_EVENTS = RabbitExchange(EVENTS_EXCHANGE, type=ExchangeType.TOPIC, durable=True)


@dataclass(frozen=True)
class WorkQueue:
    """A work queue and its binding: ``routing_key`` on ``exchange`` (``cdds.events`` but for the
    intake of integrations' requests, bound to ``cdds.integration.requests``)."""

    name: str
    routing_key: str
    exchange: str = "cdds.events"


WORK_QUEUES = {
    "exporter": WorkQueue("cdds.exporter.run-requested", RunRequested.ROUTING_KEY),
    "exporter-partition": WorkQueue("cdds.exporter.export-partition", ExportPartition.ROUTING_KEY),
    "encryptor": WorkQueue("cdds.encryptor.part-staged", PartStaged.ROUTING_KEY),
    "janitor": WorkQueue("cdds.janitor.artifact-due", ArtifactDue.ROUTING_KEY),
    "gateway-intake": WorkQueue(
        "cdds.gateway.integration-requests", "*.run.request", REQUESTS_EXCHANGE
    ),
    # The announcer: how runs ended, told to integrations (cdds_gateway/announcer.py).
    "gateway-run-completed": WorkQueue("cdds.gateway.run-completed", RunCompleted.ROUTING_KEY),
    "gateway-run-failed": WorkQueue("cdds.gateway.run-failed", RunFailed.ROUTING_KEY),
    "gateway-artifact-expired": WorkQueue(
        "cdds.gateway.artifact-expired", ArtifactExpired.ROUTING_KEY
    ),
}


def tier_name(delay_seconds: float) -> str:
    """``5s`` for whole seconds, ``200ms`` otherwise (names must not depend on float printing)."""
    millis = round(delay_seconds * 1000)
    return f"{millis // 1000}s" if millis % 1000 == 0 else f"{millis}ms"


@dataclass(frozen=True)
class Topology:
    """Queue definitions for one deployment's settings."""

    delivery_limit: int = 5
    hold_max_length: int = 10_000_000
    retry_tiers: tuple[float, ...] = (1.0, 5.0, 30.0, 120.0)
    retry_max_length: int = 1_000_000

    def queue(self, spec: WorkQueue) -> RabbitQueue:
        args: dict[str, Any] = {
            "x-delivery-limit": self.delivery_limit,
            "x-dead-letter-exchange": DEAD_LETTERS.name,
            "x-dead-letter-routing-key": spec.name,
        }
        return RabbitQueue(
            spec.name,
            QueueType.QUORUM,
            arguments=cast(QuorumQueueArgs, args),
            routing_key=spec.routing_key,
        )

    def dead_queue(self, spec: WorkQueue) -> RabbitQueue:
        return RabbitQueue(f"{spec.name}.dead", QueueType.QUORUM, routing_key=spec.name)

    def retry_queue(self, spec: WorkQueue, delay_seconds: float) -> RabbitQueue:
        """Delay queue of one tier. Queue-level TTL, never per-message expiration (it blocks at
        the head). At-least-once dead-lettering, so a message is only removed once the work queue
        confirmed it; that strategy requires ``reject-publish``: a full retry queue refuses the
        publish (the failed message then stays where it is) rather than dropping its head."""
        args: dict[str, Any] = {
            "x-message-ttl": max(1, round(delay_seconds * 1000)),
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": spec.name,
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
            "x-max-length": self.retry_max_length,
        }
        return RabbitQueue(
            self.retry_queue_name(spec.name, delay_seconds),
            QueueType.QUORUM,
            arguments=cast(QuorumQueueArgs, args),
        )

    @staticmethod
    def retry_queue_name(queue: str, delay_seconds: float) -> str:
        return f"{queue}.retry.{tier_name(delay_seconds)}"

    def hold_queue(self, retention_seconds: int) -> RabbitQueue:
        """Timer queue for one retention value. Never per-message expiration: it blocks at the
        head behind longer-lived messages. ``reject-publish`` makes a full queue loud, not lossy
        (and is what at-least-once dead-lettering requires)."""
        args: dict[str, Any] = {
            "x-message-ttl": retention_seconds * 1000,
            "x-dead-letter-exchange": EVENTS.name,
            "x-dead-letter-routing-key": ArtifactDue.ROUTING_KEY,
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
            "x-max-length": self.hold_max_length,
        }
        return RabbitQueue(
            f"cdds.retention.hold.{retention_seconds}s",
            QueueType.QUORUM,
            arguments=cast(QuorumQueueArgs, args),
        )


async def declare_topology(
    broker: RabbitBroker, topology: Topology, specs: tuple[WorkQueue, ...] | None = None
) -> None:
    """Declare exchanges (the internal and the public ones), work queues with their bindings,
    dead-letter and retry queues. Idempotent."""
    events = await broker.declare_exchange(EVENTS)
    dead = await broker.declare_exchange(DEAD_LETTERS)
    # Declared by the services (their user configures ``cdds.*``): integrators may not declare
    # exchanges, and a publish to an exchange that does not exist would close their channel.
    exchanges = {EVENTS.name: events}
    for public in (INTEGRATION_REQUESTS, INTEGRATION_EVENTS):
        exchanges[public.name] = await broker.declare_exchange(public)
    for spec in specs if specs is not None else tuple(WORK_QUEUES.values()):
        queue = await broker.declare_queue(topology.queue(spec))
        await queue.bind(exchanges[spec.exchange], routing_key=spec.routing_key)
        dead_queue = await broker.declare_queue(topology.dead_queue(spec))
        await dead_queue.bind(dead, routing_key=spec.name)
        for delay in topology.retry_tiers:
            await broker.declare_queue(topology.retry_queue(spec, delay))


def topology_of(settings: Settings) -> Topology:
    """The topology one deployment's settings describe."""
    return Topology(
        delivery_limit=settings.rabbit.delivery_limit, retry_tiers=settings.retry.tiers_seconds
    )
