"""A worker's drain at shutdown against the real broker (``cdds_shared.shutdown``): a message in
flight that finishes within the drain is acked; one still running at the deadline is cancelled
and goes back to its queue; one delivered during the drain is not run and goes back too."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import aio_pika
import pytest

from cdds_shared.messaging import EVENTS, Topology, WorkQueue, declare_topology, make_broker
from cdds_shared.settings import RabbitSettings
from cdds_shared.shutdown import InFlight
from tests.infra import StackInfo
from tests.infra.isolation import temporary_vhost
from tests.waiting import eventually

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def vhost_url(stack: StackInfo) -> Iterator[str]:
    with temporary_vhost(stack) as url:
        yield url


class Handler:
    """Records each message it starts and finishes; finishes only once ``release`` is set."""

    def __init__(self) -> None:
        self.started: list[int] = []
        self.finished: list[int] = []
        self.release = asyncio.Event()

    async def __call__(self, body: dict[str, Any]) -> None:
        self.started.append(body["n"])
        await self.release.wait()
        self.finished.append(body["n"])


async def _queued(url: str, queue: str) -> int:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        return int(declared.declaration_result.message_count or 0)


async def _drain_with(url: str, handler: Handler, *, finish: bool, timeout: float) -> str:
    """One message in flight, then ``drain``; a second message published while it drains.
    Returns the queue's name."""
    spec = WorkQueue(f"test.drain.{uuid.uuid4().hex[:8]}", f"test.drain.{uuid.uuid4().hex[:8]}")
    topology = Topology(delivery_limit=5, retry_tiers=(1.0,))
    broker = make_broker(RabbitSettings(url=url))
    inflight = InFlight()
    broker.insert_middleware(inflight)
    broker.subscriber(topology.queue(spec), EVENTS)(handler)
    async with broker:
        await broker.start()
        await declare_topology(broker, topology, specs=(spec,))
        await broker.publish({"n": 1}, exchange=EVENTS, routing_key=spec.routing_key)
        await eventually(lambda: _value(handler.started), lambda s: s == [1], timeout=20)
        drain = asyncio.create_task(inflight.drain(broker, timeout=timeout))
        await eventually(lambda: _value(inflight.stopping), timeout=5)
        await broker.publish({"n": 2}, exchange=EVENTS, routing_key=spec.routing_key)
        if finish:
            handler.release.set()
        await asyncio.wait_for(drain, timeout + 10)
    return spec.name


async def _value(value: Any) -> Any:
    return value


async def test_a_message_that_finishes_within_the_drain_is_acked(vhost_url: str) -> None:
    handler = Handler()
    queue = await _drain_with(vhost_url, handler, finish=True, timeout=20)
    assert handler.finished == [1]
    assert handler.started == [1]  # the one published during the drain was not run
    assert await eventually(lambda: _queued(vhost_url, queue), lambda n: n == 1, timeout=20)


async def test_a_message_still_running_at_the_deadline_goes_back_to_its_queue(
    vhost_url: str,
) -> None:
    handler = Handler()  # never released: the handler outlives the drain
    queue = await _drain_with(vhost_url, handler, finish=False, timeout=0.5)
    assert handler.started == [1] and handler.finished == []
    # Both are back: the cancelled one (nacked with requeue) and the one not run.
    assert await eventually(lambda: _queued(vhost_url, queue), lambda n: n == 2, timeout=20)
