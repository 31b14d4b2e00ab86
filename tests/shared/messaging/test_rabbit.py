"""RabbitMQ against the real broker: confirms, unroutable publishes, manual ack, dead letters.
What happens to failing messages is in ``test_fate.py``.

FastStream's in-memory TestRabbitBroker has no DLX, delivery limits or confirms, so these run
against the real server (README.md § Tests).
"""

from __future__ import annotations

import asyncio
from typing import Any

import aio_pika
import pytest
from aio_pika.exceptions import DeliveryError
from faststream import AckPolicy
from faststream.rabbit import RabbitBroker, RabbitMessage

from cdds_shared.errors import TransientError
from cdds_shared.messaging import (
    EVENTS,
    RunRequested,
    Topology,
    WorkQueue,
    declare_topology,
    make_broker,
    publish,
)
from cdds_shared.messaging.broker import publish_public
from cdds_shared.messaging.public import PublicRunFailed
from cdds_shared.messaging.topology import INTEGRATION_EVENTS
from cdds_shared.settings import RabbitSettings
from tests.queues import depth, settled_depth

pytestmark = pytest.mark.integration


def _request(run_id: str) -> RunRequested:
    return RunRequested(
        correlation_id=run_id,
        run_id=run_id,
        tenant="acme",
        ucs_tenant_id=101,
        owner="u1",
        record_type="interaction",
    )


async def _get(
    channel: aio_pika.abc.AbstractChannel, queue: str, timeout: float = 15.0
) -> aio_pika.abc.AbstractIncomingMessage:
    """Wait (bounded) until a message can be fetched from ``queue``."""
    q = await channel.get_queue(queue, ensure=False)
    async with asyncio.timeout(timeout):
        while True:
            message = await q.get(no_ack=False, fail=False)
            if message is not None:
                return message
            await asyncio.sleep(0.1)


def _spec(unique: str) -> WorkQueue:
    return WorkQueue(f"test.{unique}", f"test.{unique}")


def _broker(url: str) -> RabbitBroker:
    return make_broker(RabbitSettings(url=url, delivery_limit=2))  # type: ignore[arg-type]


async def test_publish_is_confirmed_and_routed_to_the_work_queue(
    vhost_url: str, amqp: aio_pika.abc.AbstractChannel
) -> None:
    broker = _broker(vhost_url)
    async with broker:
        await broker.start()
        await declare_topology(broker, Topology(delivery_limit=2))
        message = _request("run-confirmed")
        await publish(broker, message)

    received = await _get(amqp, "cdds.exporter.run-requested")
    await received.ack()
    assert RunRequested.model_validate_json(received.body) == message
    assert received.correlation_id == "run-confirmed"
    assert received.delivery_mode == aio_pika.DeliveryMode.PERSISTENT


async def test_unroutable_publish_raises_instead_of_vanishing(vhost_url: str) -> None:
    broker = _broker(vhost_url)
    async with broker:
        await broker.start()
        await declare_topology(broker, Topology(delivery_limit=2), specs=())
        with pytest.raises(DeliveryError):
            await broker.publish(
                b"{}", exchange=EVENTS, routing_key="nobody.listens", mandatory=True
            )


async def test_a_public_event_nobody_listens_to_is_dropped_not_raised(
    vhost_url: str, amqp: aio_pika.abc.AbstractChannel, unique: str
) -> None:
    """Most tenants have no integration: their announcements must not fail (and be retried
    and dead-lettered); one that is listened to arrives."""
    event = PublicRunFailed(tenant=f"t{unique}", run_id="r-1", request_id=None, reason="x")
    broker = _broker(vhost_url)
    async with broker:
        await broker.start()
        await declare_topology(broker, Topology(delivery_limit=2), specs=())
        await publish_public(broker, event)  # no queue bound: returns
        listening = await amqp.declare_queue(f"test.{unique}.events", auto_delete=True)
        await listening.bind(INTEGRATION_EVENTS.name, routing_key=f"t{unique}.#")
        await publish_public(broker, event)

    received = await _get(amqp, f"test.{unique}.events")
    await received.ack()
    assert received.routing_key == f"t{unique}.run.failed"
    assert PublicRunFailed.model_validate_json(received.body) == event


async def test_manual_ack_keeps_the_message_until_acked(
    vhost_url: str, amqp: aio_pika.abc.AbstractChannel, unique: str
) -> None:
    spec = _spec(unique)
    topology = Topology(delivery_limit=2)
    deliveries: list[int] = []

    async def consume_once(ack: bool) -> None:
        """A consumer that takes the message and acks it or not, then goes away."""
        broker = _broker(vhost_url)
        handled = asyncio.Event()

        @broker.subscriber(topology.queue(spec), EVENTS, ack_policy=AckPolicy.MANUAL)
        async def handle(body: dict[str, Any], msg: RabbitMessage) -> None:
            deliveries.append(body["n"])
            if ack:
                await msg.ack()
            handled.set()

        async with broker:
            await broker.start()
            await declare_topology(broker, topology, specs=(spec,))
            if not deliveries:
                await broker.publish({"n": 1}, exchange=EVENTS, routing_key=spec.routing_key)
            await asyncio.wait_for(handled.wait(), 15)
            # Delivered: no longer ready, held by the one consumer
            assert await depth(amqp, spec.name) == (0, 1)

    # A message not acked is back once its consumer is gone (the count is final only then)
    await consume_once(ack=False)
    assert await settled_depth(amqp, spec.name) == 1
    # Acked, it is gone for good
    await consume_once(ack=True)
    assert await settled_depth(amqp, spec.name) == 0
    assert deliveries == [1, 1]


async def test_transient_failure_is_retried_then_succeeds(
    vhost_url: str, amqp: aio_pika.abc.AbstractChannel, unique: str
) -> None:
    spec = _spec(unique)
    topology = Topology(delivery_limit=3)
    broker = _broker(vhost_url)
    attempts: list[int] = []
    done = asyncio.Event()

    @broker.subscriber(topology.queue(spec), EVENTS)
    async def handle(body: dict[str, Any]) -> None:
        attempts.append(body["n"])
        if len(attempts) == 1:
            raise TransientError("MinIO briefly down")
        done.set()

    async with broker:
        await broker.start()
        await declare_topology(broker, topology, specs=(spec,))
        await broker.publish({"n": 7}, exchange=EVENTS, routing_key=spec.routing_key)
        await asyncio.wait_for(done.wait(), 15)
    assert attempts == [7, 7]
    dead = await amqp.declare_queue(f"{spec.name}.dead", passive=True)
    assert dead.declaration_result.message_count == 0


async def _dead_letter_after(
    vhost_url: str,
    amqp: aio_pika.abc.AbstractChannel,
    unique: str,
    delivery_limit: int,
    failure: Exception,
    body: Any,
) -> tuple[aio_pika.abc.AbstractIncomingMessage, int]:
    """Publish ``body`` to a fresh work queue whose handler always raises ``failure``; return the
    message as it arrives in the dead-letter queue, and how often the handler ran."""
    spec = _spec(unique)
    topology = Topology(delivery_limit=delivery_limit)
    broker = _broker(vhost_url)
    attempts = 0

    @broker.subscriber(topology.queue(spec), EVENTS)
    async def handle(message: RunRequested) -> None:
        nonlocal attempts
        attempts += 1
        raise failure

    async with broker:
        await broker.start()
        await declare_topology(broker, topology, specs=(spec,))
        await broker.publish(body, exchange=EVENTS, routing_key=spec.routing_key)
        dead = await _get(amqp, f"{spec.name}.dead", timeout=30)
    await dead.ack()
    return dead, attempts


async def test_poison_message_is_dead_lettered_at_once(
    vhost_url: str, amqp: aio_pika.abc.AbstractChannel, unique: str
) -> None:
    dead, attempts = await _dead_letter_after(
        vhost_url, amqp, unique, 5, RuntimeError("unreached"), b"not json at all"
    )
    assert dead.body == b"not json at all"
    assert attempts == 0  # never reached the handler: the body does not validate
