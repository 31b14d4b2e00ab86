"""Export jobs in the document store (``jobs``); the model and the schedule arithmetic are in
``jobs_model`` (re-exported here).

The scheduler claims due jobs with a conditional ``find_one_and_update`` (a lease in
``claimed_at``/``claimed_by``), so any number of gateway replicas start each occurrence once.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from cdds_gateway.jobs_model import (
    COLLECTION,
    DEFAULT_SPLIT_SIZE,
    MAX_SPLIT_SIZE,
    MEDIA_NAME,
    MIN_SPLIT_SIZE,
    NOT_BLANK,
    RECURRING,
    WINDOW_TAKEN,
    Job,
    JobSpec,
    JobTimeframe,
    Schedule,
    as_utc,
    next_run_at,
    planned_end,
    run_timeframe,
)
from cdds_shared.ports.documents import DocumentCollection, DocumentStore, IndexSpec, SortSpec
from cdds_shared.runs.model import Run
from cdds_shared.runs.store import ARTIFACTS, RUNS
from cdds_shared.scope import Scope

__all__ = [
    "DEFAULT_SPLIT_SIZE",
    "MAX_SPLIT_SIZE",
    "MEDIA_NAME",
    "MIN_SPLIT_SIZE",
    "NOT_BLANK",
    "RECURRING",
    "Job",
    "JobSpec",
    "JobStore",
    "JobTimeframe",
    "Schedule",
    "as_utc",
    "next_run_at",
    "planned_end",
    "run_timeframe",
]


class JobStore:
    """Jobs in the document store. Every read and write takes a ``scope`` filter (the caller's
    tenant, and owner unless an admin), so isolation is not left to each caller's memory."""

    def __init__(self, documents: DocumentStore) -> None:
        self._documents = documents

    @property
    def _c(self) -> DocumentCollection:
        return self._documents.collection(COLLECTION)

    async def ensure_indexes(self) -> None:
        await self._c.ensure_indexes(
            [
                IndexSpec((("tenant", 1), ("owner", 1))),
                IndexSpec((("enabled", 1), ("next_run_at", 1))),
            ]
        )
        # The gateway's History and Artifacts lists read runs and artifacts per tenant and owner,
        # and a job's previous run by job id (RunStore indexes what the workers need).
        runs = self._documents.collection(RUNS)
        await runs.ensure_indexes(
            [IndexSpec((("tenant", 1), ("owner", 1))), IndexSpec((("job_id", 1),))]
        )
        artifacts = self._documents.collection(ARTIFACTS)
        await artifacts.ensure_indexes([IndexSpec((("tenant", 1), ("owner", 1)))])

    async def insert(self, job: Job) -> None:
        await self._c.insert(job.document())

    async def get(self, job_id: str, scope: Scope) -> Job | None:
        doc = await self._c.find_one({**scope.filter(), "_id": job_id})
        return None if doc is None else Job.model_validate(doc)

    async def find(
        self,
        scope: Scope,
        *,
        sort: SortSpec | None = None,
        limit: int | None = None,
        skip: int = 0,
    ) -> list[Job]:
        where = scope.filter()
        found = self._c.find(where, sort=sort or [("created_at", -1)], limit=limit, skip=skip)
        return [Job.model_validate(d) async for d in found]

    async def count(self, scope: Scope) -> int:
        return await self._c.count(scope.filter())

    async def update(self, job_id: str, scope: Scope, changes: Mapping[str, Any]) -> Job | None:
        """``$set`` ``changes`` on the job in ``scope``; the job after, or ``None``."""
        where = {**scope.filter(), "_id": job_id}
        doc = await self._c.find_one_and_update(where, {"$set": dict(changes)})
        return None if doc is None else Job.model_validate(doc)

    async def delete(self, job_id: str, scope: Scope) -> bool:
        return await self._c.delete({**scope.filter(), "_id": job_id}) > 0

    async def record_run(self, job_id: str, tenant: str, run_id: str, at: datetime) -> None:
        """The job's latest run is ``run_id``, requested ``at`` (whoever started it)."""
        await self.update(job_id, Scope(tenant), {"last_run_id": run_id, "last_run_at": at})

    async def titles(self, job_ids: set[str]) -> dict[str, str]:
        if not job_ids:
            return {}
        found = self._c.find({"_id": {"$in": sorted(job_ids)}})
        return {d["_id"]: d["title"] async for d in found}

    async def claim_due(self, now: datetime, lease: timedelta, token: str) -> Job | None:
        """Claim one enabled job whose ``next_run_at`` has come and that nobody holds (or whose
        holder's lease ran out). Atomic, so of concurrent schedulers exactly one gets it."""
        doc = await self._c.find_one_and_update(
            {
                "enabled": True,
                "next_run_at": {"$lte": now},
                "$or": [{"claimed_at": None}, {"claimed_at": {"$lt": now - lease}}],
            },
            {"$set": {"claimed_at": now, "claimed_by": token}},
            sort=[("next_run_at", 1)],
        )
        return None if doc is None else Job.model_validate(doc)

    async def release(self, job: Job, token: str, **changes: Any) -> bool:
        """End a claim with ``changes``. ``next_run_at`` is only changed if nobody edited the
        job's schedule meanwhile (an edit recomputes it)."""
        base = {"_id": job.id, "claimed_by": token}
        released = {"claimed_at": None, "claimed_by": None}
        if "next_run_at" in changes:
            advanced = await self._c.find_one_and_update(
                {**base, "next_run_at": job.next_run_at}, {"$set": {**changes, **released}}
            )
            if advanced is not None:
                return True
            changes = {k: v for k, v in changes.items() if k != "next_run_at"}
        return (
            await self._c.find_one_and_update(base, {"$set": {**changes, **released}}) is not None
        )

    async def previous_end(self, job_id: str) -> datetime | None:
        """Where the job's newest run that did not fail stops (``planned_end``)."""
        found = self._documents.collection(RUNS).find(
            {"job_id": job_id, "status": {"$in": list(WINDOW_TAKEN)}},
            sort=[("requested_at", -1)],
            limit=1,
        )
        async for doc in found:
            return planned_end(Run.model_validate(doc))
        return None
