"""Identity on the real MongoDB-wire server: a throwaway database per test module, and builders
of tenants and users with random names (so tests never collide, even on a shared server)."""

from __future__ import annotations

import random
import uuid

import pytest

from cdds_shared.adapters.mongo import MongoDocumentStore
from cdds_shared.audit import AuditLog
from cdds_shared.identity import IdentityStore, Tenant, User

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
async def identity(documents: MongoDocumentStore) -> IdentityStore:
    store = IdentityStore(documents)
    await store.ensure_indexes()
    return store


@pytest.fixture(scope="module")
async def audit(documents: MongoDocumentStore) -> AuditLog:
    log = AuditLog(documents)
    await log.ensure_indexes()
    return log


def new_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def new_tenant(identity: IdentityStore) -> Tenant:
    return await identity.create_tenant(new_name("t"), random.randrange(1, 2**31))


@pytest.fixture
async def tenant(identity: IdentityStore) -> Tenant:
    return await new_tenant(identity)


async def new_user(
    identity: IdentityStore,
    tenant: Tenant,
    username: str | None = None,
    roles: tuple[str, ...] = ("exporter",),
    password: str = PASSWORD,
) -> User:
    return await identity.create_user(username or new_name("u"), tenant.name, roles, password)
