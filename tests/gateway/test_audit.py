"""`GET /api/v1/audit`: admins read their own tenant's trail of job changes, runs, downloads and
deletions, filtered by actor, action (prefix with ``*``), target and time."""

from __future__ import annotations

from typing import Any

import pytest

from cdds_shared.runs import utcnow
from tests.gateway.conftest import rsa_certificate
from tests.gateway.jobs_fixtures import (
    World,
    jobs_gateway,
    jobs_vhost,
    make_artifact,
    make_run,
    world,
)

pytestmark = pytest.mark.integration
__all__ = ["jobs_gateway", "jobs_vhost", "world"]

URL = "/api/v1/audit"


async def audit(world: World, **params: Any) -> list[dict[str, Any]]:
    response = await world.api.get(URL, params=params, headers=world.admin.bearer)
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()
    return events


async def test_admins_read_what_happened_in_their_tenant(world: World) -> None:
    since = utcnow().isoformat()  # after the sign-ins of the fixture
    job = (
        await world.api.post(
            "/api/v1/jobs",
            json={"title": "a", "type": "contact", "run_now": True},
            headers=world.alice.bearer,
        )
    ).json()
    run = await make_run(world, world.alice)
    artifact, _ = await make_artifact(world, run)
    await world.api.get(f"/api/v1/artifacts/{artifact.id}/content", headers=world.alice.bearer)
    await world.api.delete(f"/api/v1/artifacts/{artifact.id}", headers=world.alice.bearer)

    events = await audit(world, actor=world.alice.username, since=since)
    actions = [e["action"] for e in events]
    assert actions == [
        "artifact.delete",
        "artifact.download",
        "job.create",
        "run.start",
    ]  # newest first
    started = events[-1]
    assert started["target"] == job["run_id"] and started["outcome"] == "success"
    assert started["tenant"] == world.alice.tenant.name
    assert started["detail"] == {"job_id": job["id"], "owner": world.alice.user.id}
    assert set(started) == {
        "id",
        "at",
        "tenant",
        "actor",
        "action",
        "target",
        "outcome",
        "detail",
        "client",
        "request_id",
    }
    assert started["request_id"] and len(started["request_id"]) == 32, "the POST's own id"

    assert [e["action"] for e in await audit(world, action="artifact.*", since=since)] == [
        "artifact.delete",
        "artifact.download",
    ]
    assert [e["target"] for e in await audit(world, target=job["id"])] == [job["id"]]
    assert len(await audit(world, actor=world.alice.username, since=since, limit=2)) == 2
    assert [
        e["action"]
        for e in await audit(world, actor=world.alice.username, since=since, limit=1, offset=1)
    ] == ["artifact.download"]
    assert await audit(world, since=since, until=since) == []


async def test_failures_are_recorded(world: World) -> None:
    refused = await world.api.post(
        "/api/v1/jobs",
        json={"title": "b", "type": "contact", "run_now": True},
        headers=world.bob.bearer,
    )
    assert refused.status_code == 409
    [event] = await audit(world, actor=world.bob.username, action="run.start")
    assert event["outcome"] == "failure" and "certificate" in event["detail"]["reason"]


async def test_other_tenants_events_are_invisible(world: World) -> None:
    job = (
        await world.api.post(
            "/api/v1/jobs", json={"title": "c", "type": "contact"}, headers=world.carol.bearer
        )
    ).json()
    assert await audit(world, target=job["id"]) == []
    assert await audit(world, actor=world.carol.username) == []
    assert len(await world.deps.audit.find(target=job["id"])) == 1  # recorded for tenant B


async def test_only_admins_read_the_audit(world: World) -> None:
    for who in (world.alice, world.carol):
        response = await world.api.get(URL, headers=who.bearer)
        assert response.status_code == 403 and response.json()["error"] == "access_denied"
    assert (await world.api.get(URL)).status_code == 401
    for params in ({"limit": 0}, {"limit": 5000}, {"since": "yesterday"}):
        response = await world.api.get(URL, params=params, headers=world.admin.bearer)
        assert response.status_code == 422, params


async def test_the_request_id_a_client_sends_is_on_its_audit_entries(world: World) -> None:
    """Given ``X-Request-ID``, the entry of a certificate upload carries it, and the admin reads it
    back; the entry of a request without one has the id the gateway made and answered."""
    since = utcnow().isoformat()
    pem = rsa_certificate(name="request-id")[1]
    headers = {**world.alice.bearer, "Content-Type": "application/x-pem-file"}
    sent = await world.api.put(
        "/api/v1/me/certificate", content=pem, headers={**headers, "X-Request-ID": "upload-7.a_b"}
    )
    assert sent.status_code == 200, sent.text
    made = await world.api.put("/api/v1/me/certificate", content=pem, headers=headers)
    assert made.status_code == 200, made.text

    entries = await audit(world, action="certificate.put", since=since)

    assert [e["request_id"] for e in entries] == [made.headers["x-request-id"], "upload-7.a_b"]
    assert sent.headers["x-request-id"] == "upload-7.a_b"
