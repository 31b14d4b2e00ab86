"""``RunStore``: runs, partition progress, checkpoints and artifacts in the document store."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from cdds_shared.errors import ConflictError, NotFoundError
from cdds_shared.messaging.messages import RunRequested
from cdds_shared.ports.documents import DocumentCollection, DocumentStore, IndexSpec
from cdds_shared.runs.model import ACTIVE, Artifact, Plan, Progress, Run, RunStatus, utcnow

__all__ = ["Checkpoint", "RunStore"]

RUNS, PARTITIONS, CHECKPOINTS, ARTIFACTS = "runs", "run_partitions", "run_checkpoints", "artifacts"


class Checkpoint(dict[str, Any]):
    """``{part, last_id, total, last}`` of the last part a partition staged."""


def _partition_id(run_id: str, partition: int) -> str:
    return f"{run_id}:{partition:04d}"


class RunStore:
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

    async def ensure_indexes(self) -> None:
        await self._runs.ensure_indexes([IndexSpec((("status", 1),))])
        await self._partitions.ensure_indexes([IndexSpec((("run_id", 1),))])
        await self._checkpoints.ensure_indexes([IndexSpec((("run_id", 1), ("partition", 1)))])
        await self._artifacts.ensure_indexes(
            [IndexSpec((("run_id", 1),)), IndexSpec((("expires_at", 1),))]
        )

    # -- runs -------------------------------------------------------------------------------

    async def create(self, request: RunRequested) -> Run:
        """The run of a request; created ``queued`` unless it exists (a redelivery, or the
        gateway created it first)."""
        run = Run(
            id=request.run_id,
            tenant=request.tenant,
            ucs_tenant_id=request.ucs_tenant_id,
            owner=request.owner,
            record_type=request.record_type,
            media_types=request.media_types,
            timeframe=request.timeframe,
            split_size_bytes=request.split_size_bytes,
            requested_at=utcnow(),
        )
        try:
            await self._runs.insert(run.document())
        except ConflictError:
            return await self.get(request.run_id)
        return run

    async def insert(self, run: Run) -> None:
        await self._runs.insert(run.document())

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
        """Claim the right to publish the run's completion: the finished, unannounced run, or
        ``None`` if it is not finished, already announced, or claimed less than ``lease`` ago."""
        now = utcnow()
        doc = await self._runs.find_one_and_update(
            {
                "_id": run_id,
                "status": {"$in": ["completed", "no_data"]},
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
        found = self._runs.find(
            {"status": {"$in": ["completed", "no_data"]}, "completion_published": False}
        )
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
        """Absolute figures (never increments), so a redone partition cannot double count."""
        values = {
            "run_id": run_id,
            "partition": partition,
            "records": records,
            "done": done,
            "parts": parts,
            "updated_at": utcnow(),
        }
        doc_id = _partition_id(run_id, partition)
        if not await self._partitions.update({"_id": doc_id}, values):
            try:
                await self._partitions.insert({"_id": doc_id, **values})
            except ConflictError:
                await self._partitions.update({"_id": doc_id}, values)

    async def partitions(self, run_id: str) -> list[dict[str, Any]]:
        return [d async for d in self._partitions.find({"run_id": run_id})]

    async def checkpoint(
        self, run_id: str, partition: int, part: int, *, last_id: str, total: int, last: bool
    ) -> None:
        """Part ``part`` of the partition is staged: it ends at ``last_id``, ``total`` records of
        the partition are staged so far, ``last`` says whether it was the partition's last."""
        doc = {
            "_id": f"{_partition_id(run_id, partition)}:{part:04d}",
            "run_id": run_id,
            "partition": partition,
            "part": part,
            "last_id": last_id,
            "total": total,
            "last": last,
            "at": utcnow(),
        }
        # A conflict is the same part staged again after a crash: same cut, same records.
        with contextlib.suppress(ConflictError):
            await self._checkpoints.insert(doc)

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

    async def find_artifact(self, artifact_id: str) -> Artifact | None:
        doc = await self._artifacts.find_one({"_id": artifact_id})
        return None if doc is None else Artifact.model_validate(doc)

    async def artifacts(self, run_id: str) -> list[Artifact]:
        found = self._artifacts.find({"run_id": run_id}, sort=[("partition", 1), ("part", 1)])
        return [Artifact.model_validate(d) async for d in found]

    # -- derived views -----------------------------------------------------------------------

    @staticmethod
    def is_complete(
        run: Run, artifacts: Sequence[Artifact], partitions: Sequence[Mapping[str, Any]]
    ) -> bool:
        """Every planned partition has all its parts sealed: parts 0..k with part k marked last,
        or the exporter recorded it as done with zero parts."""
        if run.plan is None:
            return False
        empty = {p["partition"] for p in partitions if p.get("done") and p.get("parts") == 0}
        by_partition: dict[int, set[int]] = {}
        last: dict[int, int] = {}
        for a in artifacts:
            by_partition.setdefault(a.partition, set()).add(a.part)
            if a.last_in_partition:
                last[a.partition] = a.part
        for index in range(len(run.plan.partitions)):
            if index in empty:
                continue
            if index not in last or by_partition[index] != set(range(last[index] + 1)):
                return False
        return True

    async def progress(self, run: Run, now: datetime | None = None) -> Progress:
        now = now or utcnow()
        artifacts = await self.artifacts(run.id)
        partitions = await self.partitions(run.id)
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
