"""Ending a run: completed once its last part is sealed, failed with a reason (docs/pipeline.md §3).

Both transitions are conditional on the current status, so however many workers race to end a
run, one wins and publishes the event; the losers do nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Collection
from datetime import datetime, timedelta

from cdds_shared.errors import NotFoundError
from cdds_shared.logging import get_logger
from cdds_shared.messaging.messages import Message, RunCompleted, RunFailed
from cdds_shared.ports.objects import ObjectStore
from cdds_shared.runs.model import ACTIVE, Run, utcnow
from cdds_shared.runs.store import RunStore

__all__ = [
    "ARTIFACT_PREFIX",
    "CLAIM_LEASE",
    "Publish",
    "announce",
    "announce_overdue",
    "complete_if_done",
    "fail_run",
    "fail_stalled",
    "remove_leftovers",
    "remove_staging",
]

Publish = Callable[[Message], Awaitable[None]]
log = get_logger("cdds.runs")
CLAIM_LEASE = timedelta(seconds=60)
ARTIFACT_PREFIX = "artifacts/"
WAIT_FACTOR = 4


async def complete_if_done(
    runs: RunStore,
    publish: Publish,
    run_id: str,
    *,
    objects: ObjectStore | None = None,
    staging_prefix: str = "",
) -> bool:
    """Mark the run completed once every planned part is sealed, remove what crashed attempts
    left behind (with ``objects``), and announce it. ``True`` when this call published."""
    run = await runs.get(run_id)
    if run.status == "running":
        artifacts = await runs.artifacts(run_id)
        if not runs.is_complete(run, artifacts, await runs.partitions(run_id)):
            return False
        if await runs.transition(run_id, ("running",), "completed", finished_at=utcnow()) is None:
            return False
        log.info("run completed", run_id=run_id, parts=len(artifacts))
    elif run.status not in ("completed", "no_data"):
        return False
    if objects is not None and run.status != "no_data":
        # Every time, not only on the transition: a cleanup cut short is finished by the next
        # redelivery.
        await remove_leftovers(runs, objects, staging_prefix, run)
    return await announce(runs, publish, run_id)


async def announce(runs: RunStore, publish: Publish, run_id: str) -> bool:
    """Publish how a run ended (``RunCompleted`` or ``RunFailed``) exactly once in effect: only
    the caller that claims the announcement publishes. A claimant that died before publishing
    is replaced once its claim is older than ``CLAIM_LEASE`` (``announce_overdue``)."""
    run = await runs.claim_announcement(run_id, CLAIM_LEASE)
    if run is None:
        return False
    event: Message
    if run.status == "failed":
        event = RunFailed(correlation_id=run_id, run_id=run_id, reason=run.error or "unknown")
    else:
        ids = [a.id for a in await runs.artifacts(run_id)]
        status = "completed" if run.status == "completed" else "no_data"
        event = RunCompleted(correlation_id=run_id, run_id=run_id, status=status, artifact_ids=ids)
    await publish(event)
    await runs.mark_completion_published(run_id)
    return True


async def announce_overdue(runs: RunStore, publish: Publish) -> list[str]:
    """Announce ended runs whose announcement was claimed and never made (a crash)."""
    announced = []
    for run_id in await runs.unannounced(CLAIM_LEASE):
        if await announce(runs, publish, run_id):
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
    """Fail an active run with ``reason`` (once), announce ``RunFailed`` and remove its staged
    parts. ``False`` when the run had already ended. Also what a worker's ``on_give_up`` does
    when a message's fate is a dead letter (``RunDeps.give_up``, ``messaging/fate.py``)."""
    won = await runs.transition(run_id, ACTIVE, "failed", error=reason, finished_at=utcnow())
    if won is None:
        # Already ended; repeat the cleanup an earlier attempt may not have finished.
        with contextlib.suppress(NotFoundError):
            if (await runs.get(run_id)).status in ("failed", "cancelled"):
                await remove_staging(objects, staging_prefix, run_id)
        return False
    log.warning("run failed", run_id=run_id, reason=reason)
    await remove_staging(objects, staging_prefix, run_id)
    await announce(runs, publish, run_id)
    return True


async def remove_leftovers(
    runs: RunStore, objects: ObjectStore, staging_prefix: str, run: Run
) -> int:
    """After completion: staged parts nobody will seal (a crashed exporter's upload) and sealed
    objects no artifact refers to (a crashed encryptor's upload) are removed."""
    removed = await remove_staging(objects, staging_prefix, run.id)
    keep = {a.object_key for a in await runs.artifacts(run.id)}
    async for info in objects.list(f"{ARTIFACT_PREFIX}{run.tenant}/{run.id}/"):
        if info.key not in keep:
            await objects.delete(info.key)
            removed += 1
    if removed:
        log.info("leftovers removed", run_id=run.id, objects=removed)
    return removed


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
    *,
    waiting_turn: Collection[str] = (),
) -> list[str]:
    """Fail every active run without progress for ``timeout_seconds``; returns their ids.

    A run none of whose partitions has started yet is waiting its turn behind other runs, not
    stalled, while any active run makes progress (work queues are first in, first out): its idle
    time counts from the newest progress of all runs — but it waits ``WAIT_FACTOR`` times the
    limit at most, so a run whose work was lost cannot hide behind busy neighbours forever.
    Runs in ``waiting_turn`` (queued behind their user's or tenant's limit) are not judged."""
    now = now or utcnow()
    active = [(run, await runs.progress(run, now)) for run in await runs.active()]
    moments = [p.last_activity_at for _, p in active if p.last_activity_at is not None]
    newest = max(moments, default=None)
    failed = []
    for run, progress in active:
        if run.id in waiting_turn:
            continue
        last = progress.last_activity_at or run.requested_at
        waiting = progress.records_exported == 0 and progress.parts == 0
        waited = (now - last).total_seconds()
        if waiting and newest is not None:
            last = max(last, newest)
        idle = (now - last).total_seconds()
        if idle < timeout_seconds and not (waiting and waited >= WAIT_FACTOR * timeout_seconds):
            continue
        idle = max(idle, waited if waiting else idle)
        if waiting and waited >= WAIT_FACTOR * timeout_seconds:
            reason = (
                f"no progress for {waited:.0f} s: none of its work started (limit "
                f"{WAIT_FACTOR} x {timeout_seconds:.0f} s while other runs progress)"
            )
        else:
            reason = (
                f"no progress for {idle:.0f} s (limit {timeout_seconds:.0f} s, last activity "
                f"{last.isoformat()}); {progress.records_sealed} of about "
                f"{progress.estimated_total} records were sealed"
            )
        if await fail_run(runs, publish, objects, staging_prefix, run.id, reason):
            failed.append(run.id)
    return failed
