"""Tenant administration's rules, on the in-memory fakes (unit: no server): reach, the last
administrator, read-only integrations, one-time passwords, the audit trail. The same use cases
run over HTTP against the real servers in test_users_api.py."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from argon2 import PasswordHasher

from cdds_gateway.deps import GatewayDeps
from cdds_gateway.principal import Principal
from cdds_gateway.usecases import users
from cdds_gateway.usecases.passwords import change_password
from cdds_gateway.usecases.user_views import NewUser
from cdds_shared.errors import ConflictError, NotFoundError, ValidationFailed
from cdds_shared.identity import IdentityStore, Passwords, Role, User
from cdds_shared.settings import Settings
from tests.fakes import FakeDocumentStore, FakeObjectStore, RecordingPublisher

pytestmark = pytest.mark.unit

PASSWORD = "correct horse battery staple"


@pytest.fixture
async def deps() -> GatewayDeps:
    documents = FakeDocumentStore()
    deps = GatewayDeps.of(Settings(), documents, FakeObjectStore(), RecordingPublisher())
    # Cheap hashes: the rules are under test here, not argon2's cost.
    deps.identity = IdentityStore(documents, passwords=Passwords(PasswordHasher(1, 8, 1)))
    await deps.identity.create_tenant("acme", 1)
    await deps.identity.create_tenant("other", 2)
    return deps


async def make(
    deps: GatewayDeps, name: str, roles: Sequence[str], tenant: str = "acme", **more: str
) -> User:
    return await deps.identity.create_user(name, tenant, roles, PASSWORD, **more)  # type: ignore[arg-type]


def acting(user: User) -> Principal:
    roles: tuple[Role, ...] = tuple(user.roles)
    return Principal(user.id, user.username, user.tenant, 1, roles, session_id="s1")


async def actions(deps: GatewayDeps, outcome: str = "success") -> list[str]:
    """The tenant's audited actions of that outcome, by name (events of one millisecond have no
    order)."""
    return sorted(e.action for e in await deps.audit.find(tenant="acme") if e.outcome == outcome)


async def test_a_new_user_gets_a_one_time_password_they_must_change(deps: GatewayDeps) -> None:
    boss = acting(await make(deps, "boss", ["exporter", "admin"]))

    added = await users.add_user(deps, boss, NewUser(username="carol", roles=["exporter"]))

    stored = await deps.identity.get_user(added.user.id)
    assert stored.must_change_password and added.user.must_change_password
    assert await deps.identity.check_password(stored.id, added.one_time_password)
    assert added.one_time_password not in stored.password_hash
    [event] = await deps.audit.find(tenant="acme", action="user.create")
    assert event.detail == {"username": "carol", "roles": ["exporter"]}
    assert added.one_time_password not in repr(event.model_dump())

    carol = acting(stored)
    await change_password(deps, carol, added.one_time_password, "a much better secret")
    assert not (await deps.identity.get_user(stored.id)).must_change_password


async def test_another_tenants_user_is_not_found(deps: GatewayDeps) -> None:
    boss = acting(await make(deps, "boss", ["exporter", "admin"]))
    stranger = await make(deps, "eve", ["exporter"], tenant="other")

    for call in (
        users.get_user(deps, boss, stranger.id),
        users.set_role(deps, boss, stranger.id, "admin", True),
        users.set_disabled(deps, boss, stranger.id, True),
        users.unlock_user(deps, boss, stranger.id),
        users.reset_password(deps, boss, stranger.id),
    ):
        with pytest.raises(NotFoundError, match="not found"):
            await call
    assert (await deps.identity.get_user(stranger.id)).roles == ["exporter"]
    assert [u.username for u in await users.list_users(deps, boss)] == ["boss"]


async def test_the_last_administrator_stays(deps: GatewayDeps) -> None:
    boss_user = await make(deps, "boss", ["exporter", "admin"])
    boss = acting(boss_user)
    await make(deps, "idle", ["admin"])  # cannot sign in without exporter: does not count

    for change in (
        users.set_role(deps, boss, boss_user.id, "admin", False),
        users.set_role(deps, boss, boss_user.id, "exporter", False),
        users.set_disabled(deps, boss, boss_user.id, True),
    ):
        with pytest.raises(ConflictError, match="last administrator"):
            await change
    assert await actions(deps, "failure") == ["user.disable", "user.revoke", "user.revoke"]

    other = await make(deps, "deputy", ["exporter", "admin"])
    await users.set_disabled(deps, boss, other.id, True)  # a second admin, but disabled
    with pytest.raises(ConflictError):
        await users.set_role(deps, boss, boss_user.id, "admin", False)
    await users.set_disabled(deps, boss, other.id, False)
    changed = await users.set_role(deps, boss, boss_user.id, "admin", False)
    assert changed.roles == ["exporter"]


async def test_an_integration_is_read_only(deps: GatewayDeps) -> None:
    boss = acting(await make(deps, "boss", ["exporter", "admin"]))
    robot = await make(deps, "crm", ["exporter"], integration="crm")

    listed = {u.username: u for u in await users.list_users(deps, boss)}
    assert (listed["crm"].kind, listed["crm"].integration) == ("integration", "crm")
    for change in (
        users.set_role(deps, boss, robot.id, "admin", True),
        users.set_disabled(deps, boss, robot.id, True),
        users.reset_password(deps, boss, robot.id),
        users.unlock_user(deps, boss, robot.id),
    ):
        with pytest.raises(ConflictError, match="integration"):
            await change


async def test_reset_unlock_and_the_password_rule(deps: GatewayDeps) -> None:
    boss = acting(await make(deps, "boss", ["exporter", "admin"]))
    dave = await make(deps, "dave", ["exporter"])
    token, _ = await deps.identity.create_session(dave)

    reset = await users.reset_password(deps, boss, dave.id)

    assert reset.user.must_change_password
    assert await deps.identity.session_for_token(token) is None  # sessions ended
    assert await deps.identity.check_password(dave.id, reset.one_time_password)
    dave_now = acting(await deps.identity.get_user(dave.id))
    with pytest.raises(ValidationFailed, match="at least 12"):
        await change_password(deps, dave_now, reset.one_time_password, "short")
    with pytest.raises(ValidationFailed, match="current password"):
        await change_password(deps, dave_now, "wrong", "long enough secret")
    with pytest.raises(ValidationFailed, match="other than"):
        await change_password(deps, dave_now, reset.one_time_password, reset.one_time_password)

    await deps.documents.collection("users").update({"_id": dave.id}, {"failed_logins": 3})
    assert (await users.unlock_user(deps, boss, dave.id)).locked is False
    assert (await deps.identity.get_user(dave.id)).failed_logins == 0
    assert await actions(deps) == ["user.password.reset", "user.unlock"]
