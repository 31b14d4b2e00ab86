"""Security headers, body limits per route, the same-origin sign-in and the development-only
API viewers, on the gateway in-process (docs/operations.md § The HTTP edge)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from cdds_gateway.app import create_app
from cdds_gateway.edge import body_rules
from cdds_shared.identity import Tenant
from tests.gateway.conftest import (
    GATEWAY_URL,
    Gateway,
    SignedInUser,
    new_user,
    running_gateway,
)
from tests.infra import StackInfo

SECURITY = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


def _assert_guarded(response: httpx.Response) -> None:
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "form-action 'self'" in csp and "unsafe-inline" not in csp
    for name, value in SECURITY.items():
        assert response.headers[name] == value


# -- headers -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/login", "/api/v1/me", "/healthz", "/no-such-page"])
async def test_every_answer_carries_the_security_headers(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path)
    _assert_guarded(response)
    assert response.headers["cache-control"] == "no-store"
    assert "strict-transport-security" not in response.headers  # plain HTTP


async def test_pages_with_data_are_not_stored(
    client: httpx.AsyncClient, exporter: SignedInUser
) -> None:
    for path in ("/jobs", "/history", "/artifacts", "/preferences", "/api/v1/runs"):
        response = await client.get(path, headers=exporter.cookie)
        assert response.status_code == 200, path
        assert response.headers["cache-control"] == "no-store", path
        _assert_guarded(response)


async def test_static_files_may_be_cached(client: httpx.AsyncClient) -> None:
    response = await client.get("/static/cdds.css")
    assert response.status_code == 200
    assert "cache-control" not in response.headers
    _assert_guarded(response)


async def test_hsts_only_over_tls(gateway: Gateway) -> None:
    async with gateway.client("https://gateway.test") as tls:
        response = await tls.get("/healthz")
    assert response.headers["strict-transport-security"] == "max-age=31536000"


async def test_hsts_behind_a_tls_proxy(stack: StackInfo) -> None:
    async with (
        running_gateway(stack, url="https://cdds.example") as gateway,
        gateway.client() as client,  # plain HTTP from the proxy
    ):
        response = await client.get("/healthz")
    assert response.headers["strict-transport-security"] == "max-age=31536000"


async def test_pages_have_no_inline_script_or_style(
    client: httpx.AsyncClient, exporter: SignedInUser
) -> None:
    # The CSP (default-src 'self') would block them: the pages must not need any.
    for path in ("/login", "/jobs", "/jobs/new", "/history", "/artifacts", "/preferences"):
        html = (await client.get(path, headers=exporter.cookie)).text
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), path
        assert "<style" not in html and " style=" not in html, path
        assert not re.search(r"\son[a-z]+=", html), path
    assert (await client.get("/static/cdds.js")).status_code == 200


async def test_the_api_viewers_exist_only_in_development(
    client: httpx.AsyncClient, gateway: Gateway
) -> None:
    assert (await client.get("/docs")).status_code == 404  # CDDS_ENVIRONMENT=test
    assert (await client.get("/redoc")).status_code == 404
    assert (await client.get("/api/openapi.json")).status_code == 200
    # In development they are there, with a policy that lets their CDN scripts run
    development = create_app(gateway.settings.model_copy(update={"environment": "development"}))
    transport = httpx.ASGITransport(app=development)
    async with httpx.AsyncClient(transport=transport, base_url=GATEWAY_URL) as dev:
        docs = await dev.get("/docs")
    assert docs.status_code == 200
    assert "https://cdn.jsdelivr.net" in docs.headers["content-security-policy"]
    assert docs.headers["x-frame-options"] == "DENY"


# -- same-origin sign-in -------------------------------------------------------------------------


@pytest.fixture
async def account(gateway: Gateway, tenant: Tenant) -> dict[str, str]:
    user = await new_user(gateway, tenant)
    return {"step": "password", "username": user.username, "password": user.password}


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Referer": "https://evil.example/login"},
        {"Origin": "http://gateway.test:8443"},
    ],
)
async def test_a_cross_origin_sign_in_is_refused(
    client: httpx.AsyncClient, account: dict[str, str], headers: dict[str, str]
) -> None:
    for step in ("username", "password"):
        response = await client.post("/login", data={**account, "step": step}, headers=headers)
        assert (response.status_code, response.json()["error"]) == (403, "cross_origin")
    api = await client.post("/api/v1/session", json=account, headers=headers)
    assert (api.status_code, api.json()["error"]) == (403, "cross_origin")
    assert "cdds_session" not in client.cookies


@pytest.mark.parametrize(
    "headers",
    [{"Origin": GATEWAY_URL}, {"Referer": f"{GATEWAY_URL}/login"}, {}],
    ids=["origin", "referer", "neither"],
)
async def test_a_same_origin_sign_in_is_accepted(
    client: httpx.AsyncClient, account: dict[str, str], headers: dict[str, str]
) -> None:
    response = await client.post("/login", data=account, headers=headers, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/jobs"


# -- body limits ---------------------------------------------------------------------------------


async def test_a_json_body_over_the_limit_is_refused_before_it_is_read(
    client: httpx.AsyncClient, gateway: Gateway
) -> None:
    limit = gateway.settings.gateway.max_body_bytes
    big = b'{"username": "' + b"a" * limit + b'", "password": "x"}'
    response = await client.post(
        "/api/v1/session", content=big, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    body = response.json()
    assert body["error"] == "payload_too_large" and str(limit) in body["detail"]
    assert response.headers["connection"] == "close"
    _assert_guarded(response)


async def test_a_streamed_body_is_cut_off_at_the_limit(
    client: httpx.AsyncClient, gateway: Gateway
) -> None:
    sent = 0

    async def endless() -> AsyncIterator[bytes]:  # chunked: no Content-Length to judge
        nonlocal sent
        for _ in range(1000):
            sent += 16384
            yield b" " * 16384

    response = await client.post(
        "/api/v1/session", content=endless(), headers={"Content-Type": "application/json"}
    )
    assert (response.status_code, response.json()["error"]) == (413, "payload_too_large")
    assert sent <= gateway.settings.gateway.max_body_bytes + 2 * 16384


async def test_bulk_actions_take_100_ids_and_no_more_bytes_than_that(
    client: httpx.AsyncClient, gateway: Gateway, exporter: SignedInUser
) -> None:
    ids = [f"{'r' * 32}-p{n:04d}" for n in range(100)]
    deleted = await client.post(
        "/api/v1/artifacts/delete", json={"ids": ids}, headers=exporter.bearer
    )
    assert deleted.status_code == 404  # read and judged: none of them exists
    limit = next(r.limit for r in body_rules(gateway.settings) if "artifacts" in r.path)
    padded = await client.post(
        "/api/v1/artifacts/delete",
        json={"ids": ids, "pad": "x" * limit},
        headers=exporter.bearer,
    )
    assert (padded.status_code, padded.json()["error"]) == (413, "payload_too_large")
