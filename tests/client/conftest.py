"""The module's own stack for the ``cdds`` client's integration tests (``stack.py``)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from pydantic import SecretStr

from cdds_shared.settings import MinioSettings, MongoSettings
from cdds_shared.ucs.migrate import migrate
from cdds_shared.ucs.seed import seed
from cdds_tools.workers import WorkerProcess
from tests.client.stack import Stack, ucs_tenant_ids
from tests.infra import StackInfo
from tests.infra.isolation import create_database, drop_database, temporary_vhost


@pytest.fixture(scope="module")
def ucs(stack: StackInfo, request: pytest.FixtureRequest) -> Iterator[tuple[str, int]]:
    """A UCS database: the module's tenant (its ``INTERACTIONS``/``CONTACTS``) and another
    tenant whose rows must never appear."""
    name = f"ucs_cli_{uuid.uuid4().hex[:10]}"
    dsn = create_database(stack.ucs_dsn, name)
    try:
        migrate(dsn)
        tenant, other = ucs_tenant_ids()
        seed(dsn, tenant, request.module.CONTACTS, request.module.INTERACTIONS, seed=31)
        seed(dsn, other, 20, 60, seed=32)
        yield dsn, tenant
    finally:
        drop_database(stack.ucs_dsn, name)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
async def services(
    stack: StackInfo,
    ucs: tuple[str, int],
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> AsyncIterator[Stack]:
    """Gateway, exporter and encryptor processes on this module's corners of the servers; the
    tenant made with ``cdds-admin``."""
    suffix = uuid.uuid4().hex[:10]
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    mongo = MongoSettings(url=SecretStr(stack.mongo_url), database=f"cdds_test_cli_{suffix}")
    minio = MinioSettings(
        endpoint=stack.minio_endpoint,
        access_key=stack.minio_access_key,
        secret_key=SecretStr(stack.minio_secret_key),
        bucket=f"cdds-test-cli-{suffix}",
    )
    logs = tmp_path_factory.mktemp("services")
    with temporary_vhost(stack, production=True) as vhost:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CDDS_")}
        env |= stack.env() | {
            "CDDS_ENVIRONMENT": "test",
            "CDDS_RABBIT__URL": vhost,
            "CDDS_MONGO__DATABASE": mongo.database,
            "CDDS_MINIO__BUCKET": minio.bucket,
            "CDDS_UCS__DSN": ucs[0],
            "CDDS_GATEWAY__URL": url,
            "CDDS_STARTUP_TIMEOUT_SECONDS": "10",
            **request.module.WORKER_ENV,
        }
        services = Stack(url, env, vhost, ucs[0], ucs[1], f"acme-{suffix[:6]}", mongo, minio)
        services.admin("tenant", "create", services.tenant, "--ucs-tenant-id", str(ucs[1]))
        processes = [WorkerProcess("gateway", env, logs / "gateway.log", port=port)]
        processes += [WorkerProcess(s, env, logs / f"{s}.log") for s in ("exporter", "encryptor")]
        try:
            for process in processes:
                await asyncio.to_thread(process.start)
            yield services
        finally:
            for process in processes:
                await asyncio.to_thread(process.stop)
            objects = services.objects()
            with contextlib.suppress(Exception):  # the bucket exists only if the gateway started
                async for info in objects.list(""):
                    await objects.delete(info.key)
                await objects.remove_bucket()
            await objects.close()
            async with services.documents() as documents:
                await documents.drop_database()
