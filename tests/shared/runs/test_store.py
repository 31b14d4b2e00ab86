"""``RunStore`` on the real MongoDB-wire server: insert-once runs, conditional transitions that
exactly one writer wins, insert-once checkpoints and artifacts, completion and progress derived on
read (docs/pipeline.md §4, §6)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from cdds_shared.adapters.minio_store import MinioObjectStore
from cdds_shared.errors import ConflictError, NotFoundError
from cdds_shared.messaging.messages import Message, RunCompleted, RunFailed
from cdds_shared.runs import Artifact, Run, RunStore, utcnow
from cdds_shared.runs.lifecycle import complete_if_done, fail_run
from cdds_shared.runs.model import artifact_id
from tests.shared.runs.conftest import (
    artifact_of,
    new_run_id,
    plan_of,
    queued_run,
    run_of,
    running_run,
)

pytestmark = pytest.mark.integration

STAGING = "staging/"


class Recorder:
    """A publisher that keeps what it was given (the store under test is real)."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def __call__(self, message: Message) -> None:
        self.messages.append(message)

    def of(self, kind: type[Message]) -> list[Any]:
        return [m for m in self.messages if isinstance(m, kind)]


# -- runs --------------------------------------------------------------------------------------


async def test_a_run_is_inserted_once(runs: RunStore) -> None:
    # Given a run the gateway created, then started
    run = await queued_run(runs, media_types=["email"])
    assert (await runs.get(run.id)).media_types == ["email"]
    await runs.transition(run.id, ("queued",), "running", started_at=utcnow())

    # When a run of the same id is inserted again
    with pytest.raises(ConflictError):
        await runs.insert(run_of(run.id, owner="mallory"))

    # Then the existing run is untouched
    again = await runs.get(run.id)
    assert (again.status, again.owner, again.requested_at) == ("running", "alice", run.requested_at)


async def test_only_a_queued_run_is_deleted_as_unstarted(runs: RunStore) -> None:
    queued, started = await queued_run(runs), await running_run(runs)
    assert await runs.delete_queued(queued.id)
    assert not await runs.delete_queued(started.id)
    assert not await runs.delete_queued(queued.id)
    with pytest.raises(NotFoundError):
        await runs.get(queued.id)
    assert (await runs.get(started.id)).status == "running"


async def test_get_of_a_missing_run_names_it(runs: RunStore) -> None:
    run_id = new_run_id()
    with pytest.raises(NotFoundError, match=f"run {run_id} not found"):
        await runs.get(run_id)


async def test_transition_keeps_the_plan_and_fields(runs: RunStore) -> None:
    run = await queued_run(runs)
    plan = plan_of(3, estimate=123)
    started = await runs.transition(run.id, ("queued",), "running", plan=plan, job_id="j-1")
    assert started is not None
    assert (started.status, started.plan, started.job_id) == ("running", plan, "j-1")
    assert await runs.get(run.id) == started
    assert run.id in {r.id for r in await runs.active()}


async def test_transition_from_another_status_does_nothing(runs: RunStore) -> None:
    run = await queued_run(runs)
    assert await runs.transition(run.id, ("running",), "completed") is None
    assert await runs.transition(new_run_id(), ("queued",), "running") is None
    assert (await runs.get(run.id)).status == "queued"


async def test_exactly_one_of_ten_concurrent_transitions_wins(runs: RunStore) -> None:
    run = await running_run(runs)

    results = await asyncio.gather(
        *(
            runs.transition(run.id, ("running",), "completed", finished_at=utcnow(), error=str(i))
            for i in range(10)
        )
    )

    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert winners[0].status == "completed"
    stored = await runs.get(run.id)
    assert stored.status == "completed"
    assert stored.error == winners[0].error  # the winner's fields, no one else's


async def test_completion_published_flag(runs: RunStore) -> None:
    run = await running_run(runs)
    assert not run.completion_published
    await runs.mark_completion_published(run.id)
    assert (await runs.get(run.id)).completion_published


async def _complete_parts(runs: RunStore, run: Run) -> None:
    """Every planned part of a two-partition run sealed."""
    for artifact in (
        artifact_of(run, 0, 0, last=True),
        artifact_of(run, 1, 0, last=True),
    ):
        assert await runs.add_artifact(artifact)


async def test_fail_and_complete_racing_end_the_run_once(
    runs: RunStore, objects: MinioObjectStore
) -> None:
    # Several rounds, so both orders are likely to be seen; each must be consistent.
    for _ in range(6):
        # Given a running run whose last part was just sealed
        run = await running_run(runs, partitions=2)
        await _complete_parts(runs, run)
        published = Recorder()

        # When the watchdog fails it while the encryptor completes it
        failed, completed = await asyncio.gather(
            fail_run(runs, published, objects, STAGING, run.id, "stalled"),
            complete_if_done(runs, published, run.id),
        )

        # Then exactly one of them ended it, and only its event went out
        assert failed != completed
        stored = await runs.get(run.id)
        if failed:
            assert stored.status == "failed" and stored.error == "stalled"
            assert [type(m) for m in published.messages] == [RunFailed]
        else:
            assert stored.status == "completed" and stored.error is None
            assert [type(m) for m in published.messages] == [RunCompleted]


async def test_complete_then_fail_keeps_completed(
    runs: RunStore, objects: MinioObjectStore
) -> None:
    run = await running_run(runs, partitions=2)
    await _complete_parts(runs, run)
    published = Recorder()
    assert await complete_if_done(runs, published, run.id)
    assert not await fail_run(runs, published, objects, STAGING, run.id, "too late")
    assert (await runs.get(run.id)).status == "completed"
    assert [type(m) for m in published.messages] == [RunCompleted]


async def test_fail_then_complete_keeps_failed(runs: RunStore, objects: MinioObjectStore) -> None:
    run = await running_run(runs, partitions=2)
    await _complete_parts(runs, run)
    published = Recorder()
    assert await fail_run(runs, published, objects, STAGING, run.id, "cancelled by the watchdog")
    assert not await complete_if_done(runs, published, run.id)
    assert (await runs.get(run.id)).status == "failed"
    assert [type(m) for m in published.messages] == [RunFailed]


# -- checkpoints and partitions ------------------------------------------------------------------


async def test_checkpoints_are_insert_once(runs: RunStore) -> None:
    run_id = new_run_id()
    await runs.checkpoint(run_id, 2, 0, last_id="i-0100", total=100, last=False, message="{}")
    # A redone part after a crash stages the same cut again: the first record stays.
    await runs.checkpoint(run_id, 2, 0, last_id="i-9999", total=999, last=True, message="{}")

    checkpoint = await runs.last_checkpoint(run_id, 2)

    assert checkpoint is not None
    assert (checkpoint["part"], checkpoint["last_id"], checkpoint["total"]) == (0, "i-0100", 100)
    assert checkpoint["last"] is False


async def test_last_checkpoint_is_the_highest_part(runs: RunStore) -> None:
    run_id = new_run_id()
    assert await runs.last_checkpoint(run_id, 0) is None
    for part in (0, 2, 10, 1):  # written out of order; 10 sorts before 2 as a string
        await runs.checkpoint(
            run_id, 0, part, last_id=f"i-{part:04d}", total=part * 5, last=False, message="{}"
        )
    await runs.checkpoint(run_id, 1, 99, last_id="other", total=1, last=True, message="{}")

    checkpoint = await runs.last_checkpoint(run_id, 0)

    assert checkpoint is not None
    assert (checkpoint["part"], checkpoint["last_id"], checkpoint["total"]) == (10, "i-0010", 50)
    assert await runs.last_checkpoint(new_run_id(), 0) is None


async def test_partition_progress_is_absolute_not_incremental(runs: RunStore) -> None:
    run_id = new_run_id()
    await runs.record_partition_progress(run_id, 0, records=500)
    await runs.record_partition_progress(run_id, 0, records=800)
    await runs.record_partition_progress(run_id, 0, records=800)  # a redelivery
    await runs.record_partition_progress(run_id, 1, records=70, done=True, parts=2)

    partitions = {p["partition"]: p for p in await runs.partitions(run_id)}

    assert sorted(partitions) == [0, 1]
    assert (partitions[0]["records"], partitions[0]["done"], partitions[0]["parts"]) == (
        800,
        False,
        0,
    )
    assert (partitions[1]["records"], partitions[1]["done"], partitions[1]["parts"]) == (
        70,
        True,
        2,
    )
    # A partition redone from the start reports smaller figures again: they replace, not add.
    await runs.record_partition_progress(run_id, 0, records=100)
    assert [p["records"] for p in await runs.partitions(run_id) if p["partition"] == 0] == [100]


async def test_concurrent_first_progress_reports_make_one_document(runs: RunStore) -> None:
    run_id = new_run_id()
    await asyncio.gather(
        *(runs.record_partition_progress(run_id, 0, records=n) for n in (10, 20, 30, 40))
    )
    partitions = await runs.partitions(run_id)
    assert len(partitions) == 1
    assert partitions[0]["records"] in {10, 20, 30, 40}


# -- artifacts -----------------------------------------------------------------------------------


async def test_add_artifact_is_insert_once(runs: RunStore) -> None:
    run = await running_run(runs)
    first = artifact_of(run, 0, 0, size=111)
    assert await runs.add_artifact(first) is True
    assert await runs.add_artifact(artifact_of(run, 0, 0, size=999)) is False
    assert await runs.find_artifact(first.id) == first
    assert await runs.artifacts(run.id) == [first]
    assert await runs.find_artifact(f"{new_run_id()}-000-000") is None


async def test_artifacts_come_in_partition_and_part_order(runs: RunStore) -> None:
    run = await running_run(runs, partitions=3)
    for partition, part in ((2, 0), (0, 10), (1, 0), (0, 2), (0, 0)):
        await runs.add_artifact(artifact_of(run, partition, part))
    order = [(a.partition, a.part) for a in await runs.artifacts(run.id)]
    assert order == [(0, 0), (0, 2), (0, 10), (1, 0), (2, 0)]


async def test_artifacts_of_runs_within_a_tenant(runs: RunStore) -> None:
    run, other = await running_run(runs), await running_run(runs)
    await runs.add_artifact(artifact_of(run, 0, 0))
    await runs.add_artifact(artifact_of(run, 1, 0))
    # A file of the same run id under another tenant (forged or misfiled): never listed for it.
    await runs.add_artifact(artifact_of(run.model_copy(update={"tenant": "other"}), 0, 1))
    await runs.add_artifact(artifact_of(other, 0, 0))
    ids = [run.id, other.id]
    mine = await runs.artifacts_of_runs(ids, run.tenant)
    assert [(a.partition, a.part) for a in mine[run.id]] == [(0, 0), (1, 0)]
    assert [a.id for a in mine[other.id]] == [artifact_id(other.id, 0, 0)]
    assert [(a.partition, a.part) for a in (await runs.artifacts_of_runs(ids))[run.id]] == [
        (0, 0),
        (0, 1),
        (1, 0),
    ]
    assert (await runs.artifacts_of_runs(ids, "nobody")) == {run.id: [], other.id: []}


# -- completion ----------------------------------------------------------------------------------

Parts = tuple[tuple[int, int, bool], ...]
"""``(partition, part, last_in_partition)`` of each sealed artifact."""

COMPLETION_CASES: list[tuple[str, int | None, Parts, tuple[tuple[int, int, bool], ...], bool]] = [
    # name, planned partitions (None = not planned), artifacts, (partition, parts, done), complete
    ("every part sealed", 2, ((0, 0, False), (0, 1, True), (1, 0, True)), (), True),
    ("not planned yet", None, ((0, 0, True),), (), False),
    ("nothing sealed", 2, (), (), False),
    ("missing middle part", 1, ((0, 0, False), (0, 2, True)), (), False),
    ("missing first part", 1, ((0, 1, True),), (), False),
    ("last part not flagged", 1, ((0, 0, False), (0, 1, False)), (), False),
    ("a partition without parts", 2, ((0, 0, True),), (), False),
    ("empty partition done", 2, ((0, 0, True),), ((1, 0, True),), True),
    ("empty partition not done", 2, ((0, 0, True),), ((1, 0, False),), False),
    ("partition done with parts unsealed", 2, ((0, 0, True),), ((1, 2, True),), False),
    ("all partitions empty", 2, (), ((0, 0, True), (1, 0, True)), True),
]


@pytest.mark.parametrize(
    ("planned", "sealed", "progress", "complete"),
    [case[1:] for case in COMPLETION_CASES],
    ids=[case[0] for case in COMPLETION_CASES],
)
async def test_is_complete(
    runs: RunStore,
    planned: int | None,
    sealed: Parts,
    progress: tuple[tuple[int, int, bool], ...],
    complete: bool,
) -> None:
    # Given a run, its sealed parts and its partitions' reports, as stored
    run = await queued_run(runs)
    if planned is not None:
        started = await runs.transition(run.id, ("queued",), "running", plan=plan_of(planned))
        assert started is not None
        run = started
    for partition, part, last in sealed:
        assert await runs.add_artifact(artifact_of(run, partition, part, last=last))
    for partition, parts, done in progress:
        await runs.record_partition_progress(run.id, partition, records=0, done=done, parts=parts)

    # When completion is judged on what was read back, then
    artifacts, partitions = await runs.artifacts(run.id), await runs.partitions(run.id)
    assert RunStore.is_complete(run, artifacts, partitions) is complete


# -- progress ------------------------------------------------------------------------------------


async def test_progress_while_running(runs: RunStore) -> None:
    # Given a run started a minute ago with 100 records estimated
    started_at = utcnow() - timedelta(seconds=60)
    run = await queued_run(runs)
    running = await runs.transition(
        run.id, ("queued",), "running", started_at=started_at, plan=plan_of(2, estimate=100)
    )
    assert running is not None
    # ... 40 records staged, 2 parts sealed holding 30 interactions (and their attachments)
    await runs.record_partition_progress(run.id, 0, records=25)
    await runs.record_partition_progress(run.id, 1, records=15)
    first = artifact_of(running, 0, 0, records=(10, 7), size=400)
    second = artifact_of(running, 1, 0, records=(20, 0), size=600)
    second = second.model_copy(update={"created_at": started_at + timedelta(seconds=30)})
    await runs.add_artifact(first)
    await runs.add_artifact(second)

    # When progress is read at the moment of the next minute
    progress = await runs.progress(running, now=started_at + timedelta(seconds=60))

    # Then the figures are derived from the stored documents
    assert progress.records_exported == 40
    assert progress.records_sealed == 30  # attachments are not records of the run's type
    assert progress.estimated_total == 100
    assert progress.bytes == 1000
    assert progress.parts == 2
    assert progress.percent == 30.0
    assert progress.eta_seconds == 140.0  # 60 s for 30 records, 70 to go
    partitions = await runs.partitions(run.id)
    latest = max([first.created_at, second.created_at, *(p["updated_at"] for p in partitions)])
    assert progress.last_activity_at == latest


async def test_progress_of_a_run_not_running_has_no_eta(runs: RunStore) -> None:
    # Given a run with a third of its records sealed
    run = await queued_run(runs)
    queued = await runs.get(run.id)
    assert queued.plan is None
    progress = await runs.progress(queued)
    assert (progress.percent, progress.eta_seconds, progress.estimated_total) == (0.0, None, 0)
    assert progress.last_activity_at is None

    running = await runs.transition(
        run.id, ("queued",), "running", started_at=utcnow(), plan=plan_of(1, estimate=90)
    )
    assert running is not None
    await runs.add_artifact(artifact_of(running, 0, 0, records=(30, 30)))

    # When it ends without the rest: failed keeps the figures, no estimate of time left
    failed = await runs.transition(run.id, ("running",), "failed", error="gave up")
    assert failed is not None
    progress = await runs.progress(failed)
    assert (progress.records_sealed, progress.percent, progress.eta_seconds) == (30, 33.3, None)

    # ... and a completed run is at 100 % whatever the estimate said
    other = await running_run(runs, partitions=1, estimate=90)
    await runs.add_artifact(artifact_of(other, 0, 0, records=(30, 30), last=True))
    done = await runs.transition(other.id, ("running",), "completed")
    assert done is not None
    progress = await runs.progress(done)
    assert (progress.records_sealed, progress.percent, progress.eta_seconds) == (30, 100.0, None)


async def test_progress_caps_at_the_estimate(runs: RunStore) -> None:
    run = await running_run(runs, partitions=1, estimate=10)
    await runs.add_artifact(artifact_of(run, 0, 0, records=(25, 1)))  # more than estimated
    progress = await runs.progress(run)
    assert (progress.records_sealed, progress.percent, progress.eta_seconds) == (25, 100.0, None)


async def test_progress_of_a_run_without_artifacts(runs: RunStore) -> None:
    run = await running_run(runs, partitions=1, estimate=10)
    progress = await runs.progress(run)
    assert progress.records_sealed == progress.parts == progress.bytes == 0
    assert progress.eta_seconds is None  # nothing sealed: no rate to extrapolate
    assert progress.last_activity_at == run.started_at


def test_main_records_counts_only_the_first_member() -> None:
    run = Run(
        id=new_run_id(),
        tenant="acme",
        ucs_tenant_id=1,
        owner="alice",
        record_type="interaction",
        split_size_bytes=1,
        requested_at=utcnow(),
    )
    artifact = artifact_of(run, 0, 0, records=(4, 9))
    assert artifact.main_records == 4
    assert artifact.records == {f"Interaction-{run.id}.jsonl": 4, artifact.members[1].name: 9}
    assert Artifact.model_validate({**artifact.document(), "members": []}).main_records == 0
