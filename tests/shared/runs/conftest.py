"""The run model on the real servers: a throwaway MongoDB database (FerretDB locally) and MinIO
bucket per test module, and builders of runs, plans and artifacts with random ids."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from cdds_shared.adapters.minio_store import MinioObjectStore
from cdds_shared.adapters.mongo import MongoDocumentStore
from cdds_shared.runs import (
    Artifact,
    MemberCount,
    PartitionPlan,
    Plan,
    Run,
    RunStore,
    artifact_id,
    utcnow,
)
from cdds_shared.runs.model import GATEWAY
from cdds_shared.settings import MinioSettings
from tests.infra import StackInfo


@pytest.fixture(scope="module")
async def runs(documents: MongoDocumentStore) -> RunStore:
    store = RunStore(documents)
    await store.ensure_indexes()
    return store


@pytest.fixture(scope="module")
async def objects(stack: StackInfo) -> AsyncIterator[MinioObjectStore]:
    """A bucket of this module's own on the stack's MinIO, emptied and removed afterwards."""
    store = MinioObjectStore(
        MinioSettings(
            endpoint=stack.minio_endpoint,
            access_key=stack.minio_access_key,
            secret_key=SecretStr(stack.minio_secret_key),
            bucket=f"cdds-test-runs-{uuid.uuid4().hex[:10]}",
        )
    )
    try:
        await store.ensure_bucket()
        yield store
        await store.remove_bucket()
    finally:
        await store.close()


def new_run_id() -> str:
    return uuid.uuid4().hex[:24]


def run_of(run_id: str | None = None, **changes: Any) -> Run:
    """A queued run as the gateway makes it (not stored)."""
    values: dict[str, Any] = {
        "id": run_id or new_run_id(),
        "tenant": "acme",
        "ucs_tenant_id": 4242,
        "owner": "alice",
        "record_type": "interaction",
        "split_size_bytes": 1 << 20,
        "requested_at": utcnow(),
        "created_by": GATEWAY,
        **changes,
    }
    return Run(**values)


async def queued_run(runs: RunStore, **changes: Any) -> Run:
    """A new run, stored ``queued``."""
    run = run_of(**changes)
    await runs.insert(run)
    return run


def plan_of(partitions: int, estimate: int = 1000) -> Plan:
    return Plan(
        planned_at=utcnow(),
        estimate=estimate,
        end=utcnow(),
        partitions=[PartitionPlan(after_id=None, until_id=None) for _ in range(partitions)],
        compression_level=6,
        zip_limit=1 << 20,
    )


async def running_run(runs: RunStore, partitions: int = 2, estimate: int = 1000) -> Run:
    """A new run, planned and started, as the exporter leaves it before the first part."""
    run = await queued_run(runs)
    started = await runs.transition(
        run.id, ("queued",), "running", started_at=utcnow(), plan=plan_of(partitions, estimate)
    )
    assert started is not None
    return started


def artifact_of(
    run: Run,
    partition: int,
    part: int,
    *,
    last: bool = False,
    records: tuple[int, ...] = (10, 3),
    size: int = 1000,
) -> Artifact:
    created = utcnow()
    names = (f"Interaction-{run.id}.jsonl", f"Interaction-Attachment-{run.id}.jsonl")
    return Artifact(
        id=artifact_id(run.id, partition, part),
        run_id=run.id,
        tenant=run.tenant,
        owner=run.owner,
        record_type=run.record_type,
        partition=partition,
        part=part,
        last_in_partition=last,
        name=f"Interaction-{run.id}-{partition:03d}-{part:03d}.zip.p7m",
        object_key=f"artifacts/{run.tenant}/{run.id}/{partition}-{part}.p7m",
        size=size,
        sha256="0" * 64,
        members=[MemberCount(name=n, records=r) for n, r in zip(names, records, strict=False)],
        seal="cms-authenveloped-aes256gcm-rsaoaep-sha256",
        certificate_sha256="1" * 64,
        created_at=created,
        expires_at=created + timedelta(days=7),
    )
