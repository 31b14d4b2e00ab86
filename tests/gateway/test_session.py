"""`/api/v1/session`: sign in (two steps, with or without tenant), the refusals, sign out."""

from __future__ import annotations

import httpx
import pytest

from cdds_shared.identity import Tenant
from tests.gateway.conftest import (
    PASSWORD,
    Gateway,
    SignedInUser,
    new_name,
    new_tenant,
    new_user,
    sign_in,
)

pytestmark = pytest.mark.integration

WRONG = {"error": "invalid_credentials", "detail": "wrong username, tenant or password"}


def body(
    username: str, password: str = PASSWORD, tenant: str | None = None, **more: object
) -> dict[str, object]:
    return {"username": username, "password": password, "tenant": tenant, **more}


async def test_sign_in_returns_the_user_a_token_and_the_cookie(
    gateway: Gateway, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    account = await new_user(gateway, tenant, roles=("exporter", "admin"))

    response = await client.post("/api/v1/session", json=body(account.username, tenant=tenant.name))

    assert response.status_code == 200
    data = response.json()
    assert (data["user"], data["user_id"], data["tenant"], data["roles"]) == (
        account.username,
        account.user.id,
        tenant.name,
        ["exporter", "admin"],
    )
    assert data["token"] and data["csrf_token"] and data["remember_me"] is False
    assert response.cookies["cdds_session"] == data["token"]
    assert response.headers["cache-control"] == "no-store"
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {data['token']}"})
    assert me.json()["username"] == account.username


async def test_a_unique_username_needs_no_tenant(
    gateway: Gateway, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    account = await new_user(gateway, tenant)

    response = await client.post("/api/v1/session", json=body(account.username))

    assert (response.status_code, response.json()["tenant"]) == (200, tenant.name)


async def test_an_ambiguous_username_is_asked_for_its_tenant(
    gateway: Gateway, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    # Given one username in two tenants
    name = new_name("shared")
    mine = await new_user(gateway, tenant, username=name)
    other_tenant = await new_tenant(gateway)
    await new_user(gateway, other_tenant, username=name)

    # When signing in without a tenant: 409, without naming the tenants
    response = await client.post("/api/v1/session", json=body(name))
    assert response.status_code == 409
    assert response.json()["error"] == "tenant_required"
    assert tenant.name not in response.text and other_tenant.name not in response.text
    assert "cdds_session" not in response.cookies

    # Then with the tenant: signed in as the user of that tenant
    response = await client.post("/api/v1/session", json=body(name, tenant=tenant.name))
    assert (response.status_code, response.json()["user_id"]) == (200, mine.user.id)


async def test_every_wrong_credential_gets_the_same_answer(
    gateway: Gateway, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    account = await new_user(gateway, tenant)
    disabled = await new_user(gateway, tenant)
    await gateway.identity.disable_user(disabled.user.id)
    attempts = [
        body(account.username, "wrong"),  # wrong password
        body(account.username, "wrong", tenant.name),
        body(new_name("nobody")),  # unknown user
        body(account.username, tenant=new_name("nowhere")),  # unknown tenant
        body(disabled.username),  # disabled, right password
        body(account.username, ""),  # empty password
    ]
    for attempt in attempts:
        response = await client.post("/api/v1/session", json=attempt)
        assert (response.status_code, response.json()) == (401, WRONG), attempt
        assert "cdds_session" not in response.cookies


async def test_no_exporter_role_is_access_denied_without_a_session(
    gateway: Gateway, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    for roles in [(), ("admin",)]:
        account = await new_user(gateway, tenant, roles=roles)

        response = await client.post("/api/v1/session", json=body(account.username))

        assert response.status_code == 403
        assert response.json() == {
            "error": "access_denied",
            "detail": "ask your administrator for CDDS access",
        }
        assert "cdds_session" not in response.cookies
        sessions = gateway.deps.documents.collection("sessions")
        assert await sessions.count({"user_id": account.user.id}) == 0


async def test_sign_ins_are_audited(
    gateway: Gateway, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    account = await new_user(gateway, tenant)
    await client.post("/api/v1/session", json=body(account.username, "wrong"))
    await client.post("/api/v1/session", json=body(account.username, remember_me=True))

    events = await gateway.deps.audit.find(tenant=tenant.name, action="session.create")

    assert [(e.outcome, e.detail.get("reason")) for e in events] == [
        ("success", None),
        ("failure", "wrong_password"),
    ]
    assert all(e.actor == account.username and e.target == account.user.id for e in events)
    assert events[0].detail["remember_me"] is True
    assert all(PASSWORD not in str(e.model_dump()) for e in events)


async def test_an_unknown_users_failure_is_audited_under_the_name_tried(
    gateway: Gateway, client: httpx.AsyncClient
) -> None:
    name = new_name("nobody")
    await client.post("/api/v1/session", json=body(name))

    [event] = await gateway.deps.audit.find(actor=name)
    assert (event.action, event.outcome, event.target, event.detail) == (
        "session.create",
        "failure",
        None,
        {"reason": "unknown_user"},
    )


async def test_sign_out_ends_the_session(
    gateway: Gateway, client: httpx.AsyncClient, exporter: SignedInUser
) -> None:
    response = await client.delete("/api/v1/session", headers=exporter.bearer)

    assert response.status_code == 204
    assert 'cdds_session=""' in response.headers["set-cookie"]
    assert "max-age=0" in response.headers["set-cookie"].lower()
    again = await client.get("/api/v1/me", headers=exporter.bearer)
    assert (again.status_code, again.json()["error"]) == (401, "unauthenticated")
    [event] = await gateway.deps.audit.find(actor=exporter.username, action="session.delete")
    assert (event.tenant, event.target) == (exporter.tenant.name, exporter.user.id)


async def test_sign_out_by_cookie_needs_the_csrf_token(
    client: httpx.AsyncClient, exporter: SignedInUser
) -> None:
    cookie_only = {"Cookie": exporter.cookie["Cookie"]}

    refused = await client.delete("/api/v1/session", headers=cookie_only)
    assert (refused.status_code, refused.json()["error"]) == (403, "csrf")

    assert (await client.delete("/api/v1/session", headers=exporter.cookie)).status_code == 204
    assert (await client.get("/api/v1/me", headers=cookie_only)).status_code == 401


async def test_sign_out_without_a_session(client: httpx.AsyncClient) -> None:
    response = await client.delete("/api/v1/session")
    assert (response.status_code, response.json()["error"]) == (401, "unauthenticated")


async def test_the_next_step_says_when_a_tenant_is_needed(
    gateway: Gateway, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    shared = new_name("shared")
    await new_user(gateway, tenant, username=shared)
    await new_user(gateway, await new_tenant(gateway), username=shared)
    single = await new_user(gateway, tenant)

    async def lookup(username: str, tenant_name: str | None = None) -> object:
        response = await client.post(
            "/api/v1/session/lookup", json={"username": username, "tenant": tenant_name}
        )
        assert response.status_code == 200
        return response.json()

    assert await lookup(shared) == {"tenant_required": True}
    assert await lookup(shared, tenant.name) == {"tenant_required": False}
    assert await lookup(single.username) == {"tenant_required": False}
    assert await lookup(new_name("nobody")) == {"tenant_required": False}


async def test_a_second_sign_in_gives_a_second_session(
    gateway: Gateway, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    account = await new_user(gateway, tenant)
    first = await sign_in(client, account)
    second = await sign_in(client, account)

    assert first.token != second.token and first.csrf_token != second.csrf_token
    for user in (first, second):  # a bearer sign-in (no token presented) leaves others alone
        assert (await client.get("/api/v1/me", headers=user.bearer)).status_code == 200
