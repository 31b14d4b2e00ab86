"""The broker every service uses: confirms on, unroutable publishes raise, bounded prefetch,
and the one fate policy that maps the error taxonomy to ack / retry / dead letter
(``fate.py``; docs/pipeline.md §11)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from faststream._internal.types import BrokerMiddleware
from faststream.rabbit import Channel, RabbitBroker

from cdds_shared.logging import BROKER_LOGGER
from cdds_shared.messaging.fate import FatePolicy
from cdds_shared.messaging.messages import Message
from cdds_shared.messaging.public import PublicEvent
from cdds_shared.messaging.topology import EVENTS, INTEGRATION_EVENTS
from cdds_shared.settings import RabbitSettings

__all__ = ["make_broker", "publish", "publish_public"]


def make_broker(
    settings: RabbitSettings,
    *,
    fate: FatePolicy | None = None,
    middlewares: Sequence[BrokerMiddleware[Any, Any]] = (),
    **kwargs: Any,
) -> RabbitBroker:
    """A broker whose consumed messages meet ``fate`` (default: the default retry settings, no
    run to fail, no pause; a worker passes its own, see ``worker.py``). ``middlewares`` wrap
    the fate (outer first), so they see how it settled each message (e.g. the metrics)."""
    fate = fate or FatePolicy()
    kwargs.setdefault("logger", logging.getLogger(BROKER_LOGGER))  # JSON like the rest (logging.py)
    broker = RabbitBroker(
        settings.url.get_secret_value(),
        default_channel=Channel(
            prefetch_count=settings.prefetch, publisher_confirms=True, on_return_raises=True
        ),
        middlewares=(*middlewares, fate),
        graceful_timeout=30.0,
        **kwargs,
    )
    fate.broker = broker
    return broker


async def publish(broker: RabbitBroker, message: Message, *, mandatory: bool | None = None) -> None:
    """Publish to ``cdds.events``; returns once RabbitMQ confirmed it. Work items (``WORK_ITEM``,
    or ``mandatory=True``) raise when no queue takes them; a notification nobody subscribed to
    is dropped by the broker, which is what a notification may be."""
    if mandatory is None:
        mandatory = message.WORK_ITEM
    await broker.publish(
        message,
        exchange=EVENTS,
        routing_key=message.ROUTING_KEY,
        mandatory=mandatory,
        persist=True,
        correlation_id=message.correlation_id,
        message_id=str(message.message_id),
    )


async def publish_public(broker: RabbitBroker, event: PublicEvent) -> None:
    """Announce ``event`` on ``cdds.integration.events`` under its ``TENANT.<event>`` routing key;
    returns once RabbitMQ confirmed it. Nobody bound (no integration listening) drops it."""
    await broker.publish(
        event,
        exchange=INTEGRATION_EVENTS,
        routing_key=event.routing_key,
        # Not mandatory: a tenant with no integration listening is the common case, and the
        # broker raises on a returned mandatory message (``on_return_raises``).
        mandatory=False,
        persist=True,
        message_id=str(event.message_id),
        content_type="application/json",
    )
