"""``RunStore``: runs, partition progress, checkpoints and artifacts in the document store."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from cdds_shared.errors import ConflictError, NotFoundError
from cdds_shared.ports.documents import IndexSpec
from cdds_shared.runs.model import (
    ACTIVE,
    Artifact,
    Plan,
    Progress,
    Run,
    RunStatus,
    to_millis,
    utcnow,
)
from cdds_shared.runs.pages import ARTIFACTS, CHECKPOINTS, PARTITIONS, RUNS, RunPages, partition_id
from cdds_shared.runs.progress import is_complete, progress_of

__all__ = ["ARTIFACTS", "CHECKPOINTS", "PARTITIONS", "RUNS", "Checkpoint", "RunStore"]

ANNOUNCED: tuple[RunStatus, ...] = ("completed", "no_data", "failed")
"""End states announced by an event (``RunCompleted`` / ``RunFailed``); cancelling is the user's
own act."""


class Checkpoint(dict[str, Any]):
    """``{_id, part, last_id, total, last, message, announced}`` of a staged part's cut."""


class RunStore(RunPages):
    """Runs, their partitions, checkpoints and artifacts, for the workers and the gateway; the
    gateway's scoped pages are in ``RunPages``."""

    async def ensure_indexes(self) -> None:
        await self._runs.ensure_indexes([IndexSpec((("status", 1),))])
        await self._partitions.ensure_indexes([IndexSpec((("run_id", 1),))])
        await self._checkpoints.ensure_indexes([IndexSpec((("run_id", 1), ("partition", 1)))])
        await self._artifacts.ensure_indexes(
            [IndexSpec((("run_id", 1),)), IndexSpec((("expires_at", 1),))]
        )

    # -- runs -------------------------------------------------------------------------------

    async def insert(self, run: Run) -> None:
        """Insert a new run; ``ConflictError`` if one of that id exists. Only the gateway creates
        runs (``cdds_shared.runs.requesting``): the exporter never makes one from a message."""
        await self._runs.insert(run.document())

    async def delete_queued(self, run_id: str) -> bool:
        """Remove a run nobody has started (its ``RunRequested`` was not confirmed)."""
        return bool(await self._runs.delete({"_id": run_id, "status": "queued"}))

    async def get(self, run_id: str) -> Run:
        try:
            return Run.model_validate(await self._runs.get(run_id))
        except NotFoundError:
            raise NotFoundError(f"run {run_id} not found") from None

    async def transition(
        self, run_id: str, from_: tuple[RunStatus, ...], to: RunStatus, **fields: Any
    ) -> Run | None:
        """Move the run from one of ``from_`` to ``to``; ``None`` if another writer got there
        first (the status was not in ``from_``)."""
        changes: dict[str, Any] = {"status": to, **fields}
        if "plan" in changes and isinstance(changes["plan"], Plan):
            changes["plan"] = changes["plan"].model_dump(mode="python")
        doc = await self._runs.find_one_and_update(
            {"_id": run_id, "status": {"$in": list(from_)}}, {"$set": changes}
        )
        return None if doc is None else Run.model_validate(doc)

    async def claim_announcement(self, run_id: str, lease: timedelta) -> Run | None:
        """Claim the right to announce how the run ended: the finished, unannounced run, or
        ``None`` if it is not finished, already announced, or claimed less than ``lease`` ago."""
        now = utcnow()
        doc = await self._runs.find_one_and_update(
            {
                "_id": run_id,
                "status": {"$in": list(ANNOUNCED)},
                "completion_published": False,
                "$or": [
                    {"announcement_claimed_at": None},
                    {"announcement_claimed_at": {"$lt": now - lease}},
                ],
            },
            {"$set": {"announcement_claimed_at": now}},
        )
        return None if doc is None else Run.model_validate(doc)

    async def unannounced(self, lease: timedelta) -> list[str]:
        """Finished runs whose completion was not announced and is not being announced."""
        cutoff = utcnow() - lease
        found = self._runs.find({"status": {"$in": list(ANNOUNCED)}, "completion_published": False})
        return [
            d["_id"]
            async for d in found
            if d.get("announcement_claimed_at") is None or d["announcement_claimed_at"] < cutoff
        ]

    async def mark_completion_published(self, run_id: str) -> None:
        await self._runs.find_one_and_update(
            {"_id": run_id}, {"$set": {"completion_published": True}}
        )

    async def active(self) -> list[Run]:
        return [
            Run.model_validate(d) async for d in self._runs.find({"status": {"$in": list(ACTIVE)}})
        ]

    # -- partitions and checkpoints (written only by the exporter of that partition) ---------

    async def record_partition_progress(
        self, run_id: str, partition: int, *, records: int, done: bool = False, parts: int = 0
    ) -> None:
        """Absolute figures (never increments), so a redone partition cannot double count. A
        heartbeat (``done=False``) never clears a partition already recorded done."""
        values: dict[str, Any] = {
            "run_id": run_id,
            "partition": partition,
            "records": records,
            "updated_at": utcnow(),
        }
        if done:
            values |= {"done": True, "parts": parts}
        doc_id = partition_id(run_id, partition)
        if not await self._partitions.update({"_id": doc_id}, values):
            try:
                await self._partitions.insert({"_id": doc_id, "done": False, "parts": 0, **values})
            except ConflictError:
                await self._partitions.update({"_id": doc_id}, values)

    async def partitions(self, run_id: str) -> list[dict[str, Any]]:
        return [d async for d in self._partitions.find({"run_id": run_id})]

    async def checkpoint(
        self,
        run_id: str,
        partition: int,
        part: int,
        *,
        last_id: str,
        total: int,
        last: bool,
        message: str,
    ) -> Checkpoint:
        """Record the cut of part ``part`` (insert-once): it ends at ``last_id``, ``total``
        records of the partition are staged with it, ``last`` says whether no part follows, and
        ``message`` is its ``PartStaged`` (JSON) until announced. Returns the stored checkpoint,
        which is another writer's when one recorded this part first."""
        doc_id = f"{partition_id(run_id, partition)}:{part:04d}"
        doc = {
            "_id": doc_id,
            "run_id": run_id,
            "partition": partition,
            "part": part,
            "last_id": last_id,
            "total": total,
            "last": last,
            "message": message,
            "announced": False,
            "at": utcnow(),
        }
        try:
            await self._checkpoints.insert(doc)
        except ConflictError:
            return Checkpoint(await self._checkpoints.get(doc_id))
        return Checkpoint(doc)

    async def mark_checkpoint_announced(self, checkpoint_id: str) -> None:
        await self._checkpoints.update({"_id": checkpoint_id}, {"announced": True})

    async def last_checkpoint(self, run_id: str, partition: int) -> Checkpoint | None:
        async for doc in self._checkpoints.find(
            {"run_id": run_id, "partition": partition}, sort=[("part", -1)], limit=1
        ):
            return Checkpoint(doc)
        return None

    # -- artifacts ---------------------------------------------------------------------------

    async def add_artifact(self, artifact: Artifact) -> bool:
        """Insert once; ``False`` when that part was already recorded."""
        try:
            await self._artifacts.insert(artifact.document())
        except ConflictError:
            return False
        return True

    async def mark_artifact_announced(self, artifact_id: str) -> None:
        await self._artifacts.update({"_id": artifact_id}, {"announced": True})

    async def find_artifact(self, artifact_id: str) -> Artifact | None:
        doc = await self._artifacts.find_one({"_id": artifact_id})
        return None if doc is None else Artifact.model_validate(doc)

    async def artifacts(self, run_id: str) -> list[Artifact]:
        found = self._artifacts.find({"run_id": run_id}, sort=[("partition", 1), ("part", 1)])
        return [Artifact.model_validate(d) async for d in found]

    # -- retention (docs/retention.md; used by the janitor) ------------------------------------

    async def due_artifacts(self, now: datetime, limit: int) -> list[Artifact]:
        """Available artifacts whose ``expires_at`` is at or before ``now``, soonest first."""
        found = self._artifacts.find(
            {"status": "available", "expires_at": {"$lte": now}},
            sort=[("expires_at", 1)],
            limit=limit,
        )
        return [Artifact.model_validate(d) async for d in found]

    async def count_due_artifacts(self, now: datetime) -> int:
        """How many available artifacts are past their ``expires_at`` (should be close to 0)."""
        return await self._artifacts.count({"status": "available", "expires_at": {"$lte": now}})

    async def mark_artifact_deleted(
        self, artifact_id: str, at: datetime, *, by: str = "janitor"
    ) -> Artifact | None:
        """Conditional ``available`` → ``deleted`` (one writer wins); the artifact as it is now,
        or ``None`` when it was not available (another janitor or its owner deleted it first).
        ``expiry_announced`` stays false until the deletion is audited and announced."""
        doc = await self._artifacts.find_one_and_update(
            {"_id": artifact_id, "status": "available"},
            {
                "$set": {
                    "status": "deleted",
                    "deleted_at": to_millis(at),
                    "deleted_by": by,
                    "expiry_announced": False,
                }
            },
        )
        return None if doc is None else Artifact.model_validate(doc)

    async def unannounced_expiries(
        self, deleted_before: datetime, limit: int, *, artifact_id: str | None = None
    ) -> list[tuple[Artifact, datetime]]:
        """Artifacts the janitor deleted before ``deleted_before`` whose deletion was never
        audited and announced (the janitor died in between), with their ``deleted_at``."""
        query: dict[str, Any] = {
            "status": "deleted",
            "deleted_by": "janitor",
            "expiry_announced": False,
            "deleted_at": {"$lt": deleted_before},
        }
        if artifact_id is not None:
            query["_id"] = artifact_id
        found = self._artifacts.find(query, sort=[("deleted_at", 1)], limit=limit)
        return [(Artifact.model_validate(d), d["deleted_at"]) async for d in found]

    async def mark_expiry_announced(self, artifact_id: str) -> None:
        # find_one_and_update, not update: on FerretDB only it is serialised with the
        # conditional writes of other replicas.
        await self._artifacts.find_one_and_update(
            {"_id": artifact_id}, {"$set": {"expiry_announced": True}}
        )

    # -- derived views (computed in ``progress.py``) -----------------------------------------

    @staticmethod
    def is_complete(
        run: Run, artifacts: Sequence[Artifact], partitions: Sequence[Mapping[str, Any]]
    ) -> bool:
        """See ``cdds_shared.runs.progress.is_complete``."""
        return is_complete(run, artifacts, partitions)

    async def progress(self, run: Run, now: datetime | None = None) -> Progress:
        artifacts = await self.artifacts(run.id)
        return progress_of(run, artifacts, await self.partitions(run.id), now)

    @staticmethod
    def progress_of(
        run: Run,
        artifacts: Sequence[Artifact],
        partitions: Sequence[Mapping[str, Any]],
        now: datetime | None = None,
    ) -> Progress:
        """See ``cdds_shared.runs.progress.progress_of``."""
        return progress_of(run, artifacts, partitions, now)
