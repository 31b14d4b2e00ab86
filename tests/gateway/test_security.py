"""Cross-checks of access control (docs/api.md): credentials on every endpoint, cookie flags, CSRF,
session fixation, lockout, roles."""

from __future__ import annotations

import asyncio
import re
import uuid
from http.cookies import SimpleCookie

import httpx
import pytest

from cdds_gateway.errors import ApiError
from cdds_gateway.principal import Principal
from cdds_gateway.security import admin_principal, exporter_principal
from cdds_shared.identity import Tenant
from tests.gateway.conftest import (
    GATEWAY_URL,
    PASSWORD,
    Gateway,
    SignedInUser,
    new_user,
    running_gateway,
    sign_in,
)
from tests.infra import StackInfo

pytestmark = pytest.mark.integration

GATEWAY = {"login_max_failures": 3, "login_lockout_seconds": 600}
EXEMPT = {("POST", "/api/v1/session"), ("POST", "/api/v1/session/lookup")}
"""Endpoints reachable without a session (signing in needs none)."""
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def endpoints(gateway: Gateway) -> list[tuple[str, str]]:
    """Every ``(method, path)`` of the REST API, path parameters filled with random ids. Read
    from the OpenAPI document: ``app.routes`` nests included routers (FastAPI 0.165)."""
    found = []
    for template, operations in gateway.app.openapi()["paths"].items():
        if template.startswith("/api/v1/"):
            path = re.sub(r"\{[^}]+\}", lambda _: uuid.uuid4().hex, template)
            methods = sorted(m.upper() for m in operations)
            found += [(m, path) for m in methods if (m, template) not in EXEMPT]
    assert len(found) > 20, found  # the check is not vacuous
    return found


def set_cookie(response: httpx.Response) -> SimpleCookie:
    cookie: SimpleCookie = SimpleCookie()
    cookie.load(response.headers["set-cookie"])
    return cookie


# -- credentials ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-a-session"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer "},
        {"Cookie": "cdds_session=not-a-session"},
    ],
    ids=["none", "unknown-bearer", "basic", "empty-bearer", "unknown-cookie"],
)
async def test_every_endpoint_needs_a_session(
    gateway: Gateway, client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    for method, path in endpoints(gateway):
        response = await client.request(method, path, headers=headers)
        assert response.status_code == 401, (method, path)
        assert response.json()["error"] == "unauthenticated"


async def test_the_bearer_token_works_on_every_endpoint(gateway: Gateway, tenant: Tenant) -> None:
    # Given an exporter and admin signed in (a client that reports 5xx instead of raising)
    transport = httpx.ASGITransport(app=gateway.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=GATEWAY_URL) as client:
        account = await new_user(gateway, tenant, roles=("exporter", "admin"))
        user = await sign_in(client, account)

        # Then no endpoint refuses the bearer token (logging out would end it: not tried)
        for method, path in endpoints(gateway):
            if (method, path) == ("DELETE", "/api/v1/session"):
                continue
            response = await client.request(method, path, headers=user.bearer, json={})
            assert response.status_code != 401, (method, path, response.text)
            assert not (response.status_code == 403 and "csrf" in response.text), (method, path)


async def test_a_bearer_request_is_judged_by_its_token_alone(
    client: httpx.AsyncClient, exporter: SignedInUser
) -> None:
    headers = {"Authorization": "Bearer wrong", "Cookie": exporter.cookie["Cookie"]}
    assert (await client.get("/api/v1/me", headers=headers)).status_code == 401


async def test_a_disabled_users_token_stops_working(
    gateway: Gateway, client: httpx.AsyncClient, exporter: SignedInUser
) -> None:
    assert (await client.get("/api/v1/me", headers=exporter.bearer)).status_code == 200
    await gateway.identity.disable_user(exporter.user.id)
    assert (await client.get("/api/v1/me", headers=exporter.bearer)).status_code == 401


# -- roles ---------------------------------------------------------------------------------------


async def test_losing_the_exporter_role_denies_access_at_once(
    gateway: Gateway, client: httpx.AsyncClient, exporter: SignedInUser
) -> None:
    await gateway.identity.set_roles(exporter.user.id, [])

    response = await client.get("/api/v1/me/certificate", headers=exporter.bearer)

    assert response.status_code == 403
    assert response.json() == {
        "error": "access_denied",
        "detail": "ask your administrator for CDDS access",
    }
    me = await client.get("/api/v1/me", headers=exporter.bearer)  # still says who they are
    assert (me.status_code, me.json()["roles"]) == (200, [])


@pytest.mark.parametrize(
    ("roles", "exporter_ok", "admin_ok"),
    [((), False, False), (("exporter",), True, False), (("admin",), False, True)],
)
async def test_role_dependencies(roles: tuple[str, ...], exporter_ok: bool, admin_ok: bool) -> None:
    principal = Principal("id", "alice", "acme", 1, roles)  # type: ignore[arg-type]
    for check, ok in ((exporter_principal, exporter_ok), (admin_principal, admin_ok)):
        if ok:
            assert await check(principal) is principal
        else:
            with pytest.raises(ApiError) as refused:
                await check(principal)
            assert (refused.value.status, refused.value.code) == (403, "access_denied")


# -- the cookie ----------------------------------------------------------------------------------


async def test_cookie_flags_over_http(
    gateway: Gateway, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    account = await new_user(gateway, tenant)
    for remember_me in (False, True):
        response = await client.post(
            "/api/v1/session",
            json={"username": account.username, "password": PASSWORD, "remember_me": remember_me},
        )
        morsel = set_cookie(response)["cdds_session"]
        assert morsel.value == response.json()["token"]
        assert morsel["httponly"] is True
        assert morsel["samesite"] == "lax"
        assert morsel["path"] == "/"
        assert not morsel["secure"]
        if remember_me:
            assert morsel["max-age"] == str(30 * 24 * 3600)
        else:
            assert not morsel["max-age"] and not morsel["expires"]  # gone with the browser


async def test_the_cookie_is_secure_over_https(gateway: Gateway, tenant: Tenant) -> None:
    account = await new_user(gateway, tenant)
    async with gateway.client("https://gateway.test") as client:
        response = await client.post(
            "/api/v1/session", json={"username": account.username, "password": PASSWORD}
        )
    assert set_cookie(response)["cdds_session"]["secure"] is True


async def test_the_cookie_is_secure_behind_a_tls_proxy(stack: StackInfo) -> None:
    # Given a gateway whose public URL is https (TLS ends at a proxy; requests arrive as http)
    async with (
        running_gateway(stack, url="https://cdds.example") as gateway,
        gateway.client() as client,
    ):
        tenant = await gateway.identity.create_tenant(f"t-{uuid.uuid4().hex[:8]}", 7)
        account = await new_user(gateway, tenant)

        response = await client.post(
            "/api/v1/session", json={"username": account.username, "password": PASSWORD}
        )

    assert set_cookie(response)["cdds_session"]["secure"] is True


# -- CSRF ----------------------------------------------------------------------------------------


async def test_every_unsafe_cookie_request_needs_the_csrf_token(
    gateway: Gateway, client: httpx.AsyncClient, exporter: SignedInUser
) -> None:
    cookie_only = {"Cookie": exporter.cookie["Cookie"]}
    wrong = {**cookie_only, "X-CSRF-Token": "wrong"}
    for method, path in endpoints(gateway):
        if method not in UNSAFE:
            continue
        for headers in (cookie_only, wrong):
            response = await client.request(method, path, headers=headers)
            assert response.status_code == 403, (method, path)
            assert response.json()["error"] == "csrf"


async def test_csrf_token_cookie_and_bearer(
    client: httpx.AsyncClient, exporter: SignedInUser
) -> None:
    prefs = {"seal_mode": "legacy-cbc"}
    cookie_only = {"Cookie": exporter.cookie["Cookie"]}

    refused = await client.put("/api/v1/me/preferences", json=prefs, headers=cookie_only)
    assert refused.status_code == 403
    assert refused.json() == {
        "error": "csrf",
        "detail": "missing or wrong CSRF token: send the X-CSRF-Token header given at sign-in",
    }

    with_token = await client.put("/api/v1/me/preferences", json=prefs, headers=exporter.cookie)
    assert (with_token.status_code, with_token.json()) == (200, prefs)
    bearer = await client.put("/api/v1/me/preferences", json=prefs, headers=exporter.bearer)
    assert bearer.status_code == 200
    safe = await client.get("/api/v1/me/preferences", headers=cookie_only)  # GET needs none
    assert safe.status_code == 200


# -- session fixation ----------------------------------------------------------------------------


async def test_signing_in_replaces_a_planted_session(
    gateway: Gateway, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    # Given a browser holding a session cookie planted by someone else
    attacker = await sign_in(client, await new_user(gateway, tenant))
    victim = await new_user(gateway, tenant)
    client.cookies.set("cdds_session", attacker.token, domain="gateway.test")

    # When the victim signs in from it
    response = await client.post(
        "/api/v1/session", json={"username": victim.username, "password": PASSWORD}
    )

    # Then the browser gets a new session, and the planted one is over
    assert response.status_code == 200
    assert response.cookies["cdds_session"] == response.json()["token"] != attacker.token
    assert (await client.get("/api/v1/me", headers=attacker.bearer)).status_code == 401
    me = await client.get("/api/v1/me")  # the jar now holds the new cookie
    assert me.json()["user_id"] == victim.user.id


async def test_a_failed_sign_in_also_ends_the_presented_session(
    gateway: Gateway, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    account = await new_user(gateway, tenant)
    old = await sign_in(client, account, keep_cookie=True)

    response = await client.post(
        "/api/v1/session", json={"username": account.username, "password": "wrong"}
    )

    assert response.status_code == 401
    assert "max-age=0" in response.headers["set-cookie"].lower()
    assert (await client.get("/api/v1/me", headers=old.bearer)).status_code == 401


# -- lockout -------------------------------------------------------------------------------------


async def test_lockout_after_repeated_failures(
    gateway: Gateway, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    account = await new_user(gateway, tenant)
    wrong = {"username": account.username, "password": "wrong"}
    right = {"username": account.username, "password": PASSWORD}

    # Given max_failures - 1 failures: plain 401s
    for _ in range(GATEWAY["login_max_failures"] - 1):
        assert (await client.post("/api/v1/session", json=wrong)).status_code == 401

    # When one more fails: locked, with a clear message and Retry-After
    locked = await client.post("/api/v1/session", json=wrong)
    assert locked.status_code == 429
    assert locked.json()["error"] == "locked"
    assert re.fullmatch(
        r"too many failed sign-ins: try again after \d\d:\d\d UTC", locked.json()["detail"]
    )
    assert 590 <= int(locked.headers["retry-after"]) <= 600

    # Then even the right password is refused while locked
    still = await client.post("/api/v1/session", json=right)
    assert (still.status_code, still.json()["error"]) == (429, "locked")
    assert "cdds_session" not in still.cookies
    reasons = [
        e.detail["reason"]
        for e in await gateway.deps.audit.find(actor=account.username, action="session.create")
    ]
    assert reasons == ["locked", "wrong_password", "wrong_password", "wrong_password"]


async def test_the_lock_ends_after_the_lockout_time(stack: StackInfo) -> None:
    settings = {"login_max_failures": 1, "login_lockout_seconds": 1}
    async with running_gateway(stack, **settings) as gateway, gateway.client() as client:
        tenant = await gateway.identity.create_tenant(f"t-{uuid.uuid4().hex[:8]}", 8)
        account = await new_user(gateway, tenant)
        wrong = {"username": account.username, "password": "wrong"}
        locked = await client.post("/api/v1/session", json=wrong)
        assert locked.status_code == 429

        # Wait as long as the gateway says, then sign in
        await asyncio.sleep(int(locked.headers["retry-after"]))
        response = await client.post(
            "/api/v1/session", json={"username": account.username, "password": PASSWORD}
        )
        assert response.status_code == 200


async def test_the_openapi_document_names_both_credentials(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/api/openapi.json")).json()

    schemes = doc["components"]["securitySchemes"]
    assert schemes["HTTPBearer"]["scheme"] == "bearer"
    assert (schemes["APIKeyCookie"]["in"], schemes["APIKeyCookie"]["name"]) == (
        "cookie",
        "cdds_session",
    )
    assert {"HTTPBearer": []} in doc["paths"]["/api/v1/me"]["get"]["security"]
    assert "security" not in doc["paths"]["/api/v1/session"]["post"]
