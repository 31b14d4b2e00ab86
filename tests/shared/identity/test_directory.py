"""Tenants and users: names unique where they must be, argon2id hashes, roles, disabling."""

from __future__ import annotations

import random

import pytest

from cdds_shared.adapters.mongo import MongoDocumentStore
from cdds_shared.errors import ConflictError, NotFoundError, ValidationFailed
from cdds_shared.identity import IdentityStore, Tenant
from cdds_shared.identity.store import USERS
from tests.shared.identity.conftest import PASSWORD, new_name, new_tenant, new_user

pytestmark = pytest.mark.integration


# -- tenants -------------------------------------------------------------------------------------


async def test_create_get_and_list_tenants(identity: IdentityStore) -> None:
    name, ucs_id = new_name("acme"), random.randrange(1, 2**31)

    created = await identity.create_tenant(name, ucs_id)

    assert (created.name, created.ucs_tenant_id) == (name, ucs_id)
    assert await identity.get_tenant(name) == created
    assert created in await identity.list_tenants()


async def test_a_tenant_name_is_taken_once(identity: IdentityStore, tenant: Tenant) -> None:
    with pytest.raises(ConflictError, match=f"tenant '{tenant.name}' already exists"):
        await identity.create_tenant(tenant.name, random.randrange(1, 2**31))


async def test_a_ucs_tenant_belongs_to_one_tenant(identity: IdentityStore, tenant: Tenant) -> None:
    # Two CDDS tenants on one UCS tenant would read each other's contact history.
    with pytest.raises(ConflictError, match=f"already belongs to tenant '{tenant.name}'"):
        await identity.create_tenant(new_name("other"), tenant.ucs_tenant_id)


@pytest.mark.parametrize("name", ["", " acme", "a/b", "-acme", "x" * 65, "a.b$"])
async def test_invalid_tenant_names(identity: IdentityStore, name: str) -> None:
    with pytest.raises(ValidationFailed, match="invalid tenant name"):
        await identity.create_tenant(name, random.randrange(1, 2**31))


async def test_unknown_tenant(identity: IdentityStore) -> None:
    with pytest.raises(NotFoundError, match="unknown tenant 'nope-"):
        await identity.get_tenant(new_name("nope"))


# -- users ---------------------------------------------------------------------------------------


async def test_passwords_are_stored_as_argon2id_hashes(
    identity: IdentityStore, documents: MongoDocumentStore, tenant: Tenant
) -> None:
    user = await new_user(identity, tenant)

    stored = await documents.collection(USERS).get(user.id)

    assert stored["password_hash"].startswith("$argon2id$")
    assert PASSWORD not in str(stored)
    assert (stored["tenant"], stored["username"], stored["roles"]) == (
        tenant.name,
        user.username,
        ["exporter"],
    )
    assert (stored["disabled"], stored["failed_logins"], stored["locked_until"]) == (False, 0, None)
    assert len(user.id) == 32 and PASSWORD not in repr(user)


async def test_a_username_is_unique_within_its_tenant_only(
    identity: IdentityStore, tenant: Tenant
) -> None:
    other = await new_tenant(identity)
    first = await new_user(identity, tenant, "alice")
    second = await new_user(identity, other, "alice")

    with pytest.raises(
        ConflictError, match=f"user 'alice' already exists in tenant '{tenant.name}'"
    ):
        await new_user(identity, tenant, "alice")

    assert first.id != second.id
    named = {u.tenant for u in await identity.users_named("alice")}
    assert {tenant.name, other.name} <= named


async def test_a_user_needs_a_known_tenant(identity: IdentityStore) -> None:
    with pytest.raises(NotFoundError, match="unknown tenant"):
        await identity.create_user("bob", new_name("nope"), ["exporter"], PASSWORD)


@pytest.mark.parametrize(
    ("username", "roles", "password", "message"),
    [
        ("bob", ["exporter"], "", "the password is empty"),
        ("bob", ["superuser"], PASSWORD, "unknown role 'superuser'"),
        ("   ", ["exporter"], PASSWORD, "invalid username"),
        ("bo\nb", ["exporter"], PASSWORD, "invalid username"),
    ],
)
async def test_invalid_users(
    identity: IdentityStore,
    tenant: Tenant,
    username: str,
    roles: list[str],
    password: str,
    message: str,
) -> None:
    with pytest.raises(ValidationFailed, match=message):
        await identity.create_user(username, tenant.name, roles, password)
    assert await identity.list_users(tenant.name) == []


async def test_roles_are_replaced_and_deduplicated(identity: IdentityStore, tenant: Tenant) -> None:
    user = await new_user(identity, tenant, roles=())
    assert user.roles == []

    changed = await identity.set_roles(user.id, ["admin", "exporter", "admin"])

    assert changed.roles == ["admin", "exporter"]
    assert (await identity.get_user(user.id)).roles == ["admin", "exporter"]
    assert (await identity.set_roles(user.id, [])).roles == []


async def test_list_users_of_a_tenant(identity: IdentityStore, tenant: Tenant) -> None:
    names = ["carol", "alice", "bob"]
    for name in names:
        await new_user(identity, tenant, name)
    await new_user(identity, await new_tenant(identity), "dave")

    assert [u.username for u in await identity.list_users(tenant.name)] == sorted(names)


async def test_user_named_says_what_is_unknown(identity: IdentityStore, tenant: Tenant) -> None:
    with pytest.raises(NotFoundError, match=f"unknown user 'zed' in tenant '{tenant.name}'"):
        await identity.user_named("zed", tenant.name)
    with pytest.raises(NotFoundError, match="unknown tenant"):
        await identity.user_named("zed", new_name("nope"))


async def test_changing_an_unknown_user(identity: IdentityStore) -> None:
    with pytest.raises(NotFoundError, match="unknown user id"):
        await identity.set_roles("0" * 32, ["exporter"])


async def test_tenant_required_only_for_an_ambiguous_name_without_tenant(
    identity: IdentityStore, tenant: Tenant
) -> None:
    shared, single = new_name("shared"), new_name("single")
    await new_user(identity, tenant, shared)
    await new_user(identity, await new_tenant(identity), shared)
    await new_user(identity, tenant, single)

    assert await identity.tenant_required(shared, None) is True
    assert await identity.tenant_required(shared, "  ") is True
    assert await identity.tenant_required(shared, tenant.name) is False
    assert await identity.tenant_required(single, None) is False
    assert await identity.tenant_required(new_name("nobody"), None) is False
