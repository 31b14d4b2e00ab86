"""One private pipeline per test module (see ``pipeline.py``)."""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from cdds_shared.settings import Settings
from cdds_shared.ucs.migrate import migrate
from cdds_shared.ucs.seed import seed
from cdds_tools.identity import make_identity
from tests.e2e.pipeline import Pipeline
from tests.infra import StackInfo
from tests.infra.isolation import create_database, drop_database, temporary_vhost

INTERACTIONS, CONTACTS = 3000, 400
# Small partitions and a tight stall timeout so every test exercises fan-out and the watchdog.
WORKER_ENV = {
    "CDDS_EXPORT__PARTITION_RECORDS": "1100",
    "CDDS_EXPORT__WATCHDOG_INTERVAL_SECONDS": "1",
    "CDDS_EXPORT__STALL_TIMEOUT_SECONDS": "60",
    "CDDS_RABBIT__DELIVERY_LIMIT": "10",
}


@pytest.fixture(scope="module")
def vhost(stack: StackInfo) -> Iterator[str]:
    with temporary_vhost(stack, production=True) as url:  # the services' user, as deployed
        yield url


@pytest.fixture(scope="module")
def ucs_tenants(stack: StackInfo, request: pytest.FixtureRequest) -> Iterator[tuple[str, int, int]]:
    """A UCS database with the module's tenant (``INTERACTIONS`` / ``CONTACTS`` of the test
    module, if it sets them) and a small second tenant whose rows must never leak."""
    interactions = getattr(request.module, "INTERACTIONS", INTERACTIONS)
    contacts = getattr(request.module, "CONTACTS", CONTACTS)
    name = f"ucs_e2e_{uuid.uuid4().hex[:10]}"
    dsn = create_database(stack.ucs_dsn, name)
    try:
        migrate(dsn)
        tenant, other = random.sample(range(10_000, 99_999), 2)
        seed(dsn, tenant, contacts, interactions, seed=7)
        seed(dsn, other, 50, 300, seed=8)
        yield dsn, tenant, other
    finally:
        drop_database(stack.ucs_dsn, name)


@pytest.fixture(scope="module")
async def pipeline(
    request: pytest.FixtureRequest,
    stack: StackInfo,
    vhost: str,
    ucs_tenants: tuple[str, int, int],
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Pipeline]:
    dsn, tenant, other = ucs_tenants
    suffix = uuid.uuid4().hex[:10]
    workdir = tmp_path_factory.mktemp("pipeline")
    overrides = {
        "CDDS_ENVIRONMENT": "test",
        "CDDS_RABBIT__URL": vhost,
        "CDDS_MONGO__DATABASE": f"cdds_e2e_{suffix}",
        "CDDS_MINIO__BUCKET": f"cdds-e2e-{suffix}",
        "CDDS_UCS__DSN": dsn,
        "CDDS_STARTUP_TIMEOUT_SECONDS": "10",
        **WORKER_ENV,
        **getattr(request.module, "WORKER_ENV", {}),
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDDS_")}
    env.update(stack.env())
    env.update(overrides)
    settings = Settings(
        environment="test",
        rabbit={"url": vhost},
        mongo={"url": stack.mongo_url, "database": overrides["CDDS_MONGO__DATABASE"]},
        minio={
            "endpoint": stack.minio_endpoint,
            "access_key": stack.minio_access_key,
            "secret_key": stack.minio_secret_key,
            "bucket": overrides["CDDS_MINIO__BUCKET"],
        },
        ucs={"dsn": dsn},
    )  # type: ignore[arg-type]
    cert, key_path, _ = make_identity(Path(workdir))
    p = Pipeline(
        stack=stack,
        settings=settings,
        env=env,
        workdir=Path(workdir),
        ucs_dsn=dsn,
        tenant_id=tenant,
        other_tenant_id=other,
        key_path=key_path,
        cert=cert,
    )
    await p.open()
    try:
        yield p
    finally:
        await p.close()
