"""A run's progress and completeness, derived from its artifacts and partition documents.

Pure functions of documents already read (``RunStore`` fetches them, for one run or a page of
runs at once), so they are computed the same way on every read and tested without a server.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from cdds_shared.runs.model import Artifact, Progress, Run, utcnow

__all__ = ["is_complete", "progress_of"]


def is_complete(
    run: Run, artifacts: Sequence[Artifact], partitions: Sequence[Mapping[str, Any]]
) -> bool:
    """Every planned partition has all its parts sealed: parts 0..k with part k marked last,
    or the exporter recorded it as done with zero parts."""
    if run.plan is None:
        return False
    recorded = {p["partition"]: int(p["parts"]) for p in partitions if p.get("done")}
    sealed: dict[int, set[int]] = {}
    last: dict[int, int] = {}
    for a in artifacts:
        sealed.setdefault(a.partition, set()).add(a.part)
        if a.last_in_partition:
            last[a.partition] = a.part
    for index in range(len(run.plan.partitions)):
        count = recorded.get(index, last[index] + 1 if index in last else None)
        if count is None or not set(range(count)) <= sealed.get(index, set()):
            return False
    return True


def progress_of(
    run: Run,
    artifacts: Sequence[Artifact],
    partitions: Sequence[Mapping[str, Any]],
    now: datetime | None = None,
) -> Progress:
    """The run's progress from its artifacts and partition documents, already fetched."""
    now = now or utcnow()
    exported = sum(int(p.get("records", 0)) for p in partitions)
    sealed = sum(a.main_records for a in artifacts)
    total = run.plan.estimate if run.plan else 0
    done = run.status in ("completed", "no_data")
    percent = 100.0 if done else (100.0 * min(sealed, total) / total if total else 0.0)
    moments = [
        run.started_at,
        *(a.created_at for a in artifacts),
        *(p.get("updated_at") for p in partitions),
    ]
    last = max((m for m in moments if m is not None), default=None)
    eta = None
    if run.status == "running" and run.started_at and 0 < sealed < total:
        elapsed = (now - run.started_at).total_seconds()
        eta = round(elapsed / sealed * (total - sealed), 1)
    return Progress(
        records_exported=exported,
        records_sealed=sealed,
        estimated_total=total,
        bytes=sum(a.size for a in artifacts),
        parts=len(artifacts),
        percent=round(percent, 1),
        eta_seconds=eta,
        last_activity_at=last,
    )
