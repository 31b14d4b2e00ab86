"""The scheduler: due jobs start once per occurrence, whatever the number of replicas and
passes; a broker outage leaves them due; an owner who cannot export has the occurrence skipped
with the reason. Passes run at chosen moments (``run_due_jobs(deps, now)``), so no test waits
for the clock — except the one that proves the loop runs inside the app."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from cdds_gateway.deps import GatewayDeps
from cdds_gateway.jobs_store import Job
from cdds_gateway.scheduler import CLAIM_LEASE, run_due_jobs
from cdds_gateway.usecases.launch import occurrence_run_id
from cdds_shared.certificates import CertificateRecord
from cdds_shared.messaging import make_broker
from cdds_shared.runs import Run, utcnow
from cdds_shared.scope import Scope
from tests.gateway.conftest import new_tenant, new_user, rsa_certificate, sign_in
from tests.gateway.jobs_fixtures import (
    World,
    delete_vhost,
    jobs_gateway,
    jobs_vhost,
    private_gateway,
    take_requests,
    world,
)
from tests.infra import StackInfo
from tests.infra.isolation import temporary_vhost
from tests.waiting import eventually

pytestmark = pytest.mark.integration
__all__ = ["jobs_gateway", "jobs_vhost", "world"]


@pytest.fixture(autouse=True)
async def no_jobs(world: World) -> None:
    """Each test schedules its own jobs only (a pass at a far moment would start any)."""
    await world.deps.documents.collection("jobs").delete({})
    await take_requests(world.vhost)


@asynccontextmanager
async def replica(world: World, rabbit_url: str | None = None) -> AsyncIterator[GatewayDeps]:
    """Another gateway replica's ports on the same database (its own clients and locks)."""
    settings = world.gateway.settings
    if rabbit_url is not None:
        rabbit = settings.rabbit.model_copy(update={"url": SecretStr(rabbit_url)})
        settings = settings.model_copy(update={"rabbit": rabbit})
    broker = make_broker(settings.rabbit)
    await broker.start()
    deps = GatewayDeps.build(broker, settings)
    await deps.start()
    try:
        yield deps
    finally:
        await deps.stop()
        await broker.stop()


async def new_job(world: World, who: Any = None, **fields: Any) -> Job:
    body = {"title": "scheduled", "type": "interaction", **fields}
    response = await world.api.post("/api/v1/jobs", json=body, headers=(who or world.alice).bearer)
    assert response.status_code == 201, response.text
    job = await world.deps.jobs.get(response.json()["id"], Scope((who or world.alice).tenant.name))
    assert job is not None
    return job


async def job_now(world: World, job: Job) -> Job:
    found = await world.deps.jobs.get(job.id, Scope(job.tenant))
    assert found is not None
    return found


async def runs_of(world: World, job: Job) -> list[Run]:
    found = world.deps.documents.collection("runs").find({"job_id": job.id})
    return [Run.model_validate(d) async for d in found]


EVERY_6_HOURS = {"kind": "every_hours", "hours": 6}


async def test_a_due_job_starts_and_moves_to_its_next_occurrence(world: World) -> None:
    job = await new_job(world, schedule={"kind": "daily", "time": "02:00"})
    due = job.next_run_at
    assert due is not None and (due.hour, due.minute) == (2, 0)
    assert await run_due_jobs(world.deps, due - timedelta(seconds=1)) == []

    started = await run_due_jobs(world.deps, due + timedelta(minutes=5))
    assert started == [occurrence_run_id(job.id, due)]
    after = await job_now(world, job)
    assert after.next_run_at == due + timedelta(days=1)
    assert after.last_run_id == started[0] and after.claimed_at is None and after.last_error is None
    [request] = await take_requests(world.vhost)
    assert request.run_id == started[0] and request.owner == world.alice.user.id
    assert request.ucs_tenant_id == world.alice.tenant.ucs_tenant_id
    [event] = await world.deps.audit.find(action="run.start", target=started[0])
    assert event.actor == "scheduler" and event.outcome == "success"
    assert await run_due_jobs(world.deps, due + timedelta(minutes=5)) == []  # once


async def test_missed_occurrences_are_not_made_up(world: World) -> None:
    job = await new_job(world, schedule=EVERY_6_HOURS)
    assert job.next_run_at is not None
    late = job.next_run_at + timedelta(days=3, hours=1)  # the gateway was down for days
    assert len(await run_due_jobs(world.deps, late)) == 1
    after = await job_now(world, job)
    block = late.replace(hour=late.hour // 6 * 6, minute=0, second=0, microsecond=0)
    assert after.next_run_at == block + timedelta(hours=6)  # the first occurrence after now
    assert len(await runs_of(world, job)) == 1


async def test_two_replicas_passing_at_once_start_each_due_job_once(world: World) -> None:
    jobs = [await new_job(world, title=f"job {i}", schedule=EVERY_6_HOURS) for i in range(8)]
    moment = max(j.next_run_at for j in jobs if j.next_run_at) + timedelta(minutes=1)
    async with replica(world) as other:
        passes = await asyncio.gather(
            run_due_jobs(world.deps, moment),
            run_due_jobs(other, moment),
            run_due_jobs(world.deps, moment),
        )
    started = [run_id for one in passes for run_id in one]
    assert len(started) == len(set(started)) == len(jobs)
    for job in jobs:
        assert len(await runs_of(world, job)) == 1, job.title
        assert (await job_now(world, job)).next_run_at == job.next_run_at + timedelta(hours=6)  # type: ignore[operator]
    requests = await take_requests(world.vhost)
    assert sorted(r.run_id for r in requests) == sorted(started)


async def test_a_broker_outage_leaves_the_job_due(stack: StackInfo, world: World) -> None:
    job = await new_job(world, schedule=EVERY_6_HOURS)
    assert job.next_run_at is not None
    moment = job.next_run_at + timedelta(minutes=1)
    with temporary_vhost(stack) as broken:
        async with replica(world, broken) as failing:
            delete_vhost(stack, broken)
            assert await run_due_jobs(failing, moment) == []
    after = await job_now(world, job)
    assert after.next_run_at == job.next_run_at and after.claimed_at is None
    assert await runs_of(world, job) == []
    events = await world.deps.audit.find(action="run.start", actor="scheduler")
    [event] = [e for e in events if e.detail["job_id"] == job.id]
    assert event.outcome == "failure" and "RabbitMQ" in event.detail["reason"]
    # The next pass (here another replica's) starts it.
    assert len(await run_due_jobs(world.deps, moment)) == 1
    assert len(await runs_of(world, job)) == 1


async def test_an_owner_without_a_certificate_has_the_occurrence_skipped(world: World) -> None:
    job = await new_job(world, world.bob, schedule=EVERY_6_HOURS)
    assert job.next_run_at is not None
    assert await run_due_jobs(world.deps, job.next_run_at) == []
    after = await job_now(world, job)
    assert after.next_run_at == job.next_run_at + timedelta(hours=6)
    assert after.last_error is not None and "User preferences" in after.last_error
    assert after.last_error.startswith(
        f"the run due {job.next_run_at:%Y-%m-%d %H:%M} UTC was skipped"
    )
    assert await runs_of(world, job) == []
    view = (await world.api.get(f"/api/v1/jobs/{job.id}", headers=world.bob.bearer)).json()
    assert view["last_error"] == after.last_error


async def test_an_owner_who_may_no_longer_export_is_skipped(world: World) -> None:
    dave = await sign_in(world.api, await new_user(world.gateway, world.alice.tenant))
    cert, _ = rsa_certificate()
    await world.deps.certificates.put(CertificateRecord.of(dave.user.id, cert))
    job = await new_job(world, dave, schedule=EVERY_6_HOURS)
    await world.deps.identity.set_roles(dave.user.id, [])
    assert job.next_run_at is not None
    assert await run_due_jobs(world.deps, job.next_run_at) == []
    after = await job_now(world, job)
    assert after.last_error is not None and "may no longer export" in after.last_error
    assert after.next_run_at == job.next_run_at + timedelta(hours=6)


async def test_disabled_and_on_demand_jobs_are_left_alone(world: World) -> None:
    disabled = await new_job(world, schedule=EVERY_6_HOURS, enabled=False)
    on_demand = await new_job(world)
    assert disabled.next_run_at is None and on_demand.next_run_at is None
    assert await run_due_jobs(world.deps, utcnow() + timedelta(days=30)) == []


async def test_a_once_job_runs_once(world: World) -> None:
    at = (utcnow() + timedelta(days=2)).replace(microsecond=0)
    job = await new_job(world, schedule={"kind": "once", "at": at.isoformat()})
    assert job.next_run_at == at
    assert await run_due_jobs(world.deps, at - timedelta(minutes=1)) == []
    assert len(await run_due_jobs(world.deps, at + timedelta(minutes=1))) == 1
    assert (await job_now(world, job)).next_run_at is None
    assert await run_due_jobs(world.deps, at + timedelta(days=9)) == []


async def test_recurring_windows_follow_the_schedule(world: World) -> None:
    start = "2024-01-01T00:00:00+00:00"
    job = await new_job(
        world, schedule=EVERY_6_HOURS, timeframe={"kind": "since_previous", "start": start}
    )
    first_due = job.next_run_at
    assert first_due is not None
    await run_due_jobs(world.deps, first_due + timedelta(seconds=30))
    second_due = (await job_now(world, job)).next_run_at
    assert second_due == first_due + timedelta(hours=6)
    await run_due_jobs(world.deps, second_due + timedelta(minutes=3))
    first, second = sorted(await runs_of(world, job), key=lambda r: r.requested_at)
    assert first.timeframe.start == datetime.fromisoformat(start)
    assert first.timeframe.end == first_due
    assert (second.timeframe.start, second.timeframe.end) == (first_due, second_due)


async def test_an_abandoned_claim_is_taken_over_after_its_lease(world: World) -> None:
    job = await new_job(world, schedule=EVERY_6_HOURS)
    assert job.next_run_at is not None
    moment = job.next_run_at + timedelta(minutes=1)
    crashed = await world.deps.jobs.claim_due(moment, CLAIM_LEASE, "crashed-replica")
    assert crashed is not None and crashed.id == job.id
    assert await run_due_jobs(world.deps, moment) == []  # held
    assert len(await run_due_jobs(world.deps, moment + CLAIM_LEASE + timedelta(seconds=1))) == 1


async def test_an_occurrence_already_started_is_not_started_again(world: World) -> None:
    """A replica started the run, then died before moving the job on."""
    job = await new_job(world, schedule=EVERY_6_HOURS)
    assert job.next_run_at is not None
    moment = job.next_run_at + timedelta(minutes=1)
    assert len(await run_due_jobs(world.deps, moment)) == 1
    await world.deps.jobs.update(
        job.id, Scope(job.tenant), {"next_run_at": job.next_run_at}
    )  # as if never moved
    assert await run_due_jobs(world.deps, moment) == []
    assert len(await runs_of(world, job)) == 1
    assert (await job_now(world, job)).next_run_at == job.next_run_at + timedelta(hours=6)


async def test_the_app_runs_the_scheduler(stack: StackInfo) -> None:
    """``create_app`` installs the loop: a job due in a second starts without anyone asking."""
    with temporary_vhost(stack) as vhost:
        fast = private_gateway(stack, vhost, scheduler_interval_seconds=0.2)
        async with fast as gateway, gateway.client() as api:
            user = await sign_in(api, await new_user(gateway, await new_tenant(gateway)))
            cert, _ = rsa_certificate()
            await gateway.deps.certificates.put(CertificateRecord.of(user.user.id, cert))
            at = utcnow() + timedelta(seconds=1)
            body = {
                "title": "soon",
                "type": "contact",
                "schedule": {"kind": "once", "at": at.isoformat()},
            }
            job = (await api.post("/api/v1/jobs", json=body, headers=user.bearer)).json()

            async def seen() -> dict[str, Any]:
                reply = await api.get(f"/api/v1/jobs/{job['id']}", headers=user.bearer)
                return dict(reply.json())

            # The run is recorded on the job first, the job moved on (next_run_at) after: the
            # wait is for both, the state asserted below.
            found = await eventually(
                seen,
                lambda j: (
                    bool(j.get("last_run_id")) and "next_run_at" in j and not j["next_run_at"]
                ),
                timeout=60,
                what="the job started and moved on",
            )
            assert found["last_run_id"] == occurrence_run_id(
                job["id"], datetime.fromisoformat(job["next_run_at"])
            )
            assert found["next_run_at"] is None
            [request] = await take_requests(vhost)
            assert request.run_id == found["last_run_id"]
