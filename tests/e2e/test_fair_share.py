"""Fair share (docs/pipeline.md, "Fair share"): one tenant's backlog does not hold up
another tenant's small export, a user's runs beyond the limit wait ``queued`` with their place,
and a duplicated ``RunRequested`` or ``ExportPartition`` exports nothing twice."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from cdds_shared.messaging import publish
from cdds_shared.messaging.messages import ExportPartition
from cdds_shared.runs import ACTIVE, Run, utcnow
from cdds_shared.runs.dispatch_store import DispatchStore
from cdds_shared.ucs.query import UcsQuery
from tests.e2e.pipeline import Pipeline, Worker, by_id
from tests.waiting import eventually

pytestmark = pytest.mark.integration

# 1500 interactions in partitions of 500: three partitions per run of the module's tenant; the
# second UCS tenant's 300 make one.
INTERACTIONS, CONTACTS = 1500, 100
WORKER_ENV = {
    "CDDS_EXPORT__PARTITION_RECORDS": "500",
    "CDDS_EXPORT__DISPATCH_INTERVAL_SECONDS": "1",
}
SPLIT = 256 * 1024
Workers = Callable[..., list[Worker]]


@pytest.fixture
async def workers(pipeline: Pipeline) -> AsyncIterator[Workers]:
    """Start an exporter (with settings overrides) and an encryptor; stopped after the test."""
    started: list[Worker] = []

    def start(**exporter_env: str) -> list[Worker]:
        started.extend([pipeline.worker("exporter", **exporter_env), pipeline.worker("encryptor")])
        return started

    for owner in ("alice", "bob", "carol", "dave"):
        await pipeline.give_certificate(owner)
    yield start
    for worker in started:
        worker.stop()


async def _runs(pipeline: Pipeline, run_ids: list[str]) -> list[Run]:
    return list(await asyncio.gather(*(pipeline.runs.get(i) for i in run_ids)))


async def test_another_tenants_small_export_overtakes_a_backlog(
    pipeline: Pipeline, workers: Workers
) -> None:
    # Given: limits high enough that all of tenant A's ten runs run at once, so only the
    # partitions in flight per tenant keep A's backlog (30 partitions) out of the work queue.
    workers(CDDS_EXPORT__MAX_RUNS_PER_USER="10", CDDS_EXPORT__MAX_RUNS_PER_TENANT="10")
    backlog = [await pipeline.request(owner="alice", split=SPLIT) for _ in range(10)]
    await eventually(
        lambda: _runs(pipeline, backlog),
        lambda runs: all(r.status != "queued" for r in runs),
        what="tenant A's ten runs planned",
    )

    # When: tenant B asks for a small export.
    small = await pipeline.request(owner="bob", tenant_id=pipeline.other_tenant_id, split=SPLIT)
    done = await pipeline.finished(small, timeout=180)

    # Then: B's run completed while most of A's were still going.
    assert done.status == "completed", done.error
    assert done.finished_at is not None
    ended_before = [
        r.id
        for r in await _runs(pipeline, backlog)
        if r.finished_at and r.finished_at <= done.finished_at
    ]
    assert len(ended_before) <= 3, f"{len(ended_before)} of A's 10 runs ended before B's"
    # A's backlog is not waited for (test_export checks what runs export): cancelled, as a user
    # deleting them would, so that it holds no slot of the next tests.
    for run_id in backlog:
        await pipeline.runs.transition(run_id, ACTIVE, "cancelled", finished_at=utcnow())


async def test_a_users_third_run_waits_queued_until_one_ends(
    pipeline: Pipeline, workers: Workers
) -> None:
    # Given: the default limit of 2 runs per user; small fetches keep each run a few seconds.
    workers(CDDS_UCS__FETCH_SIZE="100")
    dispatch = DispatchStore(pipeline.documents)
    first, second, third = [await pipeline.request(owner="carol", split=SPLIT) for _ in range(3)]

    async def handled() -> list[tuple[str, bool]]:
        docs = [await pipeline.documents.collection("runs").get(i) for i in (first, second, third)]
        return [(d["status"], d.get("accepted_at") is not None) for d in docs]

    # When: the exporter has handled the three requests and planned the first two.
    await eventually(
        handled,
        lambda s: s[0][0] != "queued" and s[1][0] != "queued" and s[2][1],
        what="first two runs planned, third accepted",
    )

    # Then: it waits queued, first in its tenant's queue, while the first two run...
    runs = await _runs(pipeline, [first, second, third])
    assert [r.status for r in runs[:2]] == ["running", "running"], [r.status for r in runs]
    assert runs[2].status == "queued"
    assert (await dispatch.queue_positions(runs[2].tenant)).get(third) == 1
    # ... and starts only once one of them ended, then completes.
    ended = await asyncio.gather(
        *(pipeline.finished(i, timeout=300) for i in (first, second, third))
    )
    assert all(r.status == "completed" for r in ended), [r.error for r in ended]
    a, b, c = ended
    assert c.started_at is not None and a.finished_at is not None and b.finished_at is not None
    assert c.started_at >= min(a.finished_at, b.finished_at)
    assert third not in await dispatch.queue_positions(c.tenant)


def _staged_parts(worker: Worker, run_id: str) -> int:
    """Parts the exporter cut for the run, by its log (one JSON line per event)."""
    count = 0
    for line in worker.log.read_text().splitlines():
        if '"part staged"' in line and run_id in line:
            count += 1
    return count


async def test_duplicated_requests_export_every_partition_once(
    pipeline: Pipeline, workers: Workers, tmp_path: Path
) -> None:
    exporter, _ = workers(CDDS_UCS__FETCH_SIZE="100")
    run_id = await pipeline.request(owner="dave", split=SPLIT)
    run = await pipeline.runs.get(run_id)

    # When: the same request is delivered again, and a partition's command twice more.
    await publish(pipeline.broker, run.request())
    await eventually(lambda: pipeline.runs.get(run_id), lambda r: r.status == "running")
    for _ in range(2):
        await publish(
            pipeline.broker, ExportPartition(correlation_id=run_id, run_id=run_id, partition=0)
        )

    # Then: the run completes with exactly the source, and every partition was claimed and cut
    # once: as many parts cut as sealed.
    done = await pipeline.finished(run_id, timeout=300)
    assert done.status == "completed", done.error
    members = await pipeline.exported_records(run_id, tmp_path)
    records, attachments = await pipeline.source_records(
        UcsQuery(pipeline.tenant_id, "interaction")
    )
    assert by_id(members[f"Interaction-{run_id}.jsonl"]) == by_id(records)
    assert by_id(members[f"Interaction-Attachment-{run_id}.jsonl"]) == by_id(attachments)
    assert done.plan is not None
    dispatches = await DispatchStore(pipeline.documents).dispatches([run_id])
    assert sorted(d["partition"] for d in dispatches) == list(range(len(done.plan.partitions)))
    assert [d["claims"] for d in dispatches] == [1] * len(dispatches), json.dumps(
        dispatches, default=str
    )
    artifacts = await pipeline.runs.artifacts(run_id)
    assert _staged_parts(exporter, run_id) == len(artifacts)
