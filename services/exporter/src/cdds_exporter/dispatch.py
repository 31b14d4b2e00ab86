"""Fair share (docs/pipeline.md, "Fair share"): which queued run starts, which pending
partition is published next.

A run starts (is *admitted*) only while its owner has fewer than ``max_runs_per_user`` and its
tenant fewer than ``max_runs_per_tenant`` runs admitted or running; the others stay ``queued``,
oldest first. A running run's partitions are published as ``ExportPartition`` only while its
tenant has fewer than ``partitions_per_tenant`` in flight (published, not finished), oldest run
first. The exporter work queue is first in, first out, so with every tenant's share in flight
bounded by the exporters' concurrency, another tenant's partition waits behind about one
partition, whatever backlog the first tenant has.

One *pass* decides for one tenant, under the tenant's dispatch lock (``DispatchStore``), so the
counts it reads cannot change under it. A pass is woken by a ``RunRequested``, by a partition
finishing, and every ``dispatch_interval_seconds`` by each exporter (``watchdog.py``), which also
republishes a dispatch that a crashed dispatcher recorded but never published. Planning (UCS
queries) happens outside the lock.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from cdds_exporter.deps import ExporterDeps
from cdds_shared.logging import get_logger
from cdds_shared.messaging.messages import ExportPartition
from cdds_shared.ports.documents import Document
from cdds_shared.runs import Run, utcnow
from cdds_shared.telemetry import within

__all__ = [
    "ADMISSION_LEASE",
    "CLAIM_LEASE",
    "DISPATCH_LEASE",
    "LOCK_LEASE",
    "Start",
    "dispatch_all",
    "republish_lost",
    "waiting_for_turn",
    "wake",
]

log = get_logger("cdds.exporter.dispatch")
Start = Callable[[Run, ExporterDeps], Awaitable[None]]
"""Plans an admitted run and sets it running (``planning.start_run``)."""
HOLDER = uuid.uuid4().hex
"""This process, as holder of dispatch locks."""
LOCK_LEASE = timedelta(seconds=30)
"""A pass takes milliseconds; a lock older than this belongs to a dispatcher that died."""
ADMISSION_LEASE = timedelta(seconds=60)
"""An admitted run still unplanned after this is handed out for planning again."""
CLAIM_LEASE = timedelta(seconds=120)
"""A partition's claim not renewed for this long may be taken over by another delivery."""
DISPATCH_LEASE = timedelta(seconds=120)
"""A dispatch never claimed after this is published again (its publish may have been lost)."""
MAX_ROUNDS = 8


async def wake(deps: ExporterDeps, tenant: str, start: Start) -> None:
    """Run the tenant's dispatch: admit and plan what may start, publish what may go. If another
    exporter is dispatching the tenant right now, it is asked for one more pass instead."""
    for _ in range(MAX_ROUNDS):
        admitted = await _locked_pass(deps, tenant)
        if not admitted:
            return
        for run in admitted:
            with within(run.trace_context):  # in the run's trace, whoever woke the dispatch
                await start(run, deps)  # then loop: the next pass publishes its partitions


async def dispatch_all(deps: ExporterDeps, start: Start) -> None:
    """A pass for every tenant with active runs (the periodic backstop)."""
    tenants = {d["tenant"] for d in await deps.dispatch.active_runs()}
    for tenant in sorted(tenants):
        await wake(deps, tenant, start)


async def _locked_pass(deps: ExporterDeps, tenant: str) -> list[Run]:
    store = deps.dispatch
    if not await store.acquire(tenant, HOLDER, LOCK_LEASE):
        if await store.request_again(tenant):
            return []  # the holder passes again, and sees what changed
        if not await store.acquire(tenant, HOLDER, LOCK_LEASE):
            return []  # taken again meanwhile; the periodic pass makes up for a lost wake-up
    admitted: dict[str, Run] = {}
    try:
        for _ in range(MAX_ROUNDS):
            admitted |= {r.id: r for r in await _pass(deps, tenant)}
            if await store.release(tenant, HOLDER, LOCK_LEASE):
                break
    except BaseException:
        await store.abandon(tenant, HOLDER)
        raise
    return list(admitted.values())


async def _pass(deps: ExporterDeps, tenant: str) -> list[Run]:
    docs = await deps.dispatch.active_runs(tenant)
    admitted = await _admit(deps, docs)
    running = [Run.model_validate(d) for d in docs if d["status"] == "running"]
    await _publish_partitions(deps, tenant, [r for r in running if r.plan is not None])
    return admitted


async def _admit(deps: ExporterDeps, docs: list[Document]) -> list[Run]:
    """Queued, accepted runs that may start now (and admitted ones whose planner vanished)."""
    limits = deps.export
    holding = [d for d in docs if d["status"] == "running" or d.get("admitted_at") is not None]
    per_owner = Counter(d["owner"] for d in holding)
    total = len(holding)
    stale = utcnow() - ADMISSION_LEASE
    chosen: list[Run] = []
    for d in docs:
        if d["status"] != "queued" or d.get("accepted_at") is None:
            continue
        admitted_at = d.get("admitted_at")
        if admitted_at is None:
            if per_owner[d["owner"]] >= limits.max_runs_per_user:
                continue
            if total >= limits.max_runs_per_tenant:
                continue
            per_owner[d["owner"]] += 1
            total += 1
        elif admitted_at >= stale:
            continue  # its planner is at work
        if await deps.dispatch.admit(d["_id"]):
            chosen.append(Run.model_validate(d))
            log.info("run admitted", run_id=d["_id"], owner=d["owner"], tenant=d["tenant"])
    return chosen


async def _publish_partitions(deps: ExporterDeps, tenant: str, running: list[Run]) -> None:
    ids = [r.id for r in running]
    dispatched = {
        (d["run_id"], int(d["partition"])): d for d in await deps.dispatch.dispatches(ids)
    }
    done = await deps.dispatch.done_partitions(ids)
    in_flight = sum(1 for key, d in dispatched.items() if not d["finished"] and key not in done)
    free = deps.export.partitions_per_tenant - in_flight
    for run in running:  # oldest request first
        assert run.plan is not None
        for index in range(len(run.plan.partitions)):
            if free <= 0:
                return
            if (run.id, index) in dispatched:
                continue
            message = ExportPartition(correlation_id=run.id, run_id=run.id, partition=index)
            # Recorded before it is published: a crash in between leaves a dispatch nobody
            # claims, which ``republish_lost`` publishes again.
            if await deps.dispatch.add_dispatch(run.id, tenant, index, str(message.message_id)):
                with within(run.trace_context):  # whichever run's message woke the dispatch
                    await deps.publish(message)
            free -= 1


async def republish_lost(deps: ExporterDeps) -> list[str]:
    """Publish again every dispatch of a running run that nobody claimed within
    ``DISPATCH_LEASE`` (its publisher died before publishing). A copy that was only slow to be
    delivered costs nothing: the second delivery finds the partition claimed."""
    running = [d["_id"] for d in await deps.dispatch.active_runs() if d["status"] == "running"]
    republished = []
    for doc in await deps.dispatch.unclaimed(running, utcnow() - DISPATCH_LEASE):
        message = ExportPartition(
            correlation_id=doc["run_id"], run_id=doc["run_id"], partition=doc["partition"]
        )
        if await deps.dispatch.redispatched(doc["_id"], str(message.message_id)):
            await deps.publish(message)
            republished.append(doc["_id"])
            log.warning("lost dispatch published again", run_id=doc["run_id"], dispatch=doc["_id"])
    return republished


def waiting_for_turn(docs: list[dict[str, Any]]) -> set[str]:
    """Queued runs not admitted while another run of their tenant holds a slot: they wait for
    their fair turn, so the stall watchdog leaves them alone (the runs they wait for are
    watched themselves, and free their slot when they end, however they end)."""
    holding = {
        d["tenant"] for d in docs if d["status"] == "running" or d.get("admitted_at") is not None
    }
    return {
        d["_id"]
        for d in docs
        if d["status"] == "queued" and d.get("admitted_at") is None and d["tenant"] in holding
    }
