"""An integration's REST token (``Authorization: Bearer cdds_int_…``): its principal on the
exporter endpoints and in ``GET /api/v1/me``, refused at once once revoked; its user never
signs in with a password."""

from __future__ import annotations

from types import SimpleNamespace

import httpx
import pytest

from cdds_shared.errors import ValidationFailed
from cdds_shared.identity import Tenant
from cdds_shared.identity.integrations import IntegrationStore
from tests.gateway.conftest import Gateway, SignedInUser, new_tenant, new_user, sign_in
from tests.gateway.jobs_fixtures import make_run

pytestmark = pytest.mark.integration


@pytest.fixture
async def tenant(gateway: Gateway) -> Tenant:
    return await new_tenant(gateway)


def integrations(gateway: Gateway) -> IntegrationStore:
    return IntegrationStore(gateway.deps.documents, gateway.identity)


async def test_a_token_is_its_principal_until_revoked(
    gateway: Gateway, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    # Given an integration with a run of its own, and a person of the same tenant with another
    integration, token = await integrations(gateway).create("crm", tenant.name)
    principal = await gateway.identity.get_user(integration.user_id)
    world = SimpleNamespace(deps=gateway.deps)
    own = await make_run(world, SignedInUser(principal, tenant))  # type: ignore[arg-type]
    person = await sign_in(client, await new_user(gateway, tenant))
    await make_run(world, person)  # type: ignore[arg-type]
    bearer = {"Authorization": f"Bearer {token}"}

    # When it calls with its token: it is the integration, and sees its own runs only
    me = await client.get("/api/v1/me", headers=bearer)
    runs = await client.get("/api/v1/runs", headers=bearer)

    assert me.status_code == 200, me.text
    body = me.json()
    assert (body["kind"], body["integration"], body["tenant"], body["roles"]) == (
        "integration",
        "crm",
        tenant.name,
        ["exporter"],
    )
    assert runs.status_code == 200, runs.text
    assert [r["id"] for r in runs.json()["items"]] == [own.id]
    assert (await client.get("/api/v1/me", headers=person.bearer)).json()["kind"] == "user"

    # And once revoked, the very next request is refused
    await integrations(gateway).revoke("crm", tenant.name)
    for path in ("/api/v1/me", "/api/v1/runs"):
        refused = await client.get(path, headers=bearer)
        assert refused.status_code == 401, refused.text


async def test_a_made_up_token_is_refused(client: httpx.AsyncClient) -> None:
    refused = await client.get("/api/v1/me", headers={"Authorization": "Bearer cdds_int_nope"})
    assert refused.status_code == 401


async def test_its_user_has_no_password_to_set(gateway: Gateway, tenant: Tenant) -> None:
    integration, _ = await integrations(gateway).create("wfm", tenant.name)
    with pytest.raises(ValidationFailed, match="signs in with its token"):
        await gateway.identity.set_password(integration.user_id, "a password")


async def test_its_token_is_no_session_to_sign_out_of(
    gateway: Gateway, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    _, token = await integrations(gateway).create("crm", tenant.name)
    bearer = {"Authorization": f"Bearer {token}"}

    signed_out = await client.delete("/api/v1/session", headers=bearer)

    assert signed_out.status_code == 409, signed_out.text
    assert signed_out.json()["error"] == "conflict"
    assert "cdds-admin integration revoke" in signed_out.json()["detail"]
    assert (await client.get("/api/v1/me", headers=bearer)).status_code == 200
    assert await gateway.deps.audit.find(tenant=tenant.name, action="session.delete") == []
