"""What History and Artifacts read and change (the gateway's use cases): a caller's runs and
files within their ``Scope``, a page in a constant number of queries whatever its size.

FerretDB 1.24 (SQLite) answers a filter of ``_id`` alone from its primary key and scans the whole
collection for any other, sort and count included: a single run or file is read by ``_id`` and
its scope checked on the document, a page's files are fetched in one query, and the total is
counted only when the page does not tell it. ``RunStore`` inherits these.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from cdds_shared.ports.documents import DocumentCollection, DocumentStore
from cdds_shared.runs.model import FINISHED, Artifact, Run, RunStatus, artifact_id
from cdds_shared.scope import Scope

__all__ = ["ARTIFACTS", "BY_ID_MAX", "CHECKPOINTS", "PARTITIONS", "RUNS", "RunPages"]

RUNS, PARTITIONS, CHECKPOINTS, ARTIFACTS = "runs", "run_partitions", "run_checkpoints", "artifacts"
BY_ID_MAX = 32
"""Documents a run's details may look up one by one (``files_of_run``) before one query is
cheaper."""
LIVE = {"deleted_at": None}
"""Runs still in History (a deleted run's document stays, marked, for the audit trail)."""


def partition_id(run_id: str, partition: int) -> str:
    return f"{run_id}:{partition:04d}"


async def _page_total(
    collection: DocumentCollection, where: Mapping[str, Any], found: int, limit: int, offset: int
) -> int:
    """The total behind a page of ``found`` items: known without counting when the page is
    neither full nor empty (each count is another scan of the collection on FerretDB)."""
    if 0 < found < limit or (found == 0 and offset == 0):
        return offset + found
    return await collection.count(where)


class RunPages:
    """Collections are looked up on use, so the store can be built before the client connects."""

    def __init__(self, documents: DocumentStore) -> None:
        self._documents = documents

    @property
    def _runs(self) -> DocumentCollection:
        return self._documents.collection(RUNS)

    @property
    def _partitions(self) -> DocumentCollection:
        return self._documents.collection(PARTITIONS)

    @property
    def _checkpoints(self) -> DocumentCollection:
        return self._documents.collection(CHECKPOINTS)

    @property
    def _artifacts(self) -> DocumentCollection:
        return self._documents.collection(ARTIFACTS)

    # -- runs in scope ----------------------------------------------------------------------

    async def live_run(self, run_id: str, scope: Scope) -> Run | None:
        """The run if it is in ``scope`` and still in History."""
        doc = await self._runs.find_one({"_id": run_id})
        if doc is None or not scope.admits(doc) or doc.get("deleted_at") is not None:
            return None
        return Run.model_validate(doc)

    async def live_runs(self, run_ids: Sequence[str], scope: Scope) -> list[Run]:
        """The runs of ``run_ids`` in ``scope`` and still in History, in that order."""
        if not run_ids:
            return []
        found = self._runs.find({**scope.filter(), **LIVE, "_id": {"$in": list(run_ids)}})
        runs = {d["_id"]: Run.model_validate(d) async for d in found}
        return [runs[i] for i in run_ids if i in runs]

    async def page_of_runs(
        self,
        scope: Scope,
        *,
        statuses: Sequence[RunStatus] = (),
        record_type: str | None = None,
        job_id: str | None = None,
        sort: str = "requested_at",
        descending: bool = True,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[Run], int]:
        """A page of the runs in ``scope`` still in History, and how many there are in all."""
        where: dict[str, Any] = {**scope.filter(), **LIVE}
        if statuses:
            where["status"] = {"$in": list(statuses)}
        if record_type is not None:
            where["record_type"] = record_type
        if job_id is not None:
            where["job_id"] = job_id
        direction = -1 if descending else 1
        order = [(sort, direction), ("_id", direction)]
        found = self._runs.find(where, sort=order, limit=limit, skip=offset)
        runs = [Run.model_validate(d) async for d in found]
        return runs, await _page_total(self._runs, where, len(runs), limit, offset)

    async def mark_run_deleted(self, run_id: str, *, by: str, at: datetime) -> None:
        """Take the run out of History (its document stays for the audit trail and for the
        workers that may still hold its messages)."""
        await self._runs.update({"_id": run_id}, {"deleted_at": at, "deleted_by": by})

    async def queued_count(self, tenant: str, owner: str) -> int:
        """How many of ``owner``'s runs wait to start."""
        where = {"tenant": tenant, "owner": owner, "status": "queued", **LIVE}
        return await self._runs.count(where)

    async def cancelled_and_deleted_since(self, scope: Scope, since: datetime) -> list[str]:
        """Ids of the runs in ``scope`` deleted while they were going, since ``since``."""
        where = {**scope.filter(), "status": "cancelled", "deleted_at": {"$gte": since}}
        return [d["_id"] async for d in self._runs.find(where)]

    async def was_cancelled_and_deleted_since(self, run_id: str, since: datetime) -> bool:
        """Whether ``run_id`` is one of the runs ``cancelled_and_deleted_since`` lists (looked up
        by ``_id``)."""
        doc = await self._runs.find_one({"_id": run_id})
        if doc is None or doc.get("status") != "cancelled" or doc.get("deleted_at") is None:
            return False
        deleted_at: datetime = doc["deleted_at"]
        return deleted_at >= since

    # -- files in scope ---------------------------------------------------------------------

    async def artifact_in_scope(self, artifact_id: str, scope: Scope) -> Artifact | None:
        doc = await self._artifacts.find_one({"_id": artifact_id})
        return None if doc is None or not scope.admits(doc) else Artifact.model_validate(doc)

    async def page_of_available_artifacts(
        self,
        scope: Scope,
        *,
        now: datetime,
        run_id: str | None = None,
        record_type: str | None = None,
        hidden_runs: Sequence[str] = (),
        sort: str = "created_at",
        descending: bool = True,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[Artifact], int]:
        """A page of the files in ``scope`` still available at ``now`` (none of
        ``hidden_runs``), and how many there are in all."""
        where: dict[str, Any] = {
            **scope.filter(),
            "status": "available",
            "expires_at": {"$gt": now},
        }
        if record_type is not None:
            where["record_type"] = record_type
        if run_id is not None:
            where["run_id"] = run_id if run_id not in hidden_runs else {"$in": []}
        elif hidden_runs:
            where["run_id"] = {"$nin": list(hidden_runs)}
        order = [(sort, -1 if descending else 1), ("_id", 1)]
        found = self._artifacts.find(where, sort=order, limit=limit, skip=offset)
        artifacts = [Artifact.model_validate(d) async for d in found]
        return artifacts, await _page_total(self._artifacts, where, len(artifacts), limit, offset)

    async def mark_artifact_removed(self, artifact_id: str, at: datetime) -> None:
        """Its owner deleted it (its object is already gone)."""
        await self._artifacts.update({"_id": artifact_id}, {"status": "deleted", "deleted_at": at})

    # -- a page's files and progress: one query each ------------------------------------------

    async def artifacts_of_runs(
        self, run_ids: Sequence[str], tenant: str | None = None
    ) -> dict[str, list[Artifact]]:
        """The artifacts of each of ``run_ids`` (every run a key), in partition and part order,
        in one query (FerretDB 1.24 scans the collection once per query whatever the filter).
        ``tenant``, the runs' one tenant when known: FerretDB's PostgreSQL handler filters on an
        equality in PostgreSQL (not ``$in``), so only that tenant's files are decoded."""
        found: dict[str, list[Artifact]] = {run_id: [] for run_id in run_ids}
        if found:
            query: dict[str, Any] = {"run_id": {"$in": list(found)}}
            if tenant is not None:
                query["tenant"] = tenant
            async for doc in self._artifacts.find(query):
                artifact = Artifact.model_validate(doc)
                found.setdefault(artifact.run_id, []).append(artifact)
        for artifacts in found.values():
            artifacts.sort(key=lambda a: (a.partition, a.part))
        return found

    async def partitions_of_runs(self, run_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """The partition progress documents of each of ``run_ids`` (every run a key), in one
        query."""
        found: dict[str, list[dict[str, Any]]] = {run_id: [] for run_id in run_ids}
        if found:
            async for doc in self._partitions.find({"run_id": {"$in": list(found)}}):
                found.setdefault(doc["run_id"], []).append(doc)
        return found

    async def files_of_run(self, run: Run) -> tuple[list[Artifact], list[dict[str, Any]]]:
        """One run's artifacts and partition documents. Those of a finished run whose
        partitions all recorded their parts are read by their deterministic ``_id``s (a filter
        of ``_id`` alone is the one FerretDB 1.24 answers from its primary key instead of
        scanning the collection); otherwise, or past ``BY_ID_MAX`` documents, one query each."""
        if run.plan is not None and run.status in FINISHED:
            count = len(run.plan.partitions)
            partitions = await self._by_id(
                self._partitions, [partition_id(run.id, i) for i in range(count)]
            )
            if partitions is not None and all(p is not None and p.get("done") for p in partitions):
                done = [p for p in partitions if p is not None]
                ids = [
                    artifact_id(run.id, p["partition"], k) for p in done for k in range(p["parts"])
                ]
                found = await self._by_id(self._artifacts, ids)
                if found is not None:
                    return [Artifact.model_validate(d) for d in found if d is not None], done
        artifacts = await self.artifacts_of_runs([run.id], run.tenant)
        return artifacts[run.id], (await self.partitions_of_runs([run.id]))[run.id]

    @staticmethod
    async def _by_id(
        collection: DocumentCollection, ids: Sequence[str]
    ) -> list[dict[str, Any] | None] | None:
        """The documents of ``ids`` (``None`` where missing), looked up together; ``None`` when
        there are more than ``BY_ID_MAX`` (one scan is then cheaper than that many lookups)."""
        if len(ids) > BY_ID_MAX:
            return None
        return list(await asyncio.gather(*(collection.find_one({"_id": i}) for i in ids)))
