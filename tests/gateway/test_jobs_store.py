"""Jobs: the schedule arithmetic (all UTC, no DST), the timeframe of each run (recurring windows
continue where the previous run stopped), validation, and claims of due jobs on the real
MongoDB-wire server (one winner among concurrent claimants)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from cdds_gateway.jobs_store import (
    Job,
    JobSpec,
    JobStore,
    JobTimeframe,
    Schedule,
    next_run_at,
    planned_end,
    run_timeframe,
)
from cdds_shared.adapters.mongo import MongoDocumentStore
from cdds_shared.messaging.messages import Timeframe
from cdds_shared.runs import PartitionPlan, Plan, Run, RunStore, utcnow
from cdds_shared.scope import Scope


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# -- next_run_at -----------------------------------------------------------------------------


def test_on_demand_jobs_never_run_by_themselves() -> None:
    assert next_run_at(Schedule(), at("2026-03-01T10:00")) is None


def test_once_runs_at_its_moment_only() -> None:
    once = Schedule(kind="once", at=at("2026-03-01T10:00"))
    assert next_run_at(once, at("2026-03-01T09:59")) == at("2026-03-01T10:00")
    assert next_run_at(once, at("2026-03-01T10:00")) is None  # strictly after
    assert next_run_at(once, at("2026-04-01T00:00")) is None


@pytest.mark.parametrize(
    ("hours", "after", "expected"),
    [
        (6, "2026-03-01T00:00", "2026-03-01T06:00"),
        (6, "2026-03-01T05:59:59", "2026-03-01T06:00"),
        (6, "2026-03-01T06:00", "2026-03-01T12:00"),
        (6, "2026-03-01T23:00", "2026-03-02T00:00"),
        (1, "2026-03-01T13:30", "2026-03-01T14:00"),
        (24, "2026-03-01T00:00", "2026-03-02T00:00"),
        (24, "2026-02-28T12:00", "2026-03-01T00:00"),
        # N not dividing 24: anchored at 00:00 every day, the day's last interval is shorter.
        (5, "2026-03-01T19:00", "2026-03-01T20:00"),
        (5, "2026-03-01T20:00", "2026-03-02T00:00"),
        (7, "2026-03-01T21:00", "2026-03-02T00:00"),
        (7, "2026-03-02T00:00", "2026-03-02T07:00"),
        (3, "2026-12-31T22:00", "2027-01-01T00:00"),
    ],
)
def test_every_n_hours_is_anchored_at_midnight_utc(hours: int, after: str, expected: str) -> None:
    assert next_run_at(Schedule(kind="every_hours", hours=hours), at(after)) == at(expected)


@pytest.mark.parametrize(
    ("time", "after", "expected"),
    [
        ("02:30", "2026-03-01T00:00", "2026-03-01T02:30"),
        ("02:30", "2026-03-01T02:30", "2026-03-02T02:30"),
        ("02:30", "2026-03-01T23:59", "2026-03-02T02:30"),
        ("00:00", "2028-02-28T12:00", "2028-02-29T00:00"),  # leap day
        ("23:59", "2026-12-31T23:59:30", "2027-01-01T23:59"),
        # 29 March 2026 is the EU's DST change; UTC knows none.
        ("01:30", "2026-03-29T00:00", "2026-03-29T01:30"),
    ],
)
def test_daily_runs_at_its_utc_time(time: str, after: str, expected: str) -> None:
    assert next_run_at(Schedule(kind="daily", time=time), at(after)) == at(expected)


@pytest.mark.parametrize(
    ("weekday", "time", "after", "expected"),
    [
        (0, "06:00", "2026-03-02T05:00", "2026-03-02T06:00"),  # a Monday, before
        (0, "06:00", "2026-03-02T06:00", "2026-03-09T06:00"),  # at it: next week
        (0, "06:00", "2026-03-03T00:00", "2026-03-09T06:00"),  # Tuesday
        (6, "23:00", "2026-03-02T00:00", "2026-03-08T23:00"),  # Sunday
        (4, "12:00", "2026-12-30T00:00", "2027-01-01T12:00"),  # across the year
    ],
)
def test_weekly_runs_on_its_weekday(weekday: int, time: str, after: str, expected: str) -> None:
    schedule = Schedule(kind="weekly", weekday=weekday, time=time)
    assert next_run_at(schedule, at(after)) == at(expected)


def test_moments_in_other_zones_are_compared_in_utc() -> None:
    paris = datetime(2026, 7, 1, 3, 0, tzinfo=timezone(timedelta(hours=2)))  # 01:00 UTC
    assert next_run_at(Schedule(kind="daily", time="02:00"), paris) == at("2026-07-01T02:00")


# -- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"kind": "once"},
        {"kind": "every_hours"},
        {"kind": "every_hours", "hours": 25},
        {"kind": "every_hours", "hours": 0},
        {"kind": "daily"},
        {"kind": "daily", "time": "2:30"},
        {"kind": "daily", "time": "24:00"},
        {"kind": "daily", "time": "12:60"},
        {"kind": "weekly", "time": "12:00"},
        {"kind": "weekly", "time": "12:00", "weekday": 7},
        {"kind": "daily", "time": "12:00", "weekday": 1},
        {"kind": "now", "hours": 3},
        {"kind": "monthly"},
    ],
)
def test_a_schedule_has_exactly_the_fields_of_its_kind(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Schedule.model_validate(fields)


def test_naive_moments_are_utc() -> None:
    assert Schedule(kind="once", at=datetime(2026, 1, 1, 12)).at == at("2026-01-01T12:00")
    frame = JobTimeframe(start=datetime(2026, 1, 1, 12, 0, 0, 123456))
    assert frame.kind == "fixed" and frame.start == at("2026-01-01T12:00:00.123")


def test_timeframes() -> None:
    assert JobTimeframe().kind == "all"
    assert JobTimeframe(end=at("2026-01-01T00:00")).kind == "fixed"
    for bad in (
        {"kind": "all", "start": "2026-01-01T00:00:00Z"},
        {"kind": "fixed"},
        {"start": "2026-02-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
        {"kind": "since_previous", "end": "2026-01-01T00:00:00Z"},
    ):
        with pytest.raises(ValidationError):
            JobTimeframe.model_validate(bad)


def test_job_fields() -> None:
    spec = JobSpec(title=" t ", type="interaction", media_types=["Voice", "chat", "voice"])
    assert spec.title == "t" and spec.media_types == ["chat", "voice"]
    assert spec.split_size_bytes == 1 << 30 and spec.enabled and spec.schedule.kind == "now"
    for bad in (
        {"title": "", "type": "contact"},
        {"title": "t", "type": "email"},
        {"title": "t", "type": "contact", "media_types": ["voice"]},
        {"title": "t", "type": "interaction", "media_types": []},
        {"title": "t", "type": "interaction", "split_size_bytes": 1024},
        {"title": "t", "type": "interaction", "source": "crm"},
    ):
        with pytest.raises(ValidationError):
            JobSpec.model_validate(bad)


# -- the timeframe of each run ---------------------------------------------------------------


def test_run_timeframes() -> None:
    end = at("2026-03-01T06:00")
    assert run_timeframe(JobTimeframe(), end=end, previous_end=None) == Timeframe()
    fixed = JobTimeframe(start=at("2025-01-01T00:00"), end=at("2025-02-01T00:00"))
    assert run_timeframe(fixed, end=end, previous_end=at("2026-01-01T00:00")) == Timeframe(
        start=fixed.start, end=fixed.end
    )
    since = JobTimeframe(kind="since_previous")
    assert run_timeframe(since, end=end, previous_end=None) == Timeframe(end=end)
    first = JobTimeframe(kind="since_previous", start=at("2026-01-01T00:00"))
    assert run_timeframe(first, end=end, previous_end=None) == Timeframe(start=first.start, end=end)
    previous = at("2026-03-01T00:00")
    assert run_timeframe(first, end=end, previous_end=previous) == Timeframe(
        start=previous, end=end
    )


def run_of(**fields: Any) -> Run:
    values: dict[str, Any] = {
        "id": uuid.uuid4().hex,
        "tenant": "t",
        "ucs_tenant_id": 1,
        "owner": "o",
        "record_type": "contact",
        "split_size_bytes": 1 << 20,
        "requested_at": at("2026-03-01T06:00:05"),
        **fields,
    }
    return Run(**values)


def plan_ending(end: datetime) -> Plan:
    return Plan(
        planned_at=end,
        estimate=1,
        end=end,
        partitions=[PartitionPlan(after_id=None, until_id=None)],
        compression_level=6,
        zip_limit=1 << 20,
    )


def test_where_a_run_stops() -> None:
    assert planned_end(run_of()) == at("2026-03-01T06:00:05")  # open, not planned yet
    asked = Timeframe(end=at("2026-03-01T06:00"))
    assert planned_end(run_of(timeframe=asked)) == at("2026-03-01T06:00")
    planned = run_of(timeframe=Timeframe(), plan=plan_ending(at("2026-03-01T06:00:07")))
    assert planned_end(planned) == at("2026-03-01T06:00:07")


# -- the store, on the real server -----------------------------------------------------------


@pytest.fixture
async def jobs(documents: MongoDocumentStore) -> JobStore:
    store = JobStore(documents)
    await store.ensure_indexes()
    await documents.collection("jobs").delete({})
    return store


def job_of(tenant: str = "acme", **fields: Any) -> Job:
    now = utcnow()
    values: dict[str, Any] = {
        "id": uuid.uuid4().hex,
        "title": "j",
        "type": "contact",
        "tenant": tenant,
        "owner": "u1",
        "owner_name": "alice",
        "created_at": now,
        "updated_at": now,
        "schedule": Schedule(kind="every_hours", hours=1),
        "next_run_at": now - timedelta(minutes=1),
        **fields,
    }
    return Job(**values)


@pytest.mark.integration
async def test_a_job_is_stored_and_scoped(jobs: JobStore) -> None:
    job = job_of(media_types=None, timeframe=JobTimeframe(kind="since_previous"))
    await jobs.insert(job)
    assert await jobs.get(job.id, Scope("acme")) == job
    assert await jobs.get(job.id, Scope("other")) is None
    assert await jobs.get(job.id, Scope("acme", "u2")) is None
    assert await jobs.update(job.id, Scope("other"), {"title": "x"}) is None
    assert not await jobs.delete(job.id, Scope("other"))
    assert [j.id for j in await jobs.find(Scope("acme"))] == [job.id]
    assert await jobs.titles({job.id, "unknown"}) == {job.id: "j"}


@pytest.mark.integration
async def test_concurrent_claims_take_each_due_job_once(jobs: JobStore) -> None:
    due = [job_of() for _ in range(5)]
    later = job_of(next_run_at=utcnow() + timedelta(hours=1))
    disabled = job_of(enabled=False)
    for job in (*due, later, disabled):
        await jobs.insert(job)
    now = utcnow()
    claims = await asyncio.gather(
        *(jobs.claim_due(now, timedelta(minutes=2), f"claimant-{i}") for i in range(12))
    )
    won = [c.id for c in claims if c is not None]
    assert sorted(won) == sorted(j.id for j in due)  # each once; never the others


@pytest.mark.integration
async def test_a_claim_is_released_with_or_without_moving_on(jobs: JobStore) -> None:
    job = job_of()
    await jobs.insert(job)
    now = utcnow()
    claimed = await jobs.claim_due(now, timedelta(minutes=2), "me")
    assert claimed is not None and claimed.claimed_by == "me"
    assert await jobs.claim_due(now, timedelta(minutes=2), "you") is None
    assert not await jobs.release(claimed, "you")  # not yours
    assert await jobs.release(claimed, "me")  # unchanged: due again
    again = await jobs.claim_due(now, timedelta(minutes=2), "me")
    assert again is not None
    following = now + timedelta(hours=1)
    assert await jobs.release(again, "me", next_run_at=following, last_error=None)
    stored = await jobs.get(job.id, Scope(job.tenant))
    assert stored is not None and stored.next_run_at == following and stored.claimed_at is None


@pytest.mark.integration
async def test_an_edit_during_a_claim_wins(jobs: JobStore) -> None:
    job = job_of()
    await jobs.insert(job)
    claimed = await jobs.claim_due(utcnow(), timedelta(minutes=2), "me")
    assert claimed is not None
    edited = utcnow() + timedelta(days=1)
    await jobs.update(job.id, Scope(job.tenant), {"next_run_at": edited})
    assert await jobs.release(claimed, "me", next_run_at=utcnow() + timedelta(hours=1))
    stored = await jobs.get(job.id, Scope(job.tenant))
    assert stored is not None and stored.next_run_at == edited and stored.claimed_by is None


@pytest.mark.integration
async def test_the_previous_window_ends_where_the_last_good_run_stopped(
    jobs: JobStore, documents: MongoDocumentStore
) -> None:
    runs = RunStore(documents)
    job_id = uuid.uuid4().hex
    assert await jobs.previous_end(job_id) is None
    base = utcnow()
    first = run_of(
        job_id=job_id,
        status="completed",
        requested_at=base,
        timeframe=Timeframe(end=base),
        plan=plan_ending(base),
    )
    failed = run_of(
        job_id=job_id,
        status="failed",
        requested_at=base + timedelta(hours=1),
        timeframe=Timeframe(end=base + timedelta(hours=1)),
    )
    for run in (first, failed):
        await runs.insert(run)
    assert await jobs.previous_end(job_id) == base  # the failed run's window is redone
    queued = run_of(
        job_id=job_id,
        status="queued",
        requested_at=base + timedelta(hours=2),
        timeframe=Timeframe(end=base + timedelta(hours=2)),
    )
    await runs.insert(queued)
    assert await jobs.previous_end(job_id) == base + timedelta(hours=2)
