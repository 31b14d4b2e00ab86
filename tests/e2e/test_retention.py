"""Retention you can prove (docs/retention.md), on the real servers with a retention of a few
seconds: every sealed file disappears within retention + sweep interval, whether its timer
arrives, is purged, or finds MinIO down; several janitors delete each file once, audited once;
the bucket's lifecycle backstop is in place."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta

import aio_pika
import httpx
import pytest

from cdds_shared.audit import AuditEvent, AuditLog
from cdds_shared.errors import NotFoundError
from cdds_shared.identity import IdentityStore
from cdds_shared.messaging.messages import ArtifactExpired
from cdds_shared.messaging.topology import EVENTS
from cdds_shared.ports.objects import RETENTION_RULE_ID
from cdds_shared.retention import STAGING_RULE_ID, lifecycle_days
from cdds_shared.runs import Artifact, utcnow
from cdds_tools.workers import WorkerProcess
from tests.e2e.pipeline import Pipeline, Worker
from tests.infra import free_port
from tests.infra.isolation import rabbit_management
from tests.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.slow]

INTERACTIONS, CONTACTS = 300, 30
RETENTION, SWEEP = 3, 1.0
WORKER_ENV = {
    "CDDS_RETENTION__SECONDS": str(RETENTION),
    "CDDS_JANITOR__SWEEP_INTERVAL_SECONDS": str(SWEEP),
}
SPLIT = 64 * 1024  # a few files per run
SLACK = 8.0
"""Processing allowance on top of the bound (a sweep's own work, polling, a loaded machine)."""
AFTER = 30.0
"""Bound of the waits for what follows a deletion (mark, audit, announcement, metrics)."""


@pytest.fixture(scope="module")
async def exporter(pipeline: Pipeline) -> Worker:
    await pipeline.give_certificate("alice")
    return pipeline.worker("exporter")


@pytest.fixture
async def encryptor(pipeline: Pipeline, exporter: Worker) -> AsyncIterator[Worker]:
    worker = pipeline.worker("encryptor")
    yield worker
    worker.stop()


@pytest.fixture(scope="module")
async def expired_events(pipeline: Pipeline) -> AsyncIterator[aio_pika.abc.AbstractQueue]:
    """A queue of ``ArtifactExpired``, bound the way an integrating system would bind it."""
    connection = await aio_pika.connect(pipeline.settings.rabbit.url.get_secret_value())
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(EVENTS.name, "topic", durable=True)
        # cdds.*: the services' user the pipeline connects as may declare nothing else.
        name = f"cdds.test.expired.{uuid.uuid4().hex[:6]}"
        queue = await channel.declare_queue(name, durable=True)
        await queue.bind(exchange, ArtifactExpired.ROUTING_KEY)
        yield queue


def start_janitor(pipeline: Pipeline, **overrides: str) -> WorkerProcess:
    """A janitor process on a known port (for ``/metrics``), stopped with the pipeline."""
    log = pipeline.workdir / f"janitor-{uuid.uuid4().hex[:4]}.log"
    worker = WorkerProcess("janitor", {**pipeline.env, **overrides}, log, port=free_port())
    worker.start()
    pipeline.workers[f"janitor-{uuid.uuid4().hex[:6]}"] = worker
    return worker


def metrics(worker: WorkerProcess) -> dict[str, float]:
    text = httpx.get(f"http://127.0.0.1:{worker.port}/metrics", timeout=5).text
    return {
        name: float(value)
        for line in text.splitlines()
        if line and not line.startswith("#")
        for name, value in [line.rsplit(" ", 1)]
    }


async def sealed_run(pipeline: Pipeline, retention: int = RETENTION) -> tuple[str, list[Artifact]]:
    """Export a run into several files and wait until every file's timer is parked (the
    encryptor flags an artifact ``announced`` only after its timer is confirmed)."""
    run_id = await pipeline.request("interaction", split=SPLIT)
    run = await pipeline.finished(run_id, timeout=120)
    assert run.status == "completed", run.error
    artifacts = await pipeline.wait_until(
        lambda: pipeline.runs.artifacts(run_id), lambda found: all(a.announced for a in found)
    )
    assert len(artifacts) >= 2
    for a in artifacts:  # docs/retention.md: expires_at = sealed time + retention
        assert a.expires_at - a.created_at == timedelta(seconds=retention)
    return run_id, artifacts


async def gone(pipeline: Pipeline, key: str) -> bool:
    try:
        await pipeline.objects.stat(key)
    except NotFoundError:
        return True
    return False


async def wait_all_gone(pipeline: Pipeline, artifacts: list[Artifact], deadline: float) -> None:
    """Poll MinIO until no artifact's object is left; fail at ``deadline`` (monotonic)."""
    left = {a.object_key for a in artifacts}
    while left:
        left = {key for key in left if not await gone(pipeline, key)}
        if left and time.monotonic() > deadline:
            raise AssertionError(f"still in MinIO after the bound: {sorted(left)}")
        await asyncio.sleep(0.1)


def deadline_of(artifacts: list[Artifact], bound: float) -> float:
    """``bound`` seconds after the last expiry, on the monotonic clock."""
    latest = max(a.expires_at for a in artifacts)
    wall_left = (latest - utcnow()).total_seconds()
    return time.monotonic() + max(0.0, wall_left) + bound


async def expiry_audits(pipeline: Pipeline, artifacts: list[Artifact]) -> list[AuditEvent]:
    """Each artifact's expiry audit event, exactly one each. The janitor writes it after the
    object's delete and the mark, so it is awaited (bounded), not read once the object is gone."""
    audit = AuditLog(pipeline.documents)

    async def found() -> dict[str, int]:
        return {
            a.id: len(await audit.find(action="artifact.expire", target=a.id)) for a in artifacts
        }

    counts = await eventually(found, lambda c: all(c.values()), timeout=AFTER, what="audits")
    assert set(counts.values()) == {1}, f"audit events per artifact: {counts}"
    events = []
    for a in artifacts:
        events.extend(await audit.find(action="artifact.expire", target=a.id))
    return events


async def assert_nothing_left(pipeline: Pipeline, run_id: str, artifacts: list[Artifact]) -> None:
    """A scan of MinIO finds no object of the expired run (its staged parts are removed after
    it completed, not before: awaited too); every artifact is marked deleted (the mark follows
    the object's delete: awaited, bounded)."""

    async def left() -> list[str]:
        return [o.key async for o in pipeline.objects.list("") if run_id in o.key]

    await eventually(left, lambda keys: keys == [], timeout=AFTER, what=f"objects of {run_id}")
    statuses = await eventually(
        lambda: pipeline.runs.artifacts(run_id),
        lambda found: all(a.status == "deleted" for a in found),
        timeout=AFTER,
        what="artifacts marked deleted",
    )
    assert {a.id for a in statuses} == {a.id for a in artifacts}


async def janitor_metrics(
    janitors: list[WorkerProcess], until: Callable[[dict[str, float]], bool]
) -> dict[str, float]:
    """The janitors' ``/metrics`` summed, once ``until`` holds (a janitor counts a deletion
    after announcing it, so the counters trail the audit log)."""

    async def summed() -> dict[str, float]:
        total: dict[str, float] = {}
        for janitor in janitors:
            for name, value in (await asyncio.to_thread(metrics, janitor)).items():
                total[name] = total.get(name, 0.0) + value
        return total

    return await eventually(summed, until, timeout=AFTER, what="janitor metrics")


def deleted_total(seen: dict[str, float]) -> float:
    return sum(v for k, v in seen.items() if k.startswith("cdds_janitor_deleted_total"))


async def expired_announcements(
    queue: aio_pika.abc.AbstractQueue, artifacts: list[Artifact], janitors: list[WorkerProcess]
) -> dict[str, int]:
    """How often each artifact's ``ArtifactExpired`` was published, as a final count.

    The absence of a duplicate can't be awaited, so the count is made final instead: once one
    announcement of each artifact arrived (awaited, bounded), the ``janitors`` are stopped (a
    janitor finishes what it holds; its publishes are confirmed), and then nothing can announce
    these artifacts any more and the queue holds every copy there will be. Other artifacts'
    announcements (earlier tests of the module) are taken too, and not counted."""
    wanted = {a.id: 0 for a in artifacts}

    async def take() -> dict[str, int]:
        while (message := await queue.get(fail=False)) is not None:
            event = ArtifactExpired.model_validate_json(message.body)
            if event.artifact_id in wanted:
                wanted[event.artifact_id] += 1
            await message.ack()
        return dict(wanted)

    await eventually(take, lambda seen: all(seen.values()), timeout=AFTER, what="announcements")
    for janitor in janitors:
        await asyncio.to_thread(janitor.stop)
    return await take()


def record_lags(name: str, events: list[AuditEvent]) -> list[float]:
    lags = sorted(float(e.detail["lag_seconds"]) for e in events)
    print(f"\n{name}: deletion lag (s) per artifact: {lags}")
    return lags


async def test_files_disappear_within_retention_plus_sweep_interval(
    pipeline: Pipeline, encryptor: Worker, expired_events: aio_pika.abc.AbstractQueue
) -> None:
    janitor = start_janitor(pipeline)
    run_id, artifacts = await sealed_run(pipeline)

    await wait_all_gone(pipeline, artifacts, deadline_of(artifacts, SWEEP + SLACK))

    events = await expiry_audits(pipeline, artifacts)
    lags = record_lags("timers and sweep", events)
    assert max(lags) <= SWEEP + SLACK
    await assert_nothing_left(pipeline, run_id, artifacts)
    seen = await janitor_metrics(
        [janitor], lambda m: m.get("cdds_janitor_deletion_lag_seconds_count", 0) >= len(artifacts)
    )
    assert deleted_total(seen) == len(artifacts)
    assert seen["cdds_janitor_deletion_lag_seconds_count"] == len(artifacts)
    assert seen["cdds_janitor_deletion_lag_seconds_max"] == pytest.approx(max(lags), abs=0.01)
    assert seen["cdds_janitor_sweep_last_success_timestamp"] > time.time() - 10
    # Announced once each (counted after the janitor stopped: final)
    announced = await expired_announcements(expired_events, artifacts, [janitor])
    assert set(announced.values()) == {1}, announced


async def test_timers_alone_delete_on_time(pipeline: Pipeline, encryptor: Worker) -> None:
    # A sweep only at start-up (before anything is due): every deletion comes from a timer.
    janitor = start_janitor(pipeline, CDDS_JANITOR__SWEEP_INTERVAL_SECONDS="3600")
    run_id, artifacts = await sealed_run(pipeline)

    await wait_all_gone(pipeline, artifacts, deadline_of(artifacts, SLACK))

    events = await expiry_audits(pipeline, artifacts)
    assert {e.detail["trigger"] for e in events} == {"event"}
    assert max(record_lags("timers only", events)) <= SLACK
    await assert_nothing_left(pipeline, run_id, artifacts)
    janitor.stop()


async def test_the_sweep_deletes_everything_due_when_the_hold_queue_is_purged(
    pipeline: Pipeline, exporter: Worker
) -> None:
    # Long enough a retention to purge every timer before the first one is due.
    retention = 10
    encryptor = pipeline.worker("encryptor", CDDS_RETENTION__SECONDS=str(retention))
    janitor = start_janitor(pipeline, CDDS_RETENTION__SECONDS=str(retention))
    try:
        run_id, artifacts = await sealed_run(pipeline, retention)
        connection = await aio_pika.connect(pipeline.settings.rabbit.url.get_secret_value())
        async with connection:
            channel = await connection.channel()
            hold = await channel.get_queue(f"cdds.retention.hold.{retention}s", ensure=False)
            purged = await hold.purge()
        assert purged.message_count == len(artifacts), "a timer left before the purge"

        await wait_all_gone(pipeline, artifacts, deadline_of(artifacts, SWEEP + SLACK))

        events = await expiry_audits(pipeline, artifacts)
        assert {e.detail["trigger"] for e in events} == {"sweep"}
        assert max(record_lags("sweep only (timers purged)", events)) <= SWEEP + SLACK
        await assert_nothing_left(pipeline, run_id, artifacts)
    finally:
        janitor.stop()
        encryptor.stop()


def minio_answers(pipeline: Pipeline) -> bool:
    host, port = pipeline.stack.minio_endpoint.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=0.5).close()
    except OSError:
        return False
    return True


async def minio_down_through(pipeline: Pipeline, artifacts: list[Artifact]) -> datetime | None:
    """Stop MinIO before the first file is due and keep it down until a sweep interval after
    the last one. Returns when it was started again, or ``None`` if it came back meanwhile
    (another test session on this machine starts the shared stack's servers it finds stopped)."""
    stop, start = pipeline.stack.stop_server, pipeline.stack.start_server
    assert stop is not None and start is not None, "this provider cannot stop MinIO"
    await asyncio.to_thread(stop, "minio")
    stayed_down = True
    try:
        assert utcnow() < min(a.expires_at for a in artifacts), "MinIO stopped too late"
        until = max(a.expires_at for a in artifacts) + timedelta(seconds=2 * SWEEP)
        while utcnow() < until:
            stayed_down = stayed_down and not minio_answers(pipeline)
            await asyncio.sleep(0.1)
    finally:
        restarted = utcnow()
        await asyncio.to_thread(start, "minio")
    return restarted if stayed_down else None


async def test_nothing_survives_minio_being_down_at_the_due_time(
    pipeline: Pipeline, exporter: Worker
) -> None:
    retention = 5  # room to stop MinIO before the first file is due
    encryptor = pipeline.worker("encryptor", CDDS_RETENTION__SECONDS=str(retention))
    janitor = start_janitor(pipeline)
    try:
        for _attempt in range(3):
            run_id, artifacts = await sealed_run(pipeline, retention)
            # Given MinIO down from before the due time to a sweep interval after it
            restarted = await minio_down_through(pipeline, artifacts)
            back = time.monotonic()
            if restarted is not None:
                break
            print("MinIO was started by someone else meanwhile; the scenario is repeated")
            await wait_all_gone(pipeline, artifacts, back + SWEEP + SLACK + 5)
        else:
            pytest.fail("MinIO kept being started by another session")

        # Then once it is back, everything goes within a sweep interval
        await wait_all_gone(pipeline, artifacts, back + SWEEP + SLACK)
        recovered = time.monotonic() - back
        events = await expiry_audits(pipeline, artifacts)
        # And nothing was marked deleted while its object could not be deleted
        assert min(e.at for e in events) >= restarted
        print(f"\nall deleted {recovered:.1f} s after MinIO was back")
        record_lags("MinIO down at the due time", events)
        await assert_nothing_left(pipeline, run_id, artifacts)
        failed = 'cdds_janitor_sweeps_total{result="failure"}'
        assert (await janitor_metrics([janitor], lambda m: m.get(failed, 0) >= 1))[failed] >= 1
    finally:
        janitor.stop()
        encryptor.stop()


async def test_several_janitors_delete_each_file_once(
    pipeline: Pipeline, encryptor: Worker, expired_events: aio_pika.abc.AbstractQueue
) -> None:
    janitors = [start_janitor(pipeline) for _ in range(3)]
    try:
        run_id, artifacts = await sealed_run(pipeline)

        await wait_all_gone(pipeline, artifacts, deadline_of(artifacts, SWEEP + SLACK))

        events = await expiry_audits(pipeline, artifacts)  # exactly one each
        assert max(record_lags("three janitors", events)) <= SWEEP + SLACK
        await assert_nothing_left(pipeline, run_id, artifacts)
        seen = await janitor_metrics(janitors, lambda m: deleted_total(m) >= len(artifacts))
        assert deleted_total(seen) == len(artifacts)
        # Announced once each, whichever janitor won (counted after all stopped: final)
        announced = await expired_announcements(expired_events, artifacts, janitors)
        assert set(announced.values()) == {1}, announced
    finally:
        for janitor in janitors:
            janitor.stop()


async def test_the_backstops_are_in_place_after_a_janitor_starts(pipeline: Pipeline) -> None:
    janitor = start_janitor(pipeline)
    try:
        # The janitor sets the rules at start-up, around the time it answers ready: awaited.
        wanted = {RETENTION_RULE_ID, STAGING_RULE_ID}
        found = await eventually(
            pipeline.objects.get_lifecycle,
            lambda rules: wanted <= {r.rule_id for r in rules},
            timeout=AFTER,
            what="lifecycle rules",
        )
        rules = {r.rule_id: r for r in found}
        assert rules[RETENTION_RULE_ID].prefix == "artifacts/"
        assert rules[RETENTION_RULE_ID].days == lifecycle_days(RETENTION) == 2
        assert rules[STAGING_RULE_ID].prefix == pipeline.settings.minio.staging_prefix
        assert rules[STAGING_RULE_ID].days == 1
        ok = "cdds_janitor_lifecycle_backstop_ok"
        assert (await janitor_metrics([janitor], lambda m: m.get(ok) == 1))[ok] == 1

        vhost = pipeline.settings.rabbit.url.get_secret_value().rsplit("/", 1)[1]
        with rabbit_management(pipeline.stack) as api:
            hold = api.get(f"/api/queues/{vhost}/cdds.retention.hold.{RETENTION}s").json()
        assert hold["type"] == "quorum"
        assert hold["arguments"]["x-message-ttl"] == RETENTION * 1000
        assert hold["arguments"]["x-dead-letter-strategy"] == "at-least-once"
        assert hold["arguments"]["x-overflow"] == "reject-publish"
        assert hold["arguments"]["x-dead-letter-routing-key"] == "artifact.due"
    finally:
        janitor.stop()


async def test_the_api_answers_410_for_an_expired_file_and_it_is_gone(
    pipeline: Pipeline, encryptor: Worker
) -> None:
    # Given a user of the gateway whose export was sealed (retention of a few seconds)
    start_janitor(pipeline)
    gateway = pipeline.worker("gateway")
    identity = IdentityStore(pipeline.documents)
    tenant = await pipeline.requester.tenant(
        pipeline.tenant_of(pipeline.tenant_id), pipeline.tenant_id
    )
    user = await identity.create_user("rita", tenant.name, ["exporter"], "rita's long password")
    await pipeline.give_certificate(user.id)
    run_id = await pipeline.request("interaction", owner=user.id, split=SPLIT)
    assert (await pipeline.finished(run_id, timeout=120)).status == "completed"
    artifacts = await pipeline.runs.artifacts(run_id)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gateway.bound_port}") as api:
        signed = await api.post(
            "/api/v1/session", json={"username": "rita", "password": "rita's long password"}
        )
        api.headers["Authorization"] = f"Bearer {signed.json()['token']}"
        api.cookies.clear()
        # When retention + sweep interval have passed
        await wait_all_gone(pipeline, artifacts, deadline_of(artifacts, SWEEP + SLACK))
        # Then every file answers 410 Gone, and none is left in MinIO
        for a in artifacts:
            content = await api.get(f"/api/v1/artifacts/{a.id}/content")
            assert content.status_code == 410, content.text
            assert content.json()["error"] == "gone"
    await assert_nothing_left(pipeline, run_id, artifacts)
