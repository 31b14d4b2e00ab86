"""The sweep (docs/retention.md §3): whatever is past ``expires_at`` is expired, whether or not
its timer arrived, so a lost timer delays a deletion by one sweep interval at most.

A pass also finishes expiries a dead janitor left unannounced, and removes orphans: objects under
``artifacts/`` that no available artifact refers to (a deleted run or artifact whose object
delete failed, an upload a crashed encryptor never recorded).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from cdds_shared.errors import NotFoundError
from cdds_shared.logging import get_logger
from cdds_shared.ports.objects import ObjectInfo, ObjectStore
from cdds_shared.retention.expiry import (
    EXPIRY_LEASE,
    Expiry,
    RetentionPorts,
    expire_artifact,
    finish_expiry,
)
from cdds_shared.runs.lifecycle import ARTIFACT_PREFIX
from cdds_shared.runs.store import RunStore

__all__ = ["ORPHAN_GRACE", "SWEEP_BATCH", "SweepReport", "remove_orphans", "sweep"]

log = get_logger("cdds.retention.sweep")

SWEEP_BATCH = 200
ORPHAN_GRACE = timedelta(hours=1)
"""An object no artifact records is left alone this long: an encryptor records its artifact
right after the upload completes, so only a crash leaves one older."""


@dataclass
class SweepReport:
    overdue: int = 0
    """Available artifacts past ``expires_at`` when the pass started (timers late or lost)."""
    expired: int = 0
    finished: int = 0
    orphans: int = 0


async def sweep(
    ports: RetentionPorts,
    *,
    on_expiry: Callable[[Expiry], None] | None = None,
    batch: int = SWEEP_BATCH,
    orphans: bool = True,
    orphan_grace: timedelta = ORPHAN_GRACE,
) -> SweepReport:
    """One pass. Raises (``DependencyUnavailable``) when MinIO or MongoDB fails mid-way; what
    was done stays done, and the next pass carries on."""
    now = ports.clock()
    report = SweepReport(overdue=await ports.runs.count_due_artifacts(now))
    seen: set[str] = set()
    while True:
        due = await ports.runs.due_artifacts(now, batch)
        fresh = [a for a in due if a.id not in seen]
        for artifact in fresh:
            seen.add(artifact.id)
            expiry = await expire_artifact(ports, artifact, "sweep")
            report.expired += expiry.deleted
            if on_expiry is not None:
                on_expiry(expiry)
        if len(due) < batch or not fresh:
            break
    for artifact, deleted_at in await ports.runs.unannounced_expiries(now - EXPIRY_LEASE, batch):
        expiry = await finish_expiry(ports, artifact, deleted_at, "sweep")
        report.finished += 1
        if on_expiry is not None:
            on_expiry(expiry)
    if orphans:
        report.orphans = await remove_orphans(ports.runs, ports.objects, now, orphan_grace)
    if report.overdue or report.expired or report.finished or report.orphans:
        log.info(
            "sweep done",
            overdue=report.overdue,
            expired=report.expired,
            finished=report.finished,
            orphans=report.orphans,
        )
    return report


async def remove_orphans(
    runs: RunStore, objects: ObjectStore, now: datetime, grace: timedelta = ORPHAN_GRACE
) -> int:
    """Delete objects under ``artifacts/<tenant>/<run>/`` that no available artifact refers to:
    at once when their artifact is deleted or their run is gone, after ``grace`` when nothing
    records them (an encryptor may be recording the artifact right now).
    Costs one listing of the prefix and one query per run; keys are listed in order, so a run's
    objects come together."""
    removed = 0
    run_id: str | None = None
    group: list[ObjectInfo] = []
    async for info in objects.list(ARTIFACT_PREFIX):
        parts = info.key[len(ARTIFACT_PREFIX) :].split("/")
        if len(parts) != 3:
            continue  # not an artifact's key: not ours to judge
        if parts[1] != run_id:
            removed += await _remove_run_orphans(runs, objects, run_id, group, now, grace)
            run_id, group = parts[1], []
        group.append(info)
    removed += await _remove_run_orphans(runs, objects, run_id, group, now, grace)
    return removed


async def _remove_run_orphans(
    runs: RunStore,
    objects: ObjectStore,
    run_id: str | None,
    group: list[ObjectInfo],
    now: datetime,
    grace: timedelta,
) -> int:
    if run_id is None or not group:
        return 0
    artifacts = {a.object_key: a for a in await runs.artifacts(run_id)}
    try:
        await runs.get(run_id)
        run_gone = False
    except NotFoundError:
        run_gone = True
    removed = 0
    for info in group:
        artifact = artifacts.get(info.key)
        if artifact is not None and artifact.status == "available":
            continue  # expires on schedule, audited
        old = info.last_modified is not None and now - info.last_modified >= grace
        if artifact is None and not run_gone and not old:
            continue  # perhaps an upload whose artifact is being recorded right now
        await objects.delete(info.key)
        removed += 1
        log.info(
            "orphan removed",
            run_id=run_id,
            key=info.key,
            reason="artifact deleted" if artifact else "run deleted" if run_gone else "unrecorded",
        )
    return removed
