"""How a run ends: completed when its last part is sealed, failed with a reason (DESIGN §3).

Both transitions are conditional on the current status, so however many workers race to end a
run, one wins and publishes the event; the losers do nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from cdds_shared.logging import get_logger
from cdds_shared.messaging.messages import Message, RunCompleted, RunFailed
from cdds_shared.ports.objects import ObjectStore
from cdds_shared.runs.model import ACTIVE, utcnow
from cdds_shared.runs.store import RunStore

__all__ = [
    "CLAIM_LEASE",
    "Publish",
    "announce_completion",
    "announce_overdue",
    "complete_if_done",
    "fail_run",
    "fail_stalled",
    "remove_staging",
]

Publish = Callable[[Message], Awaitable[None]]
log = get_logger("cdds.runs")
CLAIM_LEASE = timedelta(seconds=60)


async def complete_if_done(runs: RunStore, publish: Publish, run_id: str) -> bool:
    """Mark the run completed once every planned part is sealed and announce it. ``True`` when
    this call published ``RunCompleted``."""
    run = await runs.get(run_id)
    if run.status == "running":
        artifacts = await runs.artifacts(run_id)
        if not runs.is_complete(run, artifacts, await runs.partitions(run_id)):
            return False
        if await runs.transition(run_id, ("running",), "completed", finished_at=utcnow()) is None:
            return False
        log.info("run completed", run_id=run_id, parts=len(artifacts))
    return await announce_completion(runs, publish, run_id)


async def announce_completion(runs: RunStore, publish: Publish, run_id: str) -> bool:
    """Publish ``RunCompleted`` for a completed (or no-data) run exactly once in effect: only the
    caller that claims the announcement publishes. A claimant that died before publishing is
    replaced once its claim is older than ``CLAIM_LEASE`` (``announce_overdue``)."""
    run = await runs.claim_announcement(run_id, CLAIM_LEASE)
    if run is None:
        return False
    ids = [a.id for a in await runs.artifacts(run_id)]
    status = "completed" if run.status == "completed" else "no_data"
    await publish(
        RunCompleted(correlation_id=run_id, run_id=run_id, status=status, artifact_ids=ids)
    )
    await runs.mark_completion_published(run_id)
    return True


async def announce_overdue(runs: RunStore, publish: Publish) -> list[str]:
    """Announce finished runs whose announcement was claimed and never made (a crash)."""
    announced = []
    for run_id in await runs.unannounced(CLAIM_LEASE):
        if await announce_completion(runs, publish, run_id):
            announced.append(run_id)
    return announced


async def fail_run(
    runs: RunStore,
    publish: Publish,
    objects: ObjectStore,
    staging_prefix: str,
    run_id: str,
    reason: str,
) -> bool:
    """Fail an active run with ``reason`` (once), publish ``RunFailed`` and remove its staged
    parts. ``False`` when the run had already ended."""
    won = await runs.transition(run_id, ACTIVE, "failed", error=reason, finished_at=utcnow())
    if won is None:
        return False
    log.warning("run failed", run_id=run_id, reason=reason)
    await publish(RunFailed(correlation_id=run_id, run_id=run_id, reason=reason))
    await remove_staging(objects, staging_prefix, run_id)
    return True


async def remove_staging(objects: ObjectStore, staging_prefix: str, run_id: str) -> int:
    """Delete every staged part of a run (finished runs keep nothing in staging)."""
    removed = 0
    async for info in objects.list(f"{staging_prefix}{run_id}/"):
        await objects.delete(info.key)
        removed += 1
    return removed


async def fail_stalled(
    runs: RunStore,
    publish: Publish,
    objects: ObjectStore,
    staging_prefix: str,
    timeout_seconds: float,
    now: datetime | None = None,
) -> list[str]:
    """Fail every active run without progress for ``timeout_seconds``; returns their ids."""
    now = now or utcnow()
    failed = []
    for run in await runs.active():
        progress = await runs.progress(run, now)
        last = progress.last_activity_at or run.requested_at
        idle = (now - last).total_seconds()
        if idle < timeout_seconds:
            continue
        reason = (
            f"no progress for {idle:.0f} s (limit {timeout_seconds:.0f} s, last activity "
            f"{last.isoformat()}); {progress.records_sealed} of about "
            f"{progress.estimated_total} records were sealed"
        )
        if await fail_run(runs, publish, objects, staging_prefix, run.id, reason):
            failed.append(run.id)
    return failed
