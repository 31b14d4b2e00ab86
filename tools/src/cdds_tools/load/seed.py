"""The data a load lists: a dedicated tenant and exporter (made as ``cdds-admin`` makes them) with
runs and their sealed files, written through ``RunStore`` as a fixture would.

Only documents are written (no export runs, no objects in MinIO): the listings and run details
read nothing else. Each call rewrites the same deterministic ids, so a rerun lists fresh files
(not expired) and the same number of runs.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from datetime import timedelta

from cdds_shared.errors import ConflictError
from cdds_shared.identity import IdentityStore, Tenant, User
from cdds_shared.ports.documents import DocumentStore
from cdds_shared.runs.model import (
    Artifact,
    MemberCount,
    PartitionPlan,
    Plan,
    Run,
    RunStatus,
    artifact_id,
    entity_type,
    member_names,
    utcnow,
)
from cdds_shared.runs.store import ARTIFACTS, PARTITIONS, RUNS, RunStore

__all__ = ["LoadAccount", "seed_account"]

RECORDS_PER_PART = 5_000
PART_BYTES = 4 << 20
SEAL = "cms-authenveloped-aes256gcm-rsaoaep-sha256"
CONCURRENT_WRITES = 8


@dataclass(frozen=True)
class LoadAccount:
    """Who the load signs in as, and the runs it may ask for."""

    tenant: Tenant
    user: User
    password: str
    run_ids: tuple[str, ...]


async def _identity(
    identity: IdentityStore, tenant: str, ucs_tenant_id: int, username: str, password: str
) -> tuple[Tenant, User]:
    found = await identity.find_tenant(tenant)
    if found is None:
        try:
            found = await identity.create_tenant(tenant, ucs_tenant_id)
        except ConflictError:  # another load made it meanwhile
            found = await identity.get_tenant(tenant)
    user = await identity.find_user(username, tenant)
    if user is None:
        user = await identity.create_user(username, tenant, ("exporter",), password)
    else:
        # Reused: the known password, unlocked, exporter again (someone may have changed it).
        await identity.set_roles(user.id, ("exporter",))
        user = await identity.set_password(user.id, password)
    return found, user


def _status(index: int) -> RunStatus:
    """Mostly completed runs, with some still running and some failed, as a History has."""
    special: dict[int, RunStatus] = {0: "running", 7: "failed"}
    return special.get(index % 10, "completed")


def _run(tenant: Tenant, user: User, index: int, parts: int) -> Run:
    now = utcnow()
    requested = now - timedelta(minutes=10 * index + 5)
    status = _status(index)
    return Run(
        id=f"{tenant.name}-run-{index:04d}",
        tenant=tenant.name,
        ucs_tenant_id=tenant.ucs_tenant_id,
        owner=user.id,
        record_type="interaction",
        split_size_bytes=PART_BYTES,
        status=status,
        requested_at=requested,
        started_at=requested + timedelta(seconds=2),
        finished_at=None if status == "running" else requested + timedelta(seconds=40),
        error="UCS database unreachable (CDDS_UCS__DSN)" if status == "failed" else None,
        plan=Plan(
            planned_at=requested + timedelta(seconds=2),
            estimate=RECORDS_PER_PART * parts,
            end=requested,
            partitions=[PartitionPlan(after_id=None, until_id=None)],
            compression_level=6,
            zip_limit=PART_BYTES - 4096,
        ),
    )


def _artifact(run: Run, part: int, parts: int) -> Artifact:
    created = (run.started_at or run.requested_at) + timedelta(seconds=10 * (part + 1))
    names = member_names(run.record_type, run.id)
    size = PART_BYTES - 1000 * part
    return Artifact(
        id=artifact_id(run.id, 0, part),
        run_id=run.id,
        tenant=run.tenant,
        owner=run.owner,
        record_type=run.record_type,
        partition=0,
        part=part,
        last_in_partition=part == parts - 1,
        name=f"{entity_type(run.record_type)}-{run.id}-000-{part:03d}.zip.p7m",
        object_key=f"artifacts/{run.tenant}/{run.id}/000-{part:03d}.p7m",
        size=size,
        sha256=hashlib.sha256(f"{run.id}/{part}".encode()).hexdigest(),
        members=[
            MemberCount(name=n, records=RECORDS_PER_PART // (i + 1)) for i, n in enumerate(names)
        ],
        seal=SEAL,
        certificate_sha256=hashlib.sha256(run.owner.encode()).hexdigest(),
        created_at=created,
        expires_at=created + timedelta(days=30),
    )


async def _bounded(works: Iterable[Awaitable[object]]) -> None:
    gate = asyncio.Semaphore(CONCURRENT_WRITES)

    async def one(work: Awaitable[object]) -> None:
        async with gate:
            await work

    await asyncio.gather(*(one(w) for w in works))


async def seed_account(
    documents: DocumentStore,
    *,
    tenant: str = "load",
    ucs_tenant_id: int = 9002,
    username: str = "load",
    password: str,
    runs: int = 60,
    artifacts: int = 3,
) -> LoadAccount:
    """Make (or reuse) the tenant and its exporter, then write ``runs`` runs of that user with
    ``artifacts`` files each (the previous ones of the same ids are replaced)."""
    identity = IdentityStore(documents)
    await identity.ensure_indexes()
    store = RunStore(documents)
    await store.ensure_indexes()
    found, user = await _identity(identity, tenant, ucs_tenant_id, username, password)
    made = [_run(found, user, i, artifacts) for i in range(runs)]
    ids = [r.id for r in made]
    # Only this tenant's documents of these ids: nothing else is touched.
    await documents.collection(ARTIFACTS).delete({"tenant": found.name, "run_id": {"$in": ids}})
    await documents.collection(PARTITIONS).delete({"run_id": {"$in": ids}})
    await documents.collection(RUNS).delete({"tenant": found.name, "_id": {"$in": ids}})
    await _bounded(store.insert(r) for r in made)
    await _bounded(
        store.add_artifact(_artifact(r, part, artifacts)) for r in made for part in range(artifacts)
    )
    await _bounded(
        store.record_partition_progress(
            r.id, 0, records=RECORDS_PER_PART * artifacts, done=r.status != "running",
            parts=artifacts,
        )
        for r in made
    )  # fmt: skip
    return LoadAccount(found, user, password, tuple(ids))
