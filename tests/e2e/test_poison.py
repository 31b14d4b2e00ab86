"""Poison messages from the outside (another contact-centre system publishing on the same broker):
a malformed message is dead-lettered at once where it stays visible, a part of a run
nobody knows is cleaned up and acked, and the pipeline keeps exporting afterwards."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator

import aio_pika
import pytest

from cdds_shared.errors import NotFoundError
from cdds_shared.messaging.messages import PartStaged
from cdds_shared.messaging.topology import EVENTS, WORK_QUEUES, Topology
from tests.e2e.pipeline import Pipeline, Worker
from tests.queues import depth, settled_depth

pytestmark = pytest.mark.integration

INTERACTIONS, CONTACTS = 200, 20
# A low limit, so a poison message wrongly retried reaches its dead letters within seconds, where
# ``x-first-death-reason`` tells it (``delivery_limit``) from one rejected at once (``rejected``).
WORKER_ENV = {"CDDS_RABBIT__DELIVERY_LIMIT": "2"}
WAIT = 60.0  # bound of every poll; a poison message rejected at once arrives in well under that

# routing key -> the work queue it lands in
QUEUES = {
    "run.requested": WORK_QUEUES["exporter"].name,
    "partition.export": WORK_QUEUES["exporter-partition"].name,
    "part.staged": WORK_QUEUES["encryptor"].name,
}


@pytest.fixture(scope="module")
async def workers(pipeline: Pipeline) -> dict[str, Worker]:
    started = {name: pipeline.worker(name) for name in ("exporter", "encryptor")}
    await pipeline.give_certificate("alice")
    return started


@pytest.fixture
async def channel(pipeline: Pipeline) -> AsyncIterator[aio_pika.abc.AbstractChannel]:
    """A plain AMQP channel on the pipeline's virtual host, as another system would have."""
    connection = await aio_pika.connect(pipeline.settings.rabbit.url.get_secret_value())
    async with connection:
        yield await connection.channel(publisher_confirms=True, on_return_raises=True)


async def send(
    channel: aio_pika.abc.AbstractChannel,
    routing_key: str,
    body: bytes,
    content_type: str | None = None,
) -> None:
    """Publish to ``cdds.events`` as an outside system would: confirmed, and it must route."""
    exchange = await channel.get_exchange(EVENTS.name, ensure=False)
    message = aio_pika.Message(
        body,
        content_type=content_type,
        message_id=uuid.uuid4().hex,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
    )
    await exchange.publish(message, routing_key=routing_key, mandatory=True)


async def dead_letters(
    channel: aio_pika.abc.AbstractChannel, queue: str, bodies: set[bytes]
) -> dict[bytes, aio_pika.abc.AbstractIncomingMessage]:
    """Take messages from ``<queue>.dead`` until every one of ``bodies`` arrived (bounded)."""
    dead = await channel.get_queue(f"{queue}.dead", ensure=False)
    found: dict[bytes, aio_pika.abc.AbstractIncomingMessage] = {}
    deadline = time.monotonic() + WAIT
    while not bodies <= found.keys():
        assert time.monotonic() < deadline, (
            f"{queue}.dead: still missing {bodies - found.keys()} after {WAIT}s"
        )
        message = await dead.get(no_ack=False, fail=False)
        if message is None:
            await asyncio.sleep(0.1)
            continue
        await message.ack()
        found[message.body] = message
    return found


def malformed(marker: str) -> dict[str, bytes]:
    """Poison bodies carrying ``marker`` so a test recognises its own."""
    return {
        "not json": f"not json at all {marker}".encode(),
        "missing fields": json.dumps({"schema_version": 1, "poison": marker}).encode(),
    }


async def settled_after_stopping(
    pipeline: Pipeline, channel: aio_pika.abc.AbstractChannel, worker: Worker, queue: str
) -> dict[str, int]:
    """Stop ``worker`` (it finishes what it holds) and return the ready count of each of
    ``queue``'s retry queues and of ``queue`` itself once no consumer is left on it. Final:
    only a retry queue's expiry moves a message now, into ``queue``, which is read last."""
    await asyncio.to_thread(worker.stop)
    counts = {}
    for delay in pipeline.settings.retry.tiers_seconds:
        name = Topology.retry_queue_name(queue, delay)
        counts[name] = (await depth(channel, name))[0]
    counts[queue] = await settled_depth(channel, queue, timeout=WAIT)
    return counts


async def staged_part_of_an_unknown_run(pipeline: Pipeline) -> tuple[PartStaged, str]:
    """A well-formed ``PartStaged`` whose run nobody created, and its staging object."""
    run_id = uuid.uuid4().hex[:24]
    key = f"{pipeline.settings.minio.staging_prefix}{run_id}/000-000"
    await pipeline.objects.put_bytes(key, b"\x00" * 64)
    message = PartStaged(
        correlation_id=run_id,
        run_id=run_id,
        partition=0,
        part=0,
        staging_key=key,
        size=64,
        sha256="0" * 64,
        wrapped_key="AAAA",
        records={f"Interaction-{run_id}.jsonl": 1},
        last_in_partition=True,
    )
    return message, key


async def staged_keys(pipeline: Pipeline, prefix: str) -> list[str]:
    return [info.key async for info in pipeline.objects.list(prefix)]


@pytest.mark.parametrize("routing_key", list(QUEUES))
async def test_malformed_messages_are_dead_lettered_at_once(
    pipeline: Pipeline,
    workers: dict[str, Worker],
    channel: aio_pika.abc.AbstractChannel,
    routing_key: str,
) -> None:
    # Given a message that is not JSON, and JSON without the fields the message type requires
    poison = malformed(uuid.uuid4().hex)

    # When another system publishes them where the workers listen
    for body in poison.values():
        await send(channel, routing_key, body)

    # Then each lands in the queue's dead letters, rejected (not retried to the delivery limit)
    found = await dead_letters(channel, QUEUES[routing_key], set(poison.values()))
    for kind, body in poison.items():
        headers = found[body].headers
        assert headers.get("x-first-death-reason") == "rejected", (kind, headers)
        assert headers.get("x-first-death-queue") == QUEUES[routing_key], (kind, headers)


@pytest.mark.parametrize("routing_key", list(QUEUES))
async def test_a_body_labelled_json_that_is_not_json_is_dead_lettered_at_once(
    pipeline: Pipeline,
    workers: dict[str, Worker],
    channel: aio_pika.abc.AbstractChannel,
    routing_key: str,
) -> None:
    body = f"{{not json {uuid.uuid4().hex}".encode()

    await send(channel, routing_key, body, content_type="application/json")

    found = await dead_letters(channel, QUEUES[routing_key], {body})
    assert found[body].headers.get("x-first-death-reason") == "rejected"


async def test_a_part_of_an_unknown_run_is_acked_and_its_staging_removed(
    pipeline: Pipeline, workers: dict[str, Worker], channel: aio_pika.abc.AbstractChannel
) -> None:
    # Given a staged object and a well-formed PartStaged for a run nobody created
    message, key = await staged_part_of_an_unknown_run(pipeline)
    assert await staged_keys(pipeline, key) == [key]

    # When it is published
    await send(channel, "part.staged", message.model_dump_json().encode(), "application/json")

    # Then the staging object is removed
    await pipeline.wait_until(lambda: staged_keys(pipeline, key), lambda keys: keys == [])
    # And the message was acked: with the encryptor stopped, it is neither waiting to be retried
    # nor back in its queue, and its dead letters (a permanent failure's copy is confirmed there
    # before the ack) hold nothing of it. The management API's sampled counts can't tell this.
    queue = QUEUES["part.staged"]
    encryptor = workers["encryptor"]
    try:
        counts = await settled_after_stopping(pipeline, channel, encryptor, queue)
        assert set(counts.values()) == {0}, f"the part is still in a queue: {counts}"
        dead = await channel.get_queue(f"{queue}.dead", ensure=False)
        while (letter := await dead.get(no_ack=False, fail=False)) is not None:
            await letter.ack()
            assert message.run_id.encode() not in letter.body, "the part was dead-lettered"
    finally:
        await asyncio.to_thread(encryptor.start)
    with pytest.raises(NotFoundError):
        await pipeline.runs.get(message.run_id)  # and no run appeared


async def test_the_pipeline_keeps_exporting_after_poison(
    pipeline: Pipeline,
    workers: dict[str, Worker],
    channel: aio_pika.abc.AbstractChannel,
) -> None:
    # Given every kind of poison on every work queue
    poison = malformed(uuid.uuid4().hex)
    for routing_key in QUEUES:
        for body in poison.values():
            await send(channel, routing_key, body)
    unknown, key = await staged_part_of_an_unknown_run(pipeline)
    await send(channel, "part.staged", unknown.model_dump_json().encode(), "application/json")
    # (every poison message is in its dead letters, the unknown part's staging removed)
    for queue in QUEUES.values():
        await dead_letters(channel, queue, set(poison.values()))
    await pipeline.wait_until(lambda: staged_keys(pipeline, key), lambda keys: keys == [])

    # When a user requests an export afterwards
    run_id = await pipeline.request("interaction", split=64 * 1024)

    # Then it completes with every record, and staging is left empty
    run = await pipeline.finished(run_id)
    assert run.status == "completed", run.error
    # The exporter records a partition's count after publishing its last part, which can be
    # sealed (and the run completed) first: the count is awaited, not read at completion.
    progress = await pipeline.wait_until(
        lambda: pipeline.runs.progress(run), lambda p: p.records_exported >= INTERACTIONS
    )
    assert progress.records_sealed == progress.records_exported == INTERACTIONS
    # A finished run's leftovers are removed after its status changes: awaited too
    await pipeline.staging_emptied()
