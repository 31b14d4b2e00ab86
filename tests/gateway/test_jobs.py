"""`/api/v1/jobs`: add, list, edit, clone, delete, run — each job visible to its owner and the
tenant's admins only; starting a run needs a usable certificate and RabbitMQ's confirm, and
leaves nothing behind when either is missing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cdds_shared.certificates import CertificateRecord
from tests.gateway.conftest import new_tenant, new_user, rsa_certificate, sign_in
from tests.gateway.jobs_fixtures import (
    World,
    delete_vhost,
    jobs_gateway,
    jobs_vhost,
    private_gateway,
    take_requests,
    world,
)
from tests.infra import StackInfo
from tests.infra.isolation import temporary_vhost

pytestmark = pytest.mark.integration
__all__ = ["jobs_gateway", "jobs_vhost", "world"]

JOB = {"title": "Nightly interactions", "type": "interaction"}


async def create(world: World, who: Any, **fields: Any) -> dict[str, Any]:
    response = await world.api.post("/api/v1/jobs", json={**JOB, **fields}, headers=who.bearer)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_job_is_created_with_its_defaults(world: World) -> None:
    job = await create(world, world.alice, description="all of it")
    assert job["title"] == "Nightly interactions" and job["description"] == "all of it"
    assert job["source"] == "contact_history" and job["type"] == "interaction"
    assert job["media_types"] is None  # all
    assert job["schedule"]["kind"] == "now" and job["next_run_at"] is None
    assert job["timeframe"]["kind"] == "all"
    assert job["split_size_bytes"] == 1 << 30 and job["enabled"] is True
    assert job["owner"] == world.alice.user.id and job["owner_name"] == world.alice.username
    assert job["run_id"] is None and job["latest_run"] is None
    fetched = await world.api.get(f"/api/v1/jobs/{job['id']}", headers=world.alice.bearer)
    assert fetched.status_code == 200 and fetched.json()["title"] == job["title"]


async def test_fields_are_normalised(world: World) -> None:
    job = await create(
        world,
        world.alice,
        title="  Chats  ",
        media_types=["Chat", "voice", "chat"],
        timeframe={"start": "2025-01-01T00:00:00", "end": "2025-02-01T00:00:00+01:00"},
        schedule={"kind": "daily", "time": "02:30"},
        split_size_bytes=1 << 20,
    )
    assert job["title"] == "Chats" and job["media_types"] == ["chat", "voice"]
    assert job["timeframe"] == {
        "kind": "fixed",
        "start": "2025-01-01T00:00:00Z",
        "end": "2025-01-31T23:00:00Z",
    }
    next_run = datetime.fromisoformat(job["next_run_at"])
    assert (next_run.hour, next_run.minute) == (2, 30)
    assert timedelta(0) < next_run - datetime.now(UTC) <= timedelta(days=1)


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"type": "voicemail"}, "type"),
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"split_size_bytes": (1 << 20) - 1}, "split_size_bytes"),
        ({"schedule": {"kind": "daily"}}, "time"),
        ({"schedule": {"kind": "daily", "time": "24:00"}}, "time"),
        ({"schedule": {"kind": "weekly", "time": "01:00", "weekday": 7}}, "weekday"),
        ({"schedule": {"kind": "every_hours", "hours": 0}}, "hours"),
        ({"schedule": {"kind": "every_hours", "hours": 3, "time": "01:00"}}, "time"),
        ({"schedule": {"kind": "hourly"}}, "kind"),
        ({"schedule": {"kind": "once", "at": "2000-01-01T00:00:00Z"}}, "has passed"),
        ({"type": "contact", "media_types": ["voice"]}, "media_types"),
        ({"media_types": ["voice mail"]}, "media"),
        ({"timeframe": {"start": "2025-02-01T00:00:00Z", "end": "2025-01-01T00:00:00Z"}}, "start"),
        ({"timeframe": {"kind": "since_previous", "end": "2025-01-01T00:00:00Z"}}, "end"),
        ({"colour": "blue"}, "colour"),
    ],
)
async def test_an_invalid_job_is_refused(world: World, fields: dict[str, Any], says: str) -> None:
    response = await world.api.post(
        "/api/v1/jobs", json={**JOB, **fields}, headers=world.alice.bearer
    )
    assert response.status_code == 422, response.text
    assert says in response.text
    listed = await world.api.get("/api/v1/jobs", headers=world.alice.bearer)
    assert all(j["title"] != fields.get("title", "?") for j in listed.json()["items"])


async def test_users_see_their_own_jobs_and_admins_the_tenants(world: World) -> None:
    mine = await create(world, world.alice, title="alice's")
    bobs = await create(world, world.bob, title="bob's")
    carols = await create(world, world.carol, title="carol's")

    async def titles(who: Any, **params: str) -> set[str]:
        response = await world.api.get("/api/v1/jobs", headers=who.bearer, params=params)
        assert response.status_code == 200
        return {j["id"] for j in response.json()["items"]}

    assert mine["id"] in await titles(world.alice)
    assert bobs["id"] not in await titles(world.alice)
    assert {mine["id"], bobs["id"]} <= await titles(world.admin)
    assert carols["id"] not in await titles(world.admin)
    assert await titles(world.admin, owner=world.bob.user.id) == await titles(world.bob)
    assert await titles(world.alice, owner=world.bob.user.id) == await titles(world.alice)


async def test_someone_elses_job_is_not_found_everywhere(world: World) -> None:
    bobs = await create(world, world.bob, title="bob's secret")
    base = f"/api/v1/jobs/{bobs['id']}"
    for who in (world.alice, world.carol):
        for method, url, body in (
            ("GET", base, None),
            ("PATCH", base, {"title": "mine now"}),
            ("DELETE", base, None),
            ("POST", f"{base}/clone", None),
            ("POST", f"{base}/runs", None),
        ):
            response = await world.api.request(method, url, json=body, headers=who.bearer)
            assert response.status_code == 404, (method, url, response.text)
            assert response.json()["error"] == "not_found"
    unknown = await world.api.get("/api/v1/jobs/nope", headers=world.alice.bearer)
    assert unknown.status_code == 404 and unknown.json()["error"] == "not_found"
    still = await world.api.get(base, headers=world.bob.bearer)
    assert still.json()["title"] == "bob's secret"


async def test_patch_changes_only_what_it_names(world: World) -> None:
    job = await create(world, world.alice, media_types=["voice"], description="d")
    url = f"/api/v1/jobs/{job['id']}"
    response = await world.api.patch(url, json={"title": "Renamed"}, headers=world.alice.bearer)
    assert response.status_code == 200, response.text
    patched = response.json()
    assert patched["title"] == "Renamed" and patched["media_types"] == ["voice"]
    assert patched["description"] == "d" and patched["updated_at"] > job["updated_at"]

    weekly = {"kind": "weekly", "weekday": 0, "time": "06:00"}
    patched = (
        await world.api.patch(url, json={"schedule": weekly}, headers=world.alice.bearer)
    ).json()
    next_run = datetime.fromisoformat(patched["next_run_at"])
    assert next_run.weekday() == 0 and (next_run.hour, next_run.minute) == (6, 0)

    disabled = (
        await world.api.patch(url, json={"enabled": False}, headers=world.alice.bearer)
    ).json()
    assert disabled["enabled"] is False and disabled["next_run_at"] is None
    enabled = (
        await world.api.patch(url, json={"enabled": True}, headers=world.alice.bearer)
    ).json()
    assert enabled["next_run_at"] == patched["next_run_at"]

    all_media = (
        await world.api.patch(url, json={"media_types": None}, headers=world.alice.bearer)
    ).json()
    assert all_media["media_types"] is None

    # The merged job must be valid: media types do not apply to contacts.
    again = await world.api.patch(url, json={"media_types": ["voice"]}, headers=world.alice.bearer)
    assert again.status_code == 200
    bad = await world.api.patch(url, json={"type": "contact"}, headers=world.alice.bearer)
    assert bad.status_code == 422 and bad.json()["error"] == "invalid"
    assert "media_types" in bad.json()["detail"]
    for body in ({"split_size_bytes": 10}, {"schedule": {"kind": "once"}}, {"owner": "x"}):
        refused = await world.api.patch(url, json=body, headers=world.alice.bearer)
        assert refused.status_code == 422, body
    unchanged = (await world.api.get(url, headers=world.alice.bearer)).json()
    assert unchanged["type"] == "interaction" and unchanged["split_size_bytes"] == 1 << 30


async def test_an_admin_may_edit_a_users_job(world: World) -> None:
    bobs = await create(world, world.bob)
    url = f"/api/v1/jobs/{bobs['id']}"
    response = await world.api.patch(url, json={"title": "fixed"}, headers=world.admin.bearer)
    assert response.status_code == 200
    assert response.json()["owner"] == world.bob.user.id


async def test_delete_removes_the_job(world: World) -> None:
    job = await create(world, world.alice)
    url = f"/api/v1/jobs/{job['id']}"
    assert (await world.api.delete(url, headers=world.alice.bearer)).status_code == 204
    assert (await world.api.get(url, headers=world.alice.bearer)).status_code == 404
    assert (await world.api.delete(url, headers=world.alice.bearer)).status_code == 404


async def test_clone_copies_a_job_disabled_for_the_caller(world: World) -> None:
    job = await create(world, world.bob, schedule={"kind": "every_hours", "hours": 6})
    url = f"/api/v1/jobs/{job['id']}/clone"
    response = await world.api.post(url, headers=world.admin.bearer)
    assert response.status_code == 201, response.text
    clone = response.json()
    assert clone["id"] != job["id"] and clone["title"] == f"Copy of {job['title']}"
    assert clone["owner"] == world.admin.user.id  # the cloner owns the copy
    assert clone["enabled"] is False and clone["next_run_at"] is None
    assert clone["schedule"] == job["schedule"] and clone["type"] == job["type"]

    own = await world.api.post(
        f"/api/v1/jobs/{job['id']}/clone",
        json={"title": "Six-hourly", "enabled": True},
        headers=world.bob.bearer,
    )
    assert own.status_code == 201
    assert own.json()["title"] == "Six-hourly" and own.json()["next_run_at"] is not None


async def test_run_now_starts_the_first_run(world: World) -> None:
    await take_requests(world.vhost)
    job = await create(
        world,
        world.alice,
        run_now=True,
        media_types=["voice", "email"],
        split_size_bytes=5 << 20,
        timeframe={"start": "2025-01-01T00:00:00Z"},
    )
    assert job["run_id"] and job["last_run_id"] == job["run_id"]
    assert (
        job["latest_run"]["status"] == "queued" and job["latest_run"]["job_title"] == JOB["title"]
    )
    [request] = await take_requests(world.vhost)
    assert request.run_id == job["run_id"] and request.correlation_id == job["run_id"]
    assert request.owner == world.alice.user.id and request.tenant == world.alice.tenant.name
    assert request.ucs_tenant_id == world.alice.tenant.ucs_tenant_id
    assert request.record_type == "interaction" and request.media_types == ["email", "voice"]
    assert request.split_size_bytes == 5 << 20
    assert request.timeframe.start == datetime(2025, 1, 1, tzinfo=UTC)
    assert request.timeframe.end is None
    run = await world.deps.runs.get(job["run_id"])
    assert run.status == "queued" and run.job_id == job["id"]


async def test_a_job_is_run_on_request(world: World) -> None:
    job = await create(
        world, world.alice, type="contact", schedule={"kind": "daily", "time": "03:00"}
    )
    await take_requests(world.vhost)
    response = await world.api.post(f"/api/v1/jobs/{job['id']}/runs", headers=world.alice.bearer)
    assert response.status_code == 202, response.text
    run = response.json()
    assert run["status"] == "queued" and run["job_id"] == job["id"] and run["type"] == "contact"
    assert run["progress"]["percent"] == 0.0 and run["artifact_ids"] == []
    [request] = await take_requests(world.vhost)
    assert request.run_id == run["id"] and request.record_type == "contact"
    listed = (await world.api.get(f"/api/v1/jobs/{job['id']}", headers=world.alice.bearer)).json()
    assert listed["last_run_id"] == run["id"] and listed["latest_run"]["id"] == run["id"]


async def test_an_admin_runs_a_users_job_sealed_for_the_owner(world: World) -> None:
    other = await create(world, world.alice)
    await take_requests(world.vhost)
    response = await world.api.post(f"/api/v1/jobs/{other['id']}/runs", headers=world.admin.bearer)
    assert response.status_code == 202
    [request] = await take_requests(world.vhost)
    assert request.owner == world.alice.user.id


async def test_since_previous_runs_continue_where_the_last_one_stopped(world: World) -> None:
    job = await create(
        world,
        world.alice,
        timeframe={"kind": "since_previous", "start": "2024-06-01T00:00:00Z"},
    )
    url = f"/api/v1/jobs/{job['id']}/runs"
    await take_requests(world.vhost)
    first = (await world.api.post(url, headers=world.alice.bearer)).json()
    second = (await world.api.post(url, headers=world.alice.bearer)).json()
    assert first["timeframe"]["start"] == "2024-06-01T00:00:00Z"
    assert second["timeframe"]["start"] == first["timeframe"]["end"]
    assert second["timeframe"]["end"] > second["timeframe"]["start"]
    # A failed run's window is exported again by the next run.
    await world.deps.runs.transition(second["id"], ("queued",), "failed", error="boom")
    third = (await world.api.post(url, headers=world.alice.bearer)).json()
    assert third["timeframe"]["start"] == first["timeframe"]["end"]
    assert len(await take_requests(world.vhost)) == 3


async def test_no_certificate_no_run_and_nothing_created(world: World) -> None:
    before = (await world.api.get("/api/v1/jobs", headers=world.bob.bearer)).json()["total"]
    response = await world.api.post(
        "/api/v1/jobs", json={**JOB, "run_now": True}, headers=world.bob.bearer
    )
    assert response.status_code == 409, response.text
    body = response.json()
    assert body["error"] == "certificate_required" and body["link"] == "/preferences"
    assert "upload one in User preferences" in body["detail"]
    assert world.bob.username in body["detail"]
    after = (await world.api.get("/api/v1/jobs", headers=world.bob.bearer)).json()["total"]
    assert after == before

    job = await create(world, world.bob)
    refused = await world.api.post(f"/api/v1/jobs/{job['id']}/runs", headers=world.bob.bearer)
    assert refused.status_code == 409 and refused.json()["error"] == "certificate_required"
    runs = await world.api.get(
        "/api/v1/runs", params={"job_id": job["id"]}, headers=world.bob.bearer
    )
    assert runs.json()["total"] == 0
    assert await take_requests(world.vhost) == []


async def test_broker_down_is_a_503_and_leaves_nothing(stack: StackInfo, world: World) -> None:
    """A gateway whose RabbitMQ virtual host is stopped: nothing is confirmed, nothing kept."""
    with temporary_vhost(stack) as vhost:
        async with private_gateway(stack, vhost) as gateway, gateway.client() as api:
            user = await sign_in(api, await new_user(gateway, await new_tenant(gateway)))
            cert, _ = rsa_certificate()
            await gateway.deps.certificates.put(CertificateRecord.of(user.user.id, cert))
            job = (await api.post("/api/v1/jobs", json=JOB, headers=user.bearer)).json()
            delete_vhost(stack, vhost)

            response = await api.post(f"/api/v1/jobs/{job['id']}/runs", headers=user.bearer)
            assert response.status_code == 503, response.text
            assert response.json() == {
                "error": "service_unavailable",
                "detail": "the export service is unavailable; nothing was started — try again "
                "shortly",
            }
            created = await api.post(
                "/api/v1/jobs", json={**JOB, "title": "x", "run_now": True}, headers=user.bearer
            )
            assert created.status_code == 503
            jobs = (await api.get("/api/v1/jobs", headers=user.bearer)).json()
            assert [j["id"] for j in jobs["items"]] == [job["id"]]  # the run_now job is gone
            assert jobs["items"][0]["last_run_id"] is None
            assert await gateway.deps.documents.collection("runs").count({}) == 0
            failures = await gateway.deps.audit.find(action="run.start")
            assert len(failures) == 2 and {e.outcome for e in failures} == {"failure"}


async def test_a_signed_out_caller_gets_401(world: World) -> None:
    response = await world.api.get("/api/v1/jobs")
    assert response.status_code == 401


async def test_a_browser_must_send_the_csrf_token(world: World) -> None:
    cookie_only = {"Cookie": world.alice.cookie["Cookie"]}
    refused = await world.api.post("/api/v1/jobs", json=JOB, headers=cookie_only)
    assert refused.status_code == 403 and refused.json()["error"] == "csrf"
    accepted = await world.api.post("/api/v1/jobs", json=JOB, headers=world.alice.cookie)
    assert accepted.status_code == 201
    world.api.cookies.clear()


async def test_job_changes_are_audited(world: World) -> None:
    job = await create(world, world.alice, title="audited")
    url = f"/api/v1/jobs/{job['id']}"
    await world.api.patch(url, json={"description": "x"}, headers=world.alice.bearer)
    clone = (await world.api.post(f"{url}/clone", headers=world.alice.bearer)).json()
    await world.api.delete(url, headers=world.alice.bearer)
    events = await world.deps.audit.find(target=job["id"])
    assert [e.action for e in reversed(events)] == ["job.create", "job.update", "job.delete"]
    assert all(e.actor == world.alice.username for e in events)
    assert events[1].detail == {"fields": ["description"]}
    cloned = await world.deps.audit.find(target=clone["id"], action="job.clone")
    assert cloned[0].detail == {"source_job": job["id"]}
