"""The retention timer on the real RabbitMQ (TTL and dead letters are not in the in-memory
broker): parked in the hold queue, dead-lettered to the janitor's queue when due; a full hold
queue refuses the timer loudly instead of dropping it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import aio_pika
import pytest

from cdds_shared.messaging import Topology, declare_topology, make_broker
from cdds_shared.messaging.messages import ArtifactDue
from cdds_shared.messaging.topology import WORK_QUEUES
from cdds_shared.retention import ExpiryTimer, HoldQueueRefused
from cdds_shared.runs import Artifact
from cdds_shared.settings import RabbitSettings
from tests.infra import StackInfo
from tests.infra.isolation import temporary_vhost
from tests.queues import depth
from tests.waiting import eventually

pytestmark = pytest.mark.integration


@pytest.fixture
def vhost_url(stack: StackInfo) -> Iterator[str]:
    with temporary_vhost(stack) as url:
        yield url


def _artifact(run_id: str, part: int = 0) -> Artifact:
    now = datetime.now(UTC)
    return Artifact.model_validate(
        {
            "_id": f"{run_id}-000-{part:03d}",
            "run_id": run_id,
            "tenant": "acme",
            "owner": "alice",
            "record_type": "interaction",
            "partition": 0,
            "part": part,
            "last_in_partition": True,
            "name": "f.zip.p7m",
            "object_key": f"artifacts/acme/{run_id}/{part}.p7m",
            "size": 1,
            "sha256": "0" * 64,
            "members": [],
            "seal": "cms",
            "certificate_sha256": "1" * 64,
            "created_at": now,
            "expires_at": now,
        }
    )


async def test_a_timer_reaches_the_janitor_queue_when_due(vhost_url: str) -> None:
    broker = make_broker(RabbitSettings(url=vhost_url))  # type: ignore[arg-type]
    async with broker:
        await broker.start()
        topology = Topology()
        await declare_topology(broker, topology)
        timer = ExpiryTimer(broker, 1, topology)
        started = time.monotonic()
        await timer.schedule(_artifact("run-timer"))

    connection = await aio_pika.connect(vhost_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue(WORK_QUEUES["janitor"].name, ensure=False)
        async with asyncio.timeout(15), queue.iterator() as messages:
            message = await anext(aiter(messages))
        elapsed = time.monotonic() - started
        await message.ack()
    due = ArtifactDue.model_validate_json(message.body)
    assert due.artifact_id == "run-timer-000-000"
    assert elapsed >= 1.0  # not before the queue's TTL
    assert message.headers["x-first-death-queue"] == "cdds.retention.hold.1s"
    assert message.headers["x-first-death-reason"] == "expired"


async def test_a_full_hold_queue_refuses_the_timer(vhost_url: str) -> None:
    broker = make_broker(RabbitSettings(url=vhost_url))  # type: ignore[arg-type]
    async with broker:
        await broker.start()
        timer = ExpiryTimer(broker, 3600, Topology(hold_max_length=2))
        accepted, refused = 0, None
        for part in range(10):
            try:
                await timer.schedule(_artifact("run-full", part))
            except HoldQueueRefused as exc:
                refused = exc
                break
            accepted += 1

    assert refused is not None, "a full hold queue took every timer"
    assert "cdds.retention.hold.3600s" in str(refused)

    # A quorum queue checks its limit before it enqueues, so it may take one more.
    assert accepted in (2, 3)
    connection = await aio_pika.connect(vhost_url)
    async with connection:
        channel = await connection.channel()
        # Every confirmed timer is counted, and nothing consumes the queue: the count only grows
        # towards ``accepted`` (awaited, not read once right after the publishes).
        ready = await eventually(
            lambda: depth(channel, timer.queue.name),
            lambda seen: seen[0] >= accepted,
            timeout=15,
            what=f"{timer.queue.name}: (ready, consumers)",
        )
        assert ready == (accepted, 0)
