"""Fixtures of the jobs / runs / artifacts / audit tests: a gateway on its own RabbitMQ virtual
host (its ``RunRequested`` land in a private queue the tests read, never in the running
services' queue), a small world of users in two tenants, and builders of runs and artifacts
written straight into MongoDB and MinIO (fast: no pipeline needed).

A test module imports the fixtures it uses by name (``world``, ``jobs_gateway``, ``jobs_vhost``).
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aio_pika
import httpx
import pytest
from pydantic import SecretStr

from cdds_gateway.app import create_app
from cdds_shared.adapters.minio_store import MinioObjectStore
from cdds_shared.adapters.mongo import MongoDocumentStore
from cdds_shared.certificates import CertificateRecord
from cdds_shared.messaging.messages import RunRequested
from cdds_shared.messaging.topology import WORK_QUEUES
from cdds_shared.runs import (
    Artifact,
    MemberCount,
    PartitionPlan,
    Plan,
    Run,
    RunStatus,
    artifact_id,
    utcnow,
)
from tests.gateway.conftest import (
    Gateway,
    SignedInUser,
    gateway_settings,
    new_tenant,
    new_user,
    rsa_certificate,
    sign_in,
)
from tests.infra import StackInfo
from tests.infra.isolation import rabbit_management, temporary_vhost

__all__ = [
    "World",
    "delete_vhost",
    "jobs_gateway",
    "make_artifact",
    "make_run",
    "private_gateway",
    "take_requests",
    "world",
]


@asynccontextmanager
async def private_gateway(stack: StackInfo, vhost: str, **gateway: Any) -> AsyncIterator[Gateway]:
    """A gateway whose broker is the virtual host ``vhost``; its scheduler loop waits an hour
    between passes (tests run passes themselves). Database and bucket removed afterwards."""
    options = {"scheduler_interval_seconds": 3600, **gateway}
    settings = gateway_settings(stack, uuid.uuid4().hex[:10], **options)
    settings = settings.model_copy(
        update={"rabbit": settings.rabbit.model_copy(update={"url": SecretStr(vhost)})}
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        running = Gateway(app, settings)
        try:
            yield running
        finally:
            documents, objects = running.deps.documents, running.deps.objects
            assert isinstance(documents, MongoDocumentStore)
            await documents.drop_database()
            if isinstance(objects, MinioObjectStore):
                await objects.remove_bucket()


@dataclass
class World:
    """Tenant A: ``alice`` and ``bob`` (exporters), ``admin`` (exporter + admin); tenant B:
    ``carol``. Everyone but ``bob`` has a usable certificate."""

    gateway: Gateway
    api: httpx.AsyncClient
    vhost: str
    stack: StackInfo
    alice: SignedInUser
    bob: SignedInUser
    admin: SignedInUser
    carol: SignedInUser

    @property
    def deps(self) -> Any:
        return self.gateway.deps


@pytest.fixture(scope="module")
def jobs_vhost(stack: StackInfo) -> Iterator[str]:
    with temporary_vhost(stack) as url:
        yield url


@pytest.fixture(scope="module")
async def jobs_gateway(stack: StackInfo, jobs_vhost: str) -> AsyncIterator[Gateway]:
    async with private_gateway(stack, jobs_vhost) as running:
        yield running


@pytest.fixture(scope="module")
async def world(stack: StackInfo, jobs_gateway: Gateway, jobs_vhost: str) -> AsyncIterator[World]:
    a, b = await new_tenant(jobs_gateway), await new_tenant(jobs_gateway)
    async with jobs_gateway.client() as api:
        users = [
            await sign_in(api, await new_user(jobs_gateway, tenant, roles=roles))
            for tenant, roles in (
                (a, ("exporter",)),
                (a, ("exporter",)),
                (a, ("exporter", "admin")),
                (b, ("exporter",)),
            )
        ]
        cert, _ = rsa_certificate()
        for user in (users[0], users[2], users[3]):
            await jobs_gateway.deps.certificates.put(CertificateRecord.of(user.user.id, cert))
        yield World(jobs_gateway, api, jobs_vhost, stack, *users)


async def take_requests(vhost: str) -> list[RunRequested]:
    """Every ``RunRequested`` waiting in the virtual host's exporter queue (taken off it)."""
    connection = await aio_pika.connect(vhost)
    try:
        channel = await connection.channel()
        queue = await channel.get_queue(WORK_QUEUES["exporter"].name, ensure=False)
        taken = []
        while (message := await queue.get(fail=False, no_ack=True)) is not None:
            taken.append(RunRequested.model_validate(json.loads(message.body)))
        return taken
    finally:
        await connection.close()


def delete_vhost(stack: StackInfo, vhost: str) -> None:
    """Stop a virtual host for good: its connections are closed and publishing fails at once."""
    name = vhost.rsplit("/", 1)[1]
    with rabbit_management(stack) as api:
        api.delete(f"/api/vhosts/{name}").raise_for_status()


async def make_run(
    world: World,
    user: SignedInUser,
    *,
    status: RunStatus = "completed",
    job_id: str | None = None,
    record_type: str = "interaction",
    estimate: int = 100,
    requested_at: datetime | None = None,
    **fields: Any,
) -> Run:
    """A run document of ``user`` as the workers leave it in ``status`` (planned unless queued)."""
    now = requested_at or utcnow()
    planned = status != "queued"
    values: dict[str, Any] = {
        "id": uuid.uuid4().hex[:24],
        "tenant": user.tenant.name,
        "ucs_tenant_id": user.tenant.ucs_tenant_id,
        "owner": user.user.id,
        "record_type": record_type,
        "split_size_bytes": 1 << 20,
        "status": status,
        "requested_at": now,
        "started_at": now if planned else None,
        "finished_at": now if status in ("completed", "no_data", "failed") else None,
        "job_id": job_id,
    }
    if planned:
        values["plan"] = Plan(
            planned_at=now,
            estimate=estimate,
            end=now,
            partitions=[PartitionPlan(after_id=None, until_id=None)],
            compression_level=6,
            zip_limit=1 << 20,
        )
    run = Run(**(values | fields))
    await world.deps.runs.insert(run)
    return run


async def make_artifact(
    world: World,
    run: Run,
    part: int = 0,
    *,
    data: bytes | None = None,
    records: int = 10,
    expires_in: timedelta = timedelta(days=30),
    last: bool = True,
) -> tuple[Artifact, bytes]:
    """A sealed file of ``run`` (random bytes) in MinIO and its artifact document."""
    data = os.urandom(3000 + part) if data is None else data
    key = f"artifacts/{run.tenant}/{run.id}/{part}-{uuid.uuid4().hex[:8]}.p7m"
    await world.deps.objects.put_bytes(key, data)
    created = utcnow()
    kind = "Interaction" if run.record_type == "interaction" else "Contact"
    artifact = Artifact(
        id=artifact_id(run.id, 0, part),
        run_id=run.id,
        tenant=run.tenant,
        owner=run.owner,
        record_type=run.record_type,
        partition=0,
        part=part,
        last_in_partition=last,
        name=f"{kind}-{run.id}-000-{part:03d}.zip.p7m",
        object_key=key,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        members=[MemberCount(name=f"{kind}-{run.id}.jsonl", records=records)],
        seal="cms-authenveloped-aes256gcm-rsaoaep-sha256",
        certificate_sha256="1" * 64,
        created_at=created,
        expires_at=created + expires_in,
    )
    assert await world.deps.runs.add_artifact(artifact)
    return artifact, data
