"""``DispatchStore``: what fair-share dispatch keeps in the store (docs/pipeline.md, "Fair share").

- ``runs``: ``accepted_at`` (its ``RunRequested`` passed the exporter's checks) and
  ``admitted_at`` (it got one of its user's and tenant's run slots), set on ``queued`` runs only.
- ``run_dispatches`` (``<runId>:<pppp>``, insert-once): a partition published as
  ``ExportPartition``, then claimed by the delivery that exports it (``claimed_by`` = that
  message's id, ``claimed_at`` renewed while it works) and ``finished`` when it is done.
- ``dispatch_locks`` (one per tenant): who is dispatching the tenant now, and ``again`` when
  someone asked for another pass meanwhile.

Every change is an insert-once or a conditional ``find_one_and_update`` (serialised per document
on FerretDB), never a transaction (docs/pipeline.md §8).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from cdds_shared.errors import ConflictError
from cdds_shared.ports.documents import Document, DocumentCollection, DocumentStore, IndexSpec
from cdds_shared.runs.model import ACTIVE, utcnow
from cdds_shared.runs.store import PARTITIONS, RUNS

__all__ = ["DISPATCHES", "LOCKS", "ClaimResult", "DispatchStore", "dispatch_id"]

DISPATCHES, LOCKS = "run_dispatches", "dispatch_locks"
ClaimResult = Literal["claimed", "busy", "finished"]
"""``busy``: another delivery holds a live claim; ``finished``: the partition is done."""


def dispatch_id(run_id: str, partition: int) -> str:
    return f"{run_id}:{partition:04d}"


class DispatchStore:
    def __init__(self, documents: DocumentStore) -> None:
        self._documents = documents
        self._known_locks: set[str] = set()  # lock documents known to exist (never deleted)

    def _c(self, name: str) -> DocumentCollection:
        return self._documents.collection(name)

    async def ensure_indexes(self) -> None:
        await self._c(DISPATCHES).ensure_indexes([IndexSpec((("run_id", 1),))])

    # -- runs: accepted, admitted ------------------------------------------------------------

    async def accept(self, run_id: str) -> None:
        """Record that the run's ``RunRequested`` checked out: only accepted runs are admitted."""
        await self._c(RUNS).find_one_and_update(
            {"_id": run_id, "status": "queued", "accepted_at": None},
            {"$set": {"accepted_at": utcnow()}},
        )

    async def admit(self, run_id: str) -> bool:
        """Give the queued run its slots (or renew a stale admission); ``False`` if it is no
        longer queued."""
        doc = await self._c(RUNS).find_one_and_update(
            {"_id": run_id, "status": "queued"}, {"$set": {"admitted_at": utcnow()}}
        )
        return doc is not None

    async def active_runs(self, tenant: str | None = None) -> list[Document]:
        """Active runs (raw documents: ``accepted_at`` and ``admitted_at`` are not part of the
        run model), oldest request first."""
        where: dict[str, Any] = {"status": {"$in": list(ACTIVE)}}
        if tenant is not None:
            where["tenant"] = tenant
        return [d async for d in self._c(RUNS).find(where, sort=[("requested_at", 1), ("_id", 1)])]

    # -- the per-tenant dispatch lock -----------------------------------------------------------

    async def acquire(self, tenant: str, holder: str, lease: timedelta) -> bool:
        """Take the tenant's dispatch lock (free, or held longer than ``lease`` by a holder that
        must have died)."""
        locks = self._c(LOCKS)
        if tenant not in self._known_locks:
            with contextlib.suppress(ConflictError):
                await locks.insert({"_id": tenant, "holder": None, "until": None, "again": False})
            self._known_locks.add(tenant)
        now = utcnow()
        doc = await locks.find_one_and_update(
            {"_id": tenant, "$or": [{"until": None}, {"until": {"$lt": now}}]},
            {"$set": {"holder": holder, "until": now + lease, "again": False}},
        )
        return doc is not None

    async def request_again(self, tenant: str) -> bool:
        """Ask the lock's current holder for one more pass; ``False`` if nobody holds it."""
        doc = await self._c(LOCKS).find_one_and_update(
            {"_id": tenant, "until": {"$gte": utcnow()}}, {"$set": {"again": True}}
        )
        return doc is not None

    async def release(self, tenant: str, holder: str, lease: timedelta) -> bool:
        """Release the lock unless another pass was asked for: then it is kept (renewed) for
        that pass and ``False`` is returned. A holder that lost the lock gets ``True``."""
        locks = self._c(LOCKS)
        released = await locks.find_one_and_update(
            {"_id": tenant, "holder": holder, "again": False},
            {"$set": {"holder": None, "until": None}},
        )
        if released is not None:
            return True
        kept = await locks.find_one_and_update(
            {"_id": tenant, "holder": holder},
            {"$set": {"again": False, "until": utcnow() + lease}},
        )
        return kept is None

    async def abandon(self, tenant: str, holder: str) -> None:
        """Release after a failed pass (the next pass starts from the stored state)."""
        await self._c(LOCKS).find_one_and_update(
            {"_id": tenant, "holder": holder}, {"$set": {"holder": None, "until": None}}
        )

    # -- partition dispatches ---------------------------------------------------------------

    async def dispatches(self, run_ids: Sequence[str]) -> list[Document]:
        if not run_ids:
            return []
        return [d async for d in self._c(DISPATCHES).find({"run_id": {"$in": list(run_ids)}})]

    async def done_partitions(self, run_ids: Sequence[str]) -> set[tuple[str, int]]:
        """``(run, partition)`` of every partition its exporter recorded done."""
        if not run_ids:
            return set()
        found = self._c(PARTITIONS).find({"run_id": {"$in": list(run_ids)}, "done": True})
        return {(d["run_id"], int(d["partition"])) async for d in found}

    async def add_dispatch(self, run_id: str, tenant: str, partition: int, message_id: str) -> bool:
        """Record (insert-once) that the partition is being published; ``False`` if it was."""
        try:
            await self._c(DISPATCHES).insert(self._new(run_id, tenant, partition, message_id))
        except ConflictError:
            return False
        return True

    @staticmethod
    def _new(run_id: str, tenant: str, partition: int, message_id: str) -> Document:
        return {
            "_id": dispatch_id(run_id, partition),
            "run_id": run_id,
            "tenant": tenant,
            "partition": partition,
            "message_id": message_id,
            "dispatched_at": utcnow(),
            "claimed_by": None,
            "claimed_at": None,
            "claims": 0,
            "finished": False,
        }

    async def claim(
        self, run_id: str, tenant: str, partition: int, message_id: str, lease: timedelta
    ) -> ClaimResult:
        """Claim the partition for the delivery of message ``message_id``: unclaimed, already
        this message's (RabbitMQ redelivered it after a crash: resume), or its claim older than
        ``lease`` (the holder died or its message is lost)."""
        doc_id = dispatch_id(run_id, partition)
        dispatches = self._c(DISPATCHES)
        for _ in range(2):
            now = utcnow()
            doc = await dispatches.find_one_and_update(
                {
                    "_id": doc_id,
                    "finished": False,
                    "$or": [
                        {"claimed_by": None},
                        {"claimed_by": message_id},
                        {"claimed_at": {"$lt": now - lease}},
                    ],
                },
                {"$set": {"claimed_by": message_id, "claimed_at": now}, "$inc": {"claims": 1}},
            )
            if doc is not None:
                return "claimed"
            current = await dispatches.find_one({"_id": doc_id})
            if current is not None:
                return "finished" if current["finished"] else "busy"
            # Published by no dispatcher (an older exporter, or by hand): record it, then claim.
            with contextlib.suppress(ConflictError):
                await dispatches.insert(self._new(run_id, tenant, partition, message_id))
        return "busy"

    async def renew(self, run_id: str, partition: int, message_id: str) -> bool:
        """Keep the claim live while exporting; ``False`` if another delivery took it over."""
        doc = await self._c(DISPATCHES).find_one_and_update(
            {"_id": dispatch_id(run_id, partition), "claimed_by": message_id},
            {"$set": {"claimed_at": utcnow()}},
        )
        return doc is not None

    async def finish(self, run_id: str, partition: int) -> None:
        await self._c(DISPATCHES).find_one_and_update(
            {"_id": dispatch_id(run_id, partition)}, {"$set": {"finished": True}}
        )

    async def unclaimed(self, run_ids: Sequence[str], before: datetime) -> list[Document]:
        """Dispatches of these runs published before ``before`` and never delivered."""
        if not run_ids:
            return []
        found = self._c(DISPATCHES).find(
            {"run_id": {"$in": list(run_ids)}, "claimed_by": None, "dispatched_at": {"$lt": before}}
        )
        return [d async for d in found]

    async def redispatched(self, doc_id: str, message_id: str) -> bool:
        """Record a republish of a still unclaimed dispatch (``False``: claimed meanwhile)."""
        doc = await self._c(DISPATCHES).find_one_and_update(
            {"_id": doc_id, "claimed_by": None},
            {"$set": {"message_id": message_id, "dispatched_at": utcnow()}},
        )
        return doc is not None

    # -- what users see -----------------------------------------------------------------------

    async def queue_positions(self, tenant: str) -> dict[str, int]:
        """Run id → place in the tenant's queue (1 = the next to start when a slot frees) of
        every run waiting for its turn (queued, not admitted). One query, whatever the page."""
        found = self._c(RUNS).find(
            {"tenant": tenant, "status": "queued", "deleted_at": None},
            sort=[("requested_at", 1), ("_id", 1)],
        )
        waiting = [d["_id"] async for d in found if d.get("admitted_at") is None]
        return {run_id: place for place, run_id in enumerate(waiting, start=1)}
