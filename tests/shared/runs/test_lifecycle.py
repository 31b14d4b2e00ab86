"""How a run ends, on the real MongoDB-wire server and MinIO: completion published once, failure
with a reason that cleans the run's staging, the watchdog failing idle runs (docs/pipeline.md).

The publisher is a recording fake; the store and the bucket are real."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest

from cdds_shared.adapters.minio_store import MinioObjectStore
from cdds_shared.messaging.messages import Message, RunCompleted, RunFailed
from cdds_shared.runs import Run, RunStore, utcnow
from cdds_shared.runs.lifecycle import complete_if_done, fail_run, fail_stalled, remove_staging
from tests.shared.runs.conftest import artifact_of, new_run_id, queued_run, running_run

pytestmark = pytest.mark.integration

STAGING = "staging/"


class Recorder:
    """A publisher that keeps what it was given; ``hold()`` makes the next publish wait."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._gate: asyncio.Event | None = None
        self.waiting = asyncio.Event()

    async def __call__(self, message: Message) -> None:
        gate, self._gate = self._gate, None
        if gate is not None:
            self.waiting.set()
            await gate.wait()
        self.messages.append(message)

    def hold(self) -> asyncio.Event:
        """The next publish blocks until the returned event is set."""
        self._gate = asyncio.Event()
        return self._gate

    def of(self, kind: type[Message]) -> list[Any]:
        return [m for m in self.messages if isinstance(m, kind)]


async def sealed_run(runs: RunStore) -> Run:
    """A running run of two partitions whose parts are all sealed (0-0, 0-1 last, 1-0 last)."""
    run = await running_run(runs, partitions=2)
    for partition, part, last in ((0, 1, True), (1, 0, True), (0, 0, False)):
        assert await runs.add_artifact(artifact_of(run, partition, part, last=last))
    return run


async def staged_keys(objects: MinioObjectStore, run_id: str) -> list[str]:
    return [info.key async for info in objects.list(f"{STAGING}{run_id}/")]


# -- completion ----------------------------------------------------------------------------------


async def test_completion_publishes_the_artifacts_in_order(runs: RunStore) -> None:
    run = await sealed_run(runs)
    published = Recorder()

    assert await complete_if_done(runs, published, run.id) is True

    stored = await runs.get(run.id)
    assert stored.status == "completed" and stored.completion_published
    assert stored.finished_at is not None
    [event] = published.messages
    assert isinstance(event, RunCompleted)
    assert (event.run_id, event.correlation_id, event.status) == (run.id, run.id, "completed")
    assert event.artifact_ids == [f"{run.id}-000-000", f"{run.id}-000-001", f"{run.id}-001-000"]


async def test_an_incomplete_run_stays_running(runs: RunStore) -> None:
    run = await running_run(runs, partitions=2)
    await runs.add_artifact(artifact_of(run, 0, 0, last=True))  # partition 1 still exporting
    published = Recorder()

    assert await complete_if_done(runs, published, run.id) is False

    assert (await runs.get(run.id)).status == "running"
    assert published.messages == []


async def test_concurrent_completions_complete_the_run_once(runs: RunStore) -> None:
    # Given a run whose last part is sealed, when five encryptor tasks see that at once
    run = await sealed_run(runs)
    published = Recorder()

    results = await asyncio.gather(*(complete_if_done(runs, published, run.id) for _ in range(5)))

    # Then it is completed, and every call that says it published did (exactly once is the
    # next test: whether the losers overlap the winner's publish is up to the scheduler here)
    stored = await runs.get(run.id)
    assert stored.status == "completed" and stored.completion_published
    events = published.of(RunCompleted)
    assert len(events) == results.count(True) >= 1
    assert {tuple(e.artifact_ids) for e in events} == {
        (f"{run.id}-000-000", f"{run.id}-000-001", f"{run.id}-001-000")
    }


async def test_five_concurrent_completions_publish_once(runs: RunStore) -> None:
    # Given a run whose last part is sealed, and one encryptor task that completed it and is
    # publishing RunCompleted (the scheduler is pinned here: its publish has not returned yet)
    run = await sealed_run(runs)
    published = Recorder()
    release = published.hold()
    winner = asyncio.create_task(complete_if_done(runs, published, run.id))
    await asyncio.wait_for(published.waiting.wait(), 10)
    assert (await runs.get(run.id)).status == "completed"

    # When four more tasks (redeliveries of the run's last parts) check the run meanwhile
    others = await asyncio.gather(*(complete_if_done(runs, published, run.id) for _ in range(4)))
    release.set()
    assert await winner is True

    # Then only the winner published
    assert others == [False] * 4
    assert len(published.of(RunCompleted)) == 1


async def test_completion_is_republished_when_the_publisher_died(runs: RunStore) -> None:
    # Given a run marked completed by a worker that died before publishing
    run = await sealed_run(runs)
    assert await runs.transition(run.id, ("running",), "completed", finished_at=utcnow())
    published = Recorder()

    # When the next redelivery checks it, then the event goes out now, once
    assert await complete_if_done(runs, published, run.id) is True
    assert await complete_if_done(runs, published, run.id) is False

    [event] = published.messages
    assert isinstance(event, RunCompleted) and event.status == "completed"
    assert len(event.artifact_ids) == 3
    assert (await runs.get(run.id)).completion_published


async def test_a_run_without_data_publishes_no_data(runs: RunStore) -> None:
    run = await queued_run(runs)
    assert await runs.transition(run.id, ("queued",), "no_data", finished_at=utcnow())
    published = Recorder()

    assert await complete_if_done(runs, published, run.id) is True

    [event] = published.messages
    assert isinstance(event, RunCompleted)
    assert (event.status, event.artifact_ids) == ("no_data", [])


@pytest.mark.parametrize("status", ["queued", "failed", "cancelled"])
async def test_a_run_not_running_is_not_completed(runs: RunStore, status: str) -> None:
    run = await queued_run(runs)
    if status != "queued":
        assert await runs.transition(run.id, ("queued",), status)  # type: ignore[arg-type]
    published = Recorder()
    assert await complete_if_done(runs, published, run.id) is False
    assert (await runs.get(run.id)).status == status
    assert published.messages == []


# -- failure -------------------------------------------------------------------------------------


async def test_fail_run_publishes_the_reason_and_removes_only_its_staging(
    runs: RunStore, objects: MinioObjectStore
) -> None:
    # Given a running run with staged parts, and another run whose id starts with the same text
    run = await running_run(runs)
    other = new_run_id()
    neighbour = f"{run.id}x"
    for key in (f"{run.id}/000-000", f"{run.id}/001-003", f"{other}/000-000", f"{neighbour}/0"):
        await objects.put_bytes(f"{STAGING}{key}", b"transit-encrypted part")
    await objects.put_bytes(f"artifacts/acme/{run.id}/sealed.p7m", b"a sealed file stays")
    published = Recorder()

    # When it fails
    assert await fail_run(runs, published, objects, STAGING, run.id, "UCS refused the query")

    # Then the reason is kept and published, and its staged parts are gone, no one else's
    stored = await runs.get(run.id)
    assert (stored.status, stored.error) == ("failed", "UCS refused the query")
    assert stored.finished_at is not None
    [event] = published.messages
    assert isinstance(event, RunFailed)
    assert (event.run_id, event.reason) == (run.id, "UCS refused the query")
    assert await staged_keys(objects, run.id) == []
    assert await staged_keys(objects, other) == [f"{STAGING}{other}/000-000"]
    assert await staged_keys(objects, neighbour) == [f"{STAGING}{neighbour}/0"]
    assert (await objects.stat(f"artifacts/acme/{run.id}/sealed.p7m")).size == 19


async def test_fail_run_twice_fails_once(runs: RunStore, objects: MinioObjectStore) -> None:
    run = await running_run(runs)
    published = Recorder()
    assert await fail_run(runs, published, objects, STAGING, run.id, "first reason") is True
    assert await fail_run(runs, published, objects, STAGING, run.id, "second reason") is False
    assert (await runs.get(run.id)).error == "first reason"
    assert [m.reason for m in published.of(RunFailed)] == ["first reason"]


async def test_fail_run_of_an_ended_run_leaves_its_staging(
    runs: RunStore, objects: MinioObjectStore
) -> None:
    run = await sealed_run(runs)
    assert await complete_if_done(runs, Recorder(), run.id)
    key = f"{STAGING}{run.id}/000-000"
    await objects.put_bytes(key, b"late")
    assert not await fail_run(runs, Recorder(), objects, STAGING, run.id, "too late")
    assert await staged_keys(objects, run.id) == [key]
    assert await remove_staging(objects, STAGING, run.id) == 1
    assert await remove_staging(objects, STAGING, run.id) == 0


async def test_fail_stalled_fails_only_idle_runs(runs: RunStore, objects: MinioObjectStore) -> None:
    # Given, at a fixed moment, runs that were last active at different times
    now = utcnow()

    def ago(seconds: int) -> datetime:
        return now - timedelta(seconds=seconds)

    stalled = await queued_run(runs)  # its exporter last reported 900 s ago
    await runs.transition(stalled.id, ("queued",), "running", started_at=ago(1000))
    await runs.record_partition_progress(stalled.id, 0, records=5)
    await runs._partitions.update({"_id": f"{stalled.id}:0000"}, {"updated_at": ago(900)})
    await objects.put_bytes(f"{STAGING}{stalled.id}/000-000", b"part")

    sealing = await running_run(runs)  # started long ago, but a part was sealed 10 s ago
    await runs.transition(sealing.id, ("running",), "running", started_at=ago(900))
    recent = artifact_of(sealing, 0, 0).model_copy(update={"created_at": ago(10)})
    await runs.add_artifact(recent)

    exporting = await queued_run(runs)  # a partition reported progress just now
    await runs.transition(exporting.id, ("queued",), "running", started_at=ago(900))
    await runs.record_partition_progress(exporting.id, 0, records=10)

    fresh = await queued_run(runs)
    await runs.transition(fresh.id, ("queued",), "running", started_at=ago(299))

    base = {**stalled.model_dump(), "status": "queued", "started_at": None}
    waiting = Run(**{**base, "id": new_run_id(), "requested_at": ago(301)})
    await runs.insert(waiting)  # its turn has not come, but other runs progress: not stalled
    never_started = Run(**{**base, "id": new_run_id(), "requested_at": ago(1201)})
    await runs.insert(never_started)  # waited over 4 x the limit: its work was lost

    old_but_done = await sealed_run(runs)
    await runs.transition(old_but_done.id, ("running",), "completed", started_at=ago(9000))

    # When the watchdog looks with a 300 s limit
    published = Recorder()
    failed = await fail_stalled(runs, published, objects, STAGING, 300, now=now)

    # Then only the idle active runs fail, each with a reason naming how long it was idle
    assert sorted(failed) == sorted([stalled.id, never_started.id])
    reasons = {m.run_id: m.reason for m in published.of(RunFailed)}
    assert reasons.keys() == {stalled.id, never_started.id}
    assert reasons[stalled.id].startswith("no progress for 900 s (limit 300 s, last activity ")
    assert reasons[never_started.id].startswith("no progress for 1201 s: none of its work started")
    assert "0 of about 0 records were sealed" in reasons[stalled.id]
    assert (await runs.get(waiting.id)).status == "queued"
    assert (await runs.get(stalled.id)).error == reasons[stalled.id]
    assert await staged_keys(objects, stalled.id) == []
    for run in (sealing, exporting, fresh):
        assert (await runs.get(run.id)).status == "running"
    assert (await runs.get(old_but_done.id)).status == "completed"

    # And looking again fails nothing more
    assert await fail_stalled(runs, Recorder(), objects, STAGING, 300, now=now) == []
