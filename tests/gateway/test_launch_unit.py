"""Starting and cloning runs, on the in-memory fakes (unit: no server). The same use cases run
against the real servers in test_jobs.py, test_runs.py and test_fair_share.py."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cdds_gateway.deps import GatewayDeps
from cdds_gateway.errors import status_of
from cdds_gateway.jobs_store import Job, JobTimeframe, Schedule
from cdds_gateway.principal import Principal
from cdds_gateway.usecases.clones import RunClone, clone_run
from cdds_gateway.usecases.launch import queued_run, start
from cdds_shared.errors import CertificateRequired, NotFoundError, ServiceUnavailable, TooManyRuns
from cdds_shared.messaging.messages import RunRequested, Timeframe
from cdds_shared.runs import Run, utcnow
from cdds_shared.scope import Scope
from cdds_shared.settings import Settings
from tests.fakes import FakeDocumentStore, FakeObjectStore, RecordingPublisher
from tests.unit_world import file_certificate

pytestmark = pytest.mark.unit

ALICE = Principal("u-alice", "alice", "acme", 7001, ("exporter",))


def gateway_deps(documents: FakeDocumentStore, publish: RecordingPublisher) -> GatewayDeps:
    return GatewayDeps.of(Settings(), documents, FakeObjectStore(), publish)


def alices_run(job_id: str | None = None) -> Run:
    end = utcnow()
    return queued_run(
        ALICE,
        owner=ALICE.user_id,
        record_type="interaction",
        media_types=["voice"],
        timeframe=Timeframe(start=end - timedelta(days=1), end=end),
        split_size_bytes=64 << 20,
        job_id=job_id,
    )


async def alices_job(deps: GatewayDeps) -> Job:
    now = utcnow()
    job = Job(
        _id="job-1",
        tenant=ALICE.tenant,
        owner=ALICE.user_id,
        owner_name=ALICE.username,
        title="nightly",
        type="interaction",
        schedule=Schedule(kind="now"),
        timeframe=JobTimeframe(kind="all"),
        created_at=now,
        updated_at=now,
    )
    await deps.jobs.insert(job)
    return job


async def audited(deps: GatewayDeps, action: str) -> list[str]:
    events = await deps.audit.find(tenant=ALICE.tenant, action=action)
    return [e.outcome for e in events]


async def test_a_run_starts_published_and_recorded_on_its_job() -> None:
    documents, publish = FakeDocumentStore(), RecordingPublisher()
    deps = gateway_deps(documents, publish)
    await file_certificate(documents, ALICE.user_id)
    job = await alices_job(deps)

    run = await start(deps, ALICE, alices_run(job.id), owner_name="alice")

    stored = await deps.runs.get(run.id)
    assert stored.status == "queued" and stored.created_by == "gateway"
    assert [m.run_id for m in publish.of(RunRequested)] == [run.id]
    again = await deps.jobs.get(job.id, Scope(ALICE.tenant))
    assert again is not None and again.last_run_id == run.id
    assert await audited(deps, "run.start") == ["success"]
    assert deps.metrics.registry.get_sample_value("cdds_runs_started_total") == 1


async def test_no_certificate_refuses_and_leaves_nothing() -> None:
    documents, publish = FakeDocumentStore(), RecordingPublisher()
    deps = gateway_deps(documents, publish)
    run = alices_run()

    with pytest.raises(CertificateRequired) as refused:
        await start(deps, ALICE, run, owner_name="alice")

    assert status_of(refused.value) == 409 and refused.value.link == "/preferences"
    assert "alice" in str(refused.value) and ALICE.user_id not in str(refused.value)
    assert publish.messages == []
    assert await deps.runs.live_run(run.id, Scope(ALICE.tenant)) is None
    assert await audited(deps, "run.start") == ["failure"]
    assert deps.metrics.registry.get_sample_value("cdds_runs_started_total") == 0


async def test_rabbitmq_not_confirming_removes_the_run_again() -> None:
    documents = FakeDocumentStore()
    publish = RecordingPublisher(fail=ConnectionError("broker gone"))
    deps = gateway_deps(documents, publish)
    await file_certificate(documents, ALICE.user_id)
    job = await alices_job(deps)
    run = alices_run(job.id)

    with pytest.raises(ServiceUnavailable) as refused:
        await start(deps, ALICE, run, owner_name="alice")

    assert status_of(refused.value) == 503
    assert await deps.runs.live_run(run.id, Scope(ALICE.tenant)) is None
    untouched = await deps.jobs.get(job.id, Scope(ALICE.tenant))
    assert untouched is not None and untouched.last_run_id is None
    assert deps.metrics.registry.get_sample_value("cdds_runs_started_total") == 0


async def test_a_full_backlog_refuses_people_but_not_the_scheduler() -> None:
    documents, publish = FakeDocumentStore(), RecordingPublisher()
    deps = gateway_deps(documents, publish)
    await file_certificate(documents, ALICE.user_id)
    for _ in range(deps.settings.export.max_queued_runs_per_user):
        await start(deps, ALICE, alices_run(), owner_name="alice")

    with pytest.raises(TooManyRuns) as refused:
        await start(deps, ALICE, alices_run(), owner_name="alice")
    assert status_of(refused.value) == 429 and refused.value.retry_at is not None
    await start(deps, ALICE, alices_run(), owner_name="alice", actor="scheduler")


async def test_a_cloned_run_reads_the_same_records_again_for_the_same_job() -> None:
    documents, publish = FakeDocumentStore(), RecordingPublisher()
    deps = gateway_deps(documents, publish)
    await file_certificate(documents, ALICE.user_id)
    job = await alices_job(deps)
    first = await start(deps, ALICE, alices_run(job.id), owner_name="alice")

    cloned = await clone_run(deps, ALICE, first.id, RunClone(target="run"))

    assert cloned.run is not None and cloned.run.id != first.id
    again = await deps.runs.get(cloned.run.id)
    assert (again.timeframe, again.owner, again.job_id) == (first.timeframe, first.owner, job.id)
    assert (again.record_type, again.media_types) == (first.record_type, first.media_types)
    latest = await deps.jobs.get(job.id, Scope(ALICE.tenant))
    assert latest is not None and latest.last_run_id == again.id
    assert [m.run_id for m in publish.of(RunRequested)] == [first.id, again.id]
    assert await audited(deps, "run.clone") == ["success"]


async def test_another_tenants_run_cannot_be_cloned() -> None:
    documents, publish = FakeDocumentStore(), RecordingPublisher()
    deps = gateway_deps(documents, publish)
    await file_certificate(documents, ALICE.user_id)
    first = await start(deps, ALICE, alices_run(), owner_name="alice")
    mallory = Principal("u-m", "mallory", "other", 7002, ("exporter", "admin"))

    with pytest.raises(NotFoundError) as refused:
        await clone_run(deps, mallory, first.id, RunClone(target="run"))
    assert status_of(refused.value) == 404
    assert len(publish.of(RunRequested)) == 1
