"""Forged ``RunRequested`` on the internal bus (docs/pipeline.md §1): whoever can publish on
``cdds.events`` must not make the exporter read another tenant's contact history.

The attack of the issue: tenant ``big``'s user publishes a ``RunRequested`` naming ``big``, the
UCS tenant of tenant ``victim`` and himself as owner. The exporter works only for a run document
the gateway created whose fields the message repeats, owned by an enabled exporter of the tenant
that owns the UCS tenant; anything else is dead-lettered with its reason and audited, and nothing
is read, staged or sealed.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import pytest

from cdds_shared.audit import AuditEvent, AuditLog
from cdds_shared.errors import NotFoundError
from cdds_shared.messaging import publish
from cdds_shared.messaging.messages import (
    ExportPartition,
    Message,
    PartStaged,
    RunRequested,
    Timeframe,
)
from cdds_shared.messaging.topology import WORK_QUEUES
from cdds_shared.runs import Run, utcnow
from cdds_shared.runs.requesting import request_run
from tests.e2e.pipeline import Pipeline, Worker

pytestmark = pytest.mark.integration

INTERACTIONS, CONTACTS = 300, 30  # the victim's; tenant big has the other seeded UCS tenant
DEAD = f"{WORK_QUEUES['exporter'].name}.dead"
DEAD_PARTS = f"{WORK_QUEUES['encryptor'].name}.dead"
DEAD_PARTITIONS = f"{WORK_QUEUES['exporter-partition'].name}.dead"
REFUSED = "run.request_refused"
BIG, BIG_USER, VIEWER = "big", "u-big", "u-big-viewer"
WAIT = 60.0


@pytest.fixture(scope="module")
async def workers(pipeline: Pipeline) -> dict[str, Worker]:
    started = {name: pipeline.worker(name) for name in ("exporter", "encryptor")}
    # The victim (the module's UCS tenant) and big (the other one), each with its exporter.
    await pipeline.requester.tenant(pipeline.tenant_of(pipeline.tenant_id), pipeline.tenant_id)
    await pipeline.requester.tenant(BIG, pipeline.other_tenant_id)
    await pipeline.requester.user(BIG_USER, BIG)
    await pipeline.requester.user(VIEWER, BIG, roles=())  # signs in, may not export
    for owner in (BIG_USER, VIEWER):
        await pipeline.give_certificate(owner)
    return started


@pytest.fixture(scope="module")
async def channel(pipeline: Pipeline) -> AsyncIterator[aio_pika.abc.AbstractChannel]:
    connection = await aio_pika.connect(pipeline.settings.rabbit.url.get_secret_value())
    async with connection:
        yield await connection.channel()


@pytest.fixture(scope="module")
async def dead_letters(pipeline: Pipeline, channel: aio_pika.abc.AbstractChannel) -> DeadLetters:
    return DeadLetters(pipeline, await channel.get_queue(DEAD, ensure=False))


class DeadLetters:
    """The exporter's dead letters, taken off the queue and kept by message id."""

    def __init__(self, pipeline: Pipeline, queue: aio_pika.abc.AbstractQueue) -> None:
        self.pipeline, self.queue = pipeline, queue
        self.taken: dict[str, aio_pika.abc.AbstractIncomingMessage] = {}

    async def _take(self) -> dict[str, aio_pika.abc.AbstractIncomingMessage]:
        while (letter := await self.queue.get(no_ack=False, fail=False)) is not None:
            await letter.ack()
            self.taken[str(letter.message_id)] = letter
        return self.taken

    async def of(self, message: Message) -> aio_pika.abc.AbstractIncomingMessage:
        """The dead letter of ``message`` (waits for it, bounded)."""
        key = str(message.message_id)
        taken = await self.pipeline.wait_until(self._take, lambda t: key in t, timeout=WAIT)
        return taken[key]


async def refusals(pipeline: Pipeline, run_id: str) -> list[AuditEvent]:
    return await AuditLog(pipeline.documents).find(action=REFUSED, target=run_id)


async def objects_naming(pipeline: Pipeline, run_id: str) -> list[str]:
    return [info.key async for info in pipeline.objects.list("") if run_id in info.key]


async def assert_refused(
    pipeline: Pipeline, dead_letters: DeadLetters, forged: RunRequested, reason: str
) -> AuditEvent:
    """The message is dead-lettered with ``reason`` and audited once, naming what it claimed."""
    letter = await dead_letters.of(forged)
    assert RunRequested.model_validate_json(letter.body) == forged
    headers: dict[str, Any] = dict(letter.headers)
    assert reason in str(headers.get("x-cdds-reason")), headers

    async def audited() -> list[AuditEvent]:
        events = await refusals(pipeline, forged.run_id)
        return [e for e in events if e.detail["message_id"] == str(forged.message_id)]

    [event] = await pipeline.wait_until(audited, lambda found: len(found) >= 1, timeout=WAIT)
    assert (event.actor, event.outcome) == ("exporter", "failure")
    assert reason in event.detail["reason"]
    assert event.detail["claimed_tenant"] == forged.tenant
    assert event.detail["claimed_ucs_tenant_id"] == forged.ucs_tenant_id
    assert event.detail["claimed_owner"] == forged.owner
    return event


def forged_request(**fields: Any) -> RunRequested:
    run_id = fields.pop("run_id", None) or uuid.uuid4().hex[:24]
    values: dict[str, Any] = {
        "correlation_id": run_id,
        "run_id": run_id,
        "record_type": "interaction",
        **fields,
    }
    return RunRequested(**values)


async def test_a_forged_request_for_another_tenants_data_exports_nothing(
    pipeline: Pipeline, workers: dict[str, Worker], dead_letters: DeadLetters
) -> None:
    # Given big's user, who can publish on the broker
    # When he publishes a RunRequested naming big, the victim's UCS tenant and himself, for a
    # run the gateway never created
    forged = forged_request(tenant=BIG, ucs_tenant_id=pipeline.tenant_id, owner=BIG_USER)
    await publish(pipeline.broker, forged)

    # Then it is dead-lettered with the reason, and an audit event names it
    event = await assert_refused(pipeline, dead_letters, forged, "the gateway never created it")
    assert event.tenant == BIG

    # And nothing was planned, read, staged or sealed: no run, no partition, no object
    with pytest.raises(NotFoundError):
        await pipeline.runs.get(forged.run_id)
    assert await pipeline.runs.partitions(forged.run_id) == []
    assert await pipeline.runs.artifacts(forged.run_id) == []
    assert await objects_naming(pipeline, forged.run_id) == []


async def test_a_request_that_changes_a_genuine_run_is_refused_and_the_run_untouched(
    pipeline: Pipeline, workers: dict[str, Worker], dead_letters: DeadLetters
) -> None:
    # Given big's genuine run, created by the gateway, its own RunRequested held back
    held: list[Message] = []

    async def hold(message: Message) -> None:
        held.append(message)

    genuine = await request_run(
        pipeline.runs,
        hold,
        Run(
            id=uuid.uuid4().hex[:24],
            tenant=BIG,
            ucs_tenant_id=pipeline.other_tenant_id,
            owner=BIG_USER,
            record_type="interaction",
            timeframe=Timeframe(),
            split_size_bytes=1 << 30,
            requested_at=utcnow(),
        ),
    )
    [request] = held
    assert isinstance(request, RunRequested)

    # When requests for it arrive that change whose data is read, or for whom
    changes = {
        "ucs_tenant_id": {"ucs_tenant_id": pipeline.tenant_id},
        "tenant": {"tenant": pipeline.tenant_of(pipeline.tenant_id)},
        "owner": {"owner": VIEWER},
    }
    forged = {
        field: request.model_copy(update={**change, "message_id": uuid.uuid4()})
        for field, change in changes.items()
    }
    for message in forged.values():
        await publish(pipeline.broker, message)

    # Then each is dead-lettered and audited with what differs
    for field, message in forged.items():
        await assert_refused(pipeline, dead_letters, message, f"in {field}")
    assert len(await refusals(pipeline, genuine.id)) == len(forged)

    # And the genuine run is untouched: still queued, not failed, nothing planned
    run = await pipeline.runs.get(genuine.id)
    assert (run.status, run.plan, run.error) == ("queued", None, None)

    # And its own request still exports big's data, and only big's
    await publish(pipeline.broker, request)
    run = await pipeline.finished(genuine.id)
    assert run.status == "completed", run.error
    assert run.plan is not None and run.plan.estimate == 300  # the other seeded tenant's
    records = await pipeline.exported_records(genuine.id, pipeline.workdir / genuine.id)
    lines = records[f"Interaction-{genuine.id}.jsonl"]
    assert len(lines) == 300
    assert {json.loads(line)["tenantId"] for line in lines} == {pipeline.other_tenant_id}


async def test_a_run_whose_owner_may_not_export_is_refused(
    pipeline: Pipeline, workers: dict[str, Worker], dead_letters: DeadLetters
) -> None:
    # Given a run the gateway created for a user of big without the exporter role
    held: list[Message] = []

    async def hold(message: Message) -> None:
        held.append(message)

    run = Run(
        id=uuid.uuid4().hex[:24],
        tenant=BIG,
        ucs_tenant_id=pipeline.other_tenant_id,
        owner=VIEWER,
        record_type="contact",
        split_size_bytes=1 << 30,
        requested_at=utcnow(),
    )
    await request_run(pipeline.runs, hold, run)
    [request] = held
    assert isinstance(request, RunRequested)

    # When its request arrives
    await publish(pipeline.broker, request)

    # Then it is refused, and the run is left as it was (nothing read)
    await assert_refused(
        pipeline, dead_letters, request, f"owner {VIEWER} does not have the exporter role"
    )
    stored = await pipeline.runs.get(run.id)
    assert (stored.status, stored.plan) == ("queued", None)
    assert await pipeline.runs.partitions(run.id) == []


async def test_a_staged_part_naming_an_object_outside_its_runs_staging_deletes_nothing(
    pipeline: Pipeline, workers: dict[str, Worker], channel: aio_pika.abc.AbstractChannel
) -> None:
    # Given someone's sealed file in the bucket
    victim = f"artifacts/acme/{uuid.uuid4().hex[:24]}/Interaction-x-000-000.zip.p7m"
    await pipeline.objects.put_bytes(victim, b"sealed bytes")

    # When a PartStaged of a run nobody created names it as its staged object
    run_id = uuid.uuid4().hex[:24]
    forged = PartStaged(
        correlation_id=run_id,
        run_id=run_id,
        partition=0,
        part=0,
        staging_key=victim,
        size=12,
        sha256="0" * 64,
        wrapped_key="AAAA",
        records={f"Interaction-{run_id}.jsonl": 1},
        last_in_partition=True,
    )
    await publish(pipeline.broker, forged)

    # Then it is dead-lettered with the reason, and the file is still there
    parts = DeadLetters(pipeline, await channel.get_queue(DEAD_PARTS, ensure=False))
    letter = await parts.of(forged)
    assert "outside its staging" in str(dict(letter.headers).get("x-cdds-reason"))
    assert [i.key async for i in pipeline.objects.list(victim)] == [victim]
    with pytest.raises(NotFoundError):
        await pipeline.runs.get(run_id)


async def test_a_partition_of_a_run_nobody_created_does_nothing(
    pipeline: Pipeline, workers: dict[str, Worker], channel: aio_pika.abc.AbstractChannel
) -> None:
    # When an ExportPartition names a run that does not exist
    run_id = uuid.uuid4().hex[:24]
    forged = ExportPartition(correlation_id=run_id, run_id=run_id, partition=0)
    await publish(pipeline.broker, forged)

    # Then it is dead-lettered (the run is unknown), and no run, progress or object appears
    partitions = DeadLetters(pipeline, await channel.get_queue(DEAD_PARTITIONS, ensure=False))
    letter = await partitions.of(forged)
    assert f"run {run_id} not found" in str(dict(letter.headers).get("x-cdds-reason"))
    with pytest.raises(NotFoundError):
        await pipeline.runs.get(run_id)
    assert await pipeline.runs.partitions(run_id) == []
    assert await objects_naming(pipeline, run_id) == []
