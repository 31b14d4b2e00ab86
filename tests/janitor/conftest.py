"""The retention use cases on the real servers: a throwaway MongoDB database (FerretDB locally)
and MinIO bucket per module; artifacts with real objects, due or not, built with random ids."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from pydantic import SecretStr

from cdds_shared.adapters.minio_store import MinioObjectStore
from cdds_shared.adapters.mongo import MongoDocumentStore
from cdds_shared.audit import AuditLog
from cdds_shared.messaging.messages import Message
from cdds_shared.retention import RetentionPorts
from cdds_shared.runs import Artifact, MemberCount, Run, RunStore, artifact_id, utcnow
from cdds_shared.settings import MinioSettings, MongoSettings
from tests.infra import StackInfo


def mongo_settings(stack: StackInfo, database: str) -> MongoSettings:
    return MongoSettings(url=SecretStr(stack.mongo_url), database=database)


def minio_settings(stack: StackInfo, bucket: str, endpoint: str | None = None) -> MinioSettings:
    return MinioSettings(
        endpoint=endpoint or stack.minio_endpoint,
        access_key=stack.minio_access_key,
        secret_key=SecretStr(stack.minio_secret_key),
        bucket=bucket,
    )


@pytest.fixture(scope="module")
def database() -> str:
    return f"cdds_test_janitor_{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def bucket() -> str:
    return f"cdds-test-janitor-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
async def documents(stack: StackInfo, database: str) -> AsyncIterator[MongoDocumentStore]:
    async with MongoDocumentStore(mongo_settings(stack, database)) as store:
        await store.ping()
        try:
            yield store
        finally:
            await store.drop_database()


@pytest.fixture(scope="module")
async def objects(stack: StackInfo, bucket: str) -> AsyncIterator[MinioObjectStore]:
    store = MinioObjectStore(minio_settings(stack, bucket))
    try:
        await store.ensure_bucket()
        yield store
        await store.remove_bucket()
    finally:
        await store.close()


@dataclass
class Published:
    messages: list[Message] = field(default_factory=list)

    async def __call__(self, message: Message) -> None:
        self.messages.append(message)


@pytest.fixture
def published() -> Published:
    return Published()


@pytest.fixture(scope="module")
async def runs(documents: MongoDocumentStore) -> RunStore:
    store = RunStore(documents)
    await store.ensure_indexes()
    return store


@pytest.fixture(scope="module")
async def audit(documents: MongoDocumentStore) -> AuditLog:
    log = AuditLog(documents)
    await log.ensure_indexes()
    return log


@pytest.fixture
def ports(
    runs: RunStore, objects: MinioObjectStore, audit: AuditLog, published: Published
) -> RetentionPorts:
    return RetentionPorts(runs=runs, objects=objects, audit=audit, publish=published)


@pytest.fixture
async def replicas(
    stack: StackInfo, database: str, bucket: str, published: Published
) -> AsyncIterator[list[RetentionPorts]]:
    """Three janitors' ports, each with clients of its own (as separate processes have)."""
    made, stores = [], []
    for _ in range(3):
        documents = MongoDocumentStore(mongo_settings(stack, database))
        await documents.connect()
        stores.append(documents)
        made.append(
            RetentionPorts(
                runs=RunStore(documents),
                objects=MinioObjectStore(minio_settings(stack, bucket)),
                audit=AuditLog(documents),
                publish=published,
            )
        )
    try:
        yield made
    finally:
        for ports, documents in zip(made, stores, strict=True):
            await ports.objects.close()
            await documents.close()


async def new_run(runs: RunStore) -> Run:
    run = Run(
        id=uuid.uuid4().hex[:24],
        tenant="acme",
        ucs_tenant_id=4242,
        owner="alice",
        record_type="interaction",
        split_size_bytes=1 << 30,
        requested_at=utcnow(),
    )
    await runs.insert(run)
    return run


async def stored_artifact(
    runs: RunStore,
    objects: MinioObjectStore,
    run: Run | None = None,
    *,
    part: int = 0,
    expires_in: timedelta = timedelta(seconds=-1),
    record: bool = True,
) -> Artifact:
    """An artifact whose object is in the bucket, expiring ``expires_in`` from now (due by
    default); recorded in the store unless ``record`` is false."""
    run = run or await new_run(runs)
    aid = artifact_id(run.id, 0, part)
    key = f"artifacts/{run.tenant}/{run.id}/{aid}-{uuid.uuid4().hex[:8]}.p7m"
    await objects.put_bytes(key, b"sealed bytes")
    now = utcnow()
    artifact = Artifact(
        id=aid,
        run_id=run.id,
        tenant=run.tenant,
        owner=run.owner,
        record_type=run.record_type,
        partition=0,
        part=part,
        last_in_partition=True,
        name=f"Interaction-{run.id}-000-{part:03d}.zip.p7m",
        object_key=key,
        size=12,
        sha256="0" * 64,
        members=[MemberCount(name=f"Interaction-{run.id}.jsonl", records=1)],
        seal="cms-authenveloped-aes256gcm-rsaoaep-sha256",
        certificate_sha256="1" * 64,
        created_at=now,
        expires_at=now + expires_in,
    )
    if record:
        assert await runs.add_artifact(artifact)
    return artifact
