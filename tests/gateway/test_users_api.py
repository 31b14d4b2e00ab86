"""`/api/v1/users`: a tenant's administrators manage its users (docs/api.md § Users) — one-time
passwords changed at the first sign-in, another tenant's users out of reach (404 on every
route), the last administrator kept, integrations read-only, every change audited."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from cdds_shared.identity import Tenant
from tests.gateway.conftest import (
    PASSWORD,
    Account,
    Gateway,
    SignedInUser,
    new_name,
    new_tenant,
    new_user,
    sign_in,
)

pytestmark = pytest.mark.integration

GATEWAY = {"login_max_failures": 2, "login_lockout_seconds": 600}
URL = "/api/v1/users"
NEW_PASSWORD = "my own long password"


@pytest.fixture
async def admin(gateway: Gateway, client: httpx.AsyncClient, tenant: Tenant) -> SignedInUser:
    """The tenant's one administrator, signed in."""
    return await sign_in(client, await new_user(gateway, tenant, roles=("exporter", "admin")))


async def call(
    client: httpx.AsyncClient, who: SignedInUser, method: str, path: str, status: int, **kw: Any
) -> Any:
    response = await client.request(method, path, headers=who.bearer, **kw)
    assert response.status_code == status, response.text
    return response.json() if response.content else None


async def add(client: httpx.AsyncClient, admin: SignedInUser, *roles: str) -> dict[str, Any]:
    body = {"username": new_name("new"), "roles": list(roles)}
    added: dict[str, Any] = await call(client, admin, "POST", URL, 201, json=body)
    return added


async def signed_in_as(
    client: httpx.AsyncClient, admin: SignedInUser, added: dict[str, Any], password: str
) -> dict[str, Any]:
    body = {"username": added["user"]["username"], "tenant": admin.tenant.name}
    response = await client.post("/api/v1/session", json={**body, "password": password})
    client.cookies.clear()
    assert response.status_code == 200, response.text
    signed: dict[str, Any] = response.json()
    return signed


# -- a new user ----------------------------------------------------------------------------------


async def test_a_new_user_signs_in_with_the_one_time_password_and_must_change_it(
    client: httpx.AsyncClient, admin: SignedInUser
) -> None:
    response = await client.post(
        URL, json={"username": "carol", "roles": ["exporter"]}, headers=admin.bearer
    )
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    added = response.json()
    once = added["one_time_password"]
    assert len(once) >= 12
    assert added["user"] | {"id": None, "created_at": None} == {
        "id": None,
        "username": "carol",
        "kind": "user",
        "integration": None,
        "roles": ["exporter"],
        "disabled": False,
        "locked": False,
        "locked_until": None,
        "must_change_password": True,
        "created_at": None,
        "last_login_at": None,
    }
    listed = await call(client, admin, "GET", URL, 200)
    assert [u["username"] for u in listed] == sorted([admin.username, "carol"])
    assert once not in str(listed)  # shown once, never again

    # When carol signs in, she must choose a password before anything else
    signed = await signed_in_as(client, admin, added, once)
    assert signed["password_change_required"] is True
    carol = {"Authorization": f"Bearer {signed['token']}"}
    refused = await client.get("/api/v1/jobs", headers=carol)
    assert (refused.status_code, refused.json()["error"]) == (403, "password_change_required")
    assert "POST /api/v1/me/password" in refused.json()["detail"]
    assert (await client.get("/api/v1/me", headers=carol)).status_code == 200
    wrong = {"current_password": "not it", "new_password": NEW_PASSWORD}
    response = await client.post("/api/v1/me/password", json=wrong, headers=carol)
    assert (response.status_code, response.json()["error"]) == (422, "invalid")
    short = {"current_password": once, "new_password": "short"}
    assert (await client.post("/api/v1/me/password", json=short, headers=carol)).status_code == 422

    # Then, once changed, the same session goes on and the new password signs in
    change = {"current_password": once, "new_password": NEW_PASSWORD}
    assert (await client.post("/api/v1/me/password", json=change, headers=carol)).status_code == 204
    assert (await client.get("/api/v1/jobs", headers=carol)).status_code == 200
    again = await signed_in_as(client, admin, added, NEW_PASSWORD)
    assert again["password_change_required"] is False
    failed = await client.post(
        "/api/v1/session",
        json={"username": "carol", "tenant": admin.tenant.name, "password": once},
    )
    assert failed.status_code == 401


async def test_a_taken_name_is_a_conflict_and_roles_are_checked(
    client: httpx.AsyncClient, admin: SignedInUser
) -> None:
    taken = {"username": admin.username, "roles": []}
    response = await client.post(URL, json=taken, headers=admin.bearer)
    assert (response.status_code, response.json()["error"]) == (409, "conflict")
    odd = {"username": new_name("x"), "roles": ["root"]}
    assert (await client.post(URL, json=odd, headers=admin.bearer)).status_code == 422


# -- who may ------------------------------------------------------------------------------------


async def test_only_admins_and_only_with_the_csrf_token_by_cookie(
    client: httpx.AsyncClient, admin: SignedInUser, exporter: SignedInUser
) -> None:
    refused = await client.get(URL, headers=exporter.bearer)
    assert (refused.status_code, refused.json()["error"]) == (403, "access_denied")
    cookie_only = {"Cookie": admin.cookie["Cookie"]}
    body = {"username": new_name("c"), "roles": []}
    response = await client.post(URL, json=body, headers=cookie_only)
    assert (response.status_code, response.json()["error"]) == (403, "csrf")
    assert (await client.post(URL, json=body, headers=admin.cookie)).status_code == 201


def user_routes(gateway: Gateway) -> list[tuple[str, str]]:
    """Every ``(method, path template)`` under ``/api/v1/users/{user_id}``, as the OpenAPI
    document (the contract) lists them."""
    paths: dict[str, dict[str, Any]] = gateway.app.openapi()["paths"]
    return sorted(
        (method.upper(), path)
        for path, operations in paths.items()
        if path.startswith(URL + "/{user_id}")
        for method in operations
    )


async def test_another_tenants_users_are_not_found_on_every_route(
    gateway: Gateway, client: httpx.AsyncClient, admin: SignedInUser
) -> None:
    # Given a user of another tenant, with a lock, a session and no roles to lose yet
    other = await new_tenant(gateway)
    stranger = await new_user(gateway, other, roles=("exporter", "admin"))
    before = await gateway.identity.get_user(stranger.user.id)
    routes = user_routes(gateway)
    assert len(routes) == 7, routes  # get, grant, revoke, disable, enable, unlock, password

    for ident in (stranger.user.id, "0" * 32):
        for method, template in routes:
            path = template.replace("{user_id}", ident).replace("{role}", "admin")
            response = await client.request(method, path, headers=admin.bearer)
            assert (response.status_code, response.json()) == (
                404,
                {"error": "not_found", "detail": f"user {ident} not found"},
            ), (method, template)
    assert await gateway.identity.get_user(stranger.user.id) == before
    assert stranger.username not in str(await call(client, admin, "GET", URL, 200))


# -- the rules -----------------------------------------------------------------------------------


async def test_the_last_administrator_cannot_be_removed(
    client: httpx.AsyncClient, admin: SignedInUser
) -> None:
    me = f"{URL}/{admin.user.id}"
    for method, path in (
        ("DELETE", f"{me}/roles/admin"),
        ("DELETE", f"{me}/roles/exporter"),
        ("POST", f"{me}/disable"),
    ):
        response = await client.request(method, path, headers=admin.bearer)
        assert response.status_code == 409, (method, path)
        assert response.json() == {
            "error": "conflict",
            "detail": f"{admin.username!r} is the last administrator of tenant "
            f"{admin.tenant.name!r}: make another user an administrator (with CDDS access) first",
        }

    # Once another user is an administrator who can sign in, the first may step down
    deputy = await add(client, admin, "exporter")
    await call(client, admin, "PUT", f"{URL}/{deputy['user']['id']}/roles/admin", 200)
    stepped = await call(client, admin, "DELETE", f"{me}/roles/admin", 200)
    assert stepped["roles"] == ["exporter"]
    assert (await client.get(URL, headers=admin.bearer)).status_code == 403  # live


async def test_disable_enable_unlock_and_reset(
    gateway: Gateway, client: httpx.AsyncClient, admin: SignedInUser, tenant: Tenant
) -> None:
    dave = await new_user(gateway, tenant)
    session = await sign_in(client, dave)
    path = f"{URL}/{dave.user.id}"

    disabled = await call(client, admin, "POST", f"{path}/disable", 200)
    assert disabled["disabled"] is True
    assert (await client.get("/api/v1/me", headers=session.bearer)).status_code == 401
    assert await sign_in_status(client, dave) == 401
    await call(client, admin, "POST", f"{path}/enable", 200)
    assert await sign_in_status(client, dave) == 200

    for _ in range(2):  # login_max_failures
        await sign_in_status(client, dave, "wrong")
    assert await sign_in_status(client, dave) == 429
    listed = await call(client, admin, "GET", path, 200)
    assert listed["locked"] is True and listed["locked_until"]
    assert (await call(client, admin, "POST", f"{path}/unlock", 200))["locked"] is False
    assert await sign_in_status(client, dave) == 200

    reset = await call(client, admin, "POST", f"{path}/password", 200)
    assert reset["user"]["must_change_password"] is True
    assert await sign_in_status(client, dave) == 401  # the old password is gone
    moved = Account(dave.user, tenant, reset["one_time_password"])
    assert await sign_in_status(client, moved) == 200
    own = await client.post(f"{URL}/{admin.user.id}/password", headers=admin.bearer)
    assert (own.status_code, own.json()["error"]) == (409, "conflict")


async def sign_in_status(
    client: httpx.AsyncClient, account: Account, password: str | None = None
) -> int:
    body = {"username": account.username, "tenant": account.tenant.name}
    response = await client.post(
        "/api/v1/session", json={**body, "password": password or account.password}
    )
    client.cookies.clear()
    return response.status_code


async def test_an_integration_is_listed_but_read_only(
    gateway: Gateway, client: httpx.AsyncClient, admin: SignedInUser, tenant: Tenant
) -> None:
    robot = await gateway.identity.create_user(
        new_name("crm"), tenant.name, ["exporter"], PASSWORD, integration="crm"
    )
    [listed] = [u for u in await call(client, admin, "GET", URL, 200) if u["id"] == robot.id]
    assert (listed["kind"], listed["integration"]) == ("integration", "crm")
    for method, action in (
        ("POST", "password"),
        ("POST", "disable"),
        ("PUT", "roles/admin"),
        ("POST", "unlock"),
    ):
        response = await client.request(method, f"{URL}/{robot.id}/{action}", headers=admin.bearer)
        assert response.status_code == 409, action
        assert "cdds-admin integration" in response.json()["detail"]


async def test_every_change_is_audited_without_a_password(
    gateway: Gateway, client: httpx.AsyncClient, admin: SignedInUser
) -> None:
    added = await add(client, admin)
    path = f"{URL}/{added['user']['id']}"
    for method, action in (
        ("PUT", "roles/exporter"),
        ("PUT", "roles/admin"),
        ("DELETE", "roles/admin"),
        ("POST", "disable"),
        ("POST", "enable"),
        ("POST", "unlock"),
        ("POST", "password"),
    ):
        await call(client, admin, method, f"{path}/{action}", 200)
    await client.request("POST", f"{URL}/{admin.user.id}/disable", headers=admin.bearer)

    events = await call(
        client, admin, "GET", "/api/v1/audit", 200, params={"action": "user.*", "limit": 50}
    )
    mine = [e for e in events if e["target"] == added["user"]["id"]]
    assert sorted(e["action"] for e in mine) == sorted(
        [
            "user.create",
            "user.grant",
            "user.grant",
            "user.revoke",
            "user.disable",
            "user.enable",
            "user.unlock",
            "user.password.reset",
        ]
    )
    assert {e["actor"] for e in mine} == {admin.username}
    assert {e["outcome"] for e in mine} == {"success"}
    [refused] = [e for e in events if e["target"] == admin.user.id]
    assert (refused["action"], refused["outcome"]) == ("user.disable", "failure")
    assert "last administrator" in refused["detail"]["reason"]
    assert added["one_time_password"] not in str(events)
    assert not re.search(r"password_hash|\$argon2", str(events))
