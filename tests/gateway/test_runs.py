"""`/api/v1/runs` (History): filters and sorting, progress with time left, manifest, deletion
(cancelling a run still going) and cloning — for the owner and the tenant's admins only."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from cdds_shared.runs import utcnow
from tests.gateway.jobs_fixtures import (
    World,
    jobs_gateway,
    jobs_vhost,
    make_artifact,
    make_run,
    take_requests,
    world,
)

pytestmark = pytest.mark.integration
__all__ = ["jobs_gateway", "jobs_vhost", "world"]


async def runs_of(world: World, who: Any, **params: Any) -> dict[str, Any]:
    response = await world.api.get("/api/v1/runs", params=params, headers=who.bearer)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_history_filters_and_sorts(world: World) -> None:
    job = (
        await world.api.post(
            "/api/v1/jobs", json={"title": "h", "type": "contact"}, headers=world.alice.bearer
        )
    ).json()
    base = utcnow() - timedelta(hours=1)
    done = await make_run(
        world, world.alice, job_id=job["id"], requested_at=base, record_type="contact"
    )
    failed = await make_run(
        world, world.alice, status="failed", requested_at=base + timedelta(minutes=1), error="boom"
    )
    queued = await make_run(
        world, world.alice, status="queued", requested_at=base + timedelta(minutes=2)
    )

    everything = await runs_of(world, world.alice)
    ids = [r["id"] for r in everything["items"]]
    assert ids.index(queued.id) < ids.index(failed.id) < ids.index(done.id)  # newest first
    oldest = await runs_of(world, world.alice, sort="requested_at", order="asc")
    assert [r["id"] for r in oldest["items"]] == list(reversed(ids))

    by_status = await runs_of(world, world.alice, status=["failed", "queued"])
    assert {r["id"] for r in by_status["items"]} >= {failed.id, queued.id}
    assert done.id not in {r["id"] for r in by_status["items"]}
    by_type = await runs_of(world, world.alice, type="contact")
    assert {r["id"] for r in by_type["items"]} == {done.id}
    by_job = await runs_of(world, world.alice, job_id=job["id"])
    assert [r["id"] for r in by_job["items"]] == [done.id]
    assert by_job["items"][0]["job_title"] == "h"
    page = await runs_of(world, world.alice, limit=1, offset=1)
    assert page["total"] == everything["total"] and [r["id"] for r in page["items"]] == ids[1:2]
    by_status_sort = await runs_of(world, world.alice, sort="status", order="asc")
    statuses = [r["status"] for r in by_status_sort["items"]]
    assert statuses == sorted(statuses)

    for params in ({"sort": "size"}, {"status": "paused"}, {"type": "voice"}, {"limit": 0}):
        response = await world.api.get("/api/v1/runs", params=params, headers=world.alice.bearer)
        assert response.status_code == 422, params


async def test_each_user_sees_their_runs_and_admins_the_tenants(world: World) -> None:
    alices = await make_run(world, world.alice)
    bobs = await make_run(world, world.bob)
    carols = await make_run(world, world.carol)
    seen = {
        who.username: {r["id"] for r in (await runs_of(world, who, limit=500))["items"]}
        for who in (world.alice, world.admin, world.carol)
    }
    alice, admin, carol = (seen[w.username] for w in (world.alice, world.admin, world.carol))
    assert alices.id in alice and bobs.id not in alice
    assert {alices.id, bobs.id} <= admin and carols.id not in admin
    assert carol.isdisjoint({alices.id, bobs.id})
    for who in (world.bob, world.carol):
        for method, url in (
            ("GET", f"/api/v1/runs/{alices.id}"),
            ("GET", f"/api/v1/runs/{alices.id}/manifest"),
            ("DELETE", f"/api/v1/runs/{alices.id}"),
            ("POST", f"/api/v1/runs/{alices.id}/clone"),
        ):
            response = await world.api.request(method, url, headers=who.bearer)
            assert response.status_code == 404, (who.username, method, url)
            assert response.json()["error"] == "not_found"
    assert (await world.api.get("/api/v1/runs/nope", headers=world.alice.bearer)).status_code == 404
    assert (
        await world.api.get(f"/api/v1/runs/{bobs.id}", headers=world.admin.bearer)
    ).status_code == 200


async def test_a_running_run_shows_progress_and_time_left(world: World) -> None:
    run = await make_run(
        world,
        world.alice,
        status="running",
        estimate=100,
        started_at=utcnow() - timedelta(seconds=60),
    )
    await make_artifact(world, run, 0, records=25, last=False)
    await world.deps.runs.record_partition_progress(run.id, 0, records=40)
    response = await world.api.get(f"/api/v1/runs/{run.id}", headers=world.alice.bearer)
    assert response.status_code == 200
    view = response.json()
    assert view["status"] == "running" and view["error"] is None
    progress = view["progress"]
    assert progress["percent"] == 25.0 and progress["records"] == 25
    assert progress["records_exported"] == 40 and progress["estimated_total"] == 100
    assert progress["parts"] == 1 and progress["bytes"] == 3000
    assert 170 <= progress["eta_seconds"] <= 190  # 60 s for 25 records, 75 to go
    assert view["artifact_ids"] == [f"{run.id}-000-000"] and view["files"] == 1


async def test_a_failed_run_says_why(world: World) -> None:
    run = await make_run(world, world.alice, status="failed", error="no certificate on file")
    view = (await world.api.get(f"/api/v1/runs/{run.id}", headers=world.alice.bearer)).json()
    assert view["status"] == "failed" and view["error"] == "no certificate on file"
    assert view["progress"]["eta_seconds"] is None


async def test_the_manifest_exists_once_the_run_completed(world: World) -> None:
    running = await make_run(world, world.alice, status="running")
    response = await world.api.get(
        f"/api/v1/runs/{running.id}/manifest", headers=world.alice.bearer
    )
    assert response.status_code == 409 and response.json()["error"] == "not_finished"
    done = await make_run(world, world.alice, status="completed")
    first, _ = await make_artifact(world, done, 0, last=False)
    second, _ = await make_artifact(world, done, 1)
    response = await world.api.get(f"/api/v1/runs/{done.id}/manifest", headers=world.alice.bearer)
    assert response.status_code == 200
    manifest = response.json()
    assert manifest["run_id"] == done.id
    assert [p["sha256"] for p in manifest["parts"]] == [first.sha256, second.sha256]
    assert manifest["totals"]["parts"] == 2


async def test_deleting_a_finished_run_deletes_its_files(world: World) -> None:
    run = await make_run(world, world.alice)
    artifact, _ = await make_artifact(world, run)
    response = await world.api.delete(f"/api/v1/runs/{run.id}", headers=world.alice.bearer)
    assert response.status_code == 204
    assert (
        await world.api.get(f"/api/v1/runs/{run.id}", headers=world.alice.bearer)
    ).status_code == 404
    assert run.id not in {r["id"] for r in (await runs_of(world, world.alice, limit=500))["items"]}
    assert [o async for o in world.deps.objects.list(f"artifacts/{run.tenant}/{run.id}/")] == []
    stored = await world.deps.runs.find_artifact(artifact.id)
    assert stored is not None and stored.status == "deleted"
    content = await world.api.get(
        f"/api/v1/artifacts/{artifact.id}/content", headers=world.alice.bearer
    )
    assert content.status_code == 410
    assert (await world.deps.runs.get(run.id)).status == "completed"  # the record stays
    [event] = await world.deps.audit.find(action="run.delete", target=run.id)
    assert event.actor == world.alice.username and event.detail == {"cancelled": False, "files": 1}


async def test_deleting_a_running_run_cancels_it_first(world: World) -> None:
    run = await make_run(world, world.alice, status="running")
    sealed, _ = await make_artifact(world, run, 0, last=False)
    staged = f"{world.gateway.settings.minio.staging_prefix}{run.id}/000-001-abcd"
    await world.deps.objects.put_bytes(staged, b"transit-encrypted")
    response = await world.api.delete(f"/api/v1/runs/{run.id}", headers=world.admin.bearer)
    assert response.status_code == 204
    stored = await world.deps.runs.get(run.id)
    assert (
        stored.status == "cancelled"
        and stored.error == f"cancelled: deleted by {world.admin.username}"
    )
    assert [
        o
        async for o in world.deps.objects.list(
            f"{world.gateway.settings.minio.staging_prefix}{run.id}/"
        )
    ] == []
    # A part the encryptor sealed just as the run was cancelled does not come back.
    late, _ = await make_artifact(world, run, 1)
    listed = await world.api.get(
        "/api/v1/artifacts", params={"run_id": run.id}, headers=world.alice.bearer
    )
    assert listed.json()["items"] == []
    everything = await world.api.get(
        "/api/v1/artifacts", params={"limit": 500}, headers=world.alice.bearer
    )
    assert late.id not in {a["id"] for a in everything.json()["items"]}
    gone = await world.api.get(f"/api/v1/artifacts/{late.id}/content", headers=world.alice.bearer)
    assert gone.status_code == 410
    assert [o async for o in world.deps.objects.list(f"artifacts/{run.tenant}/{run.id}/")] == []
    assert (await world.deps.runs.find_artifact(sealed.id)).status == "deleted"  # type: ignore[union-attr]
    [event] = await world.deps.audit.find(action="run.delete", target=run.id)
    assert event.detail["cancelled"] is True and event.actor == world.admin.username


async def test_clone_runs_the_same_export_again(world: World) -> None:
    job = (
        await world.api.post(
            "/api/v1/jobs",
            json={"title": "source", "type": "interaction", "media_types": ["chat"]},
            headers=world.alice.bearer,
        )
    ).json()
    run = await make_run(
        world, world.alice, job_id=job["id"], media_types=["chat"], split_size_bytes=2 << 20
    )
    await take_requests(world.vhost)
    response = await world.api.post(f"/api/v1/runs/{run.id}/clone", headers=world.alice.bearer)
    assert response.status_code == 201, response.text
    again = response.json()["run"]
    assert again["id"] != run.id and again["status"] == "queued" and again["job_id"] == job["id"]
    [request] = await take_requests(world.vhost)
    assert request.run_id == again["id"] and request.media_types == ["chat"]
    assert request.split_size_bytes == 2 << 20
    assert run.plan is not None and request.timeframe.end == run.plan.end  # the same records
    refreshed = (
        await world.api.get(f"/api/v1/jobs/{job['id']}", headers=world.alice.bearer)
    ).json()
    assert refreshed["last_run_id"] == again["id"]


async def test_clone_into_a_new_job(world: World) -> None:
    run = await make_run(world, world.bob, record_type="contact")
    response = await world.api.post(
        f"/api/v1/runs/{run.id}/clone",
        json={"target": "job", "title": "again"},
        headers=world.admin.bearer,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["run"] is None
    job = body["job"]
    assert (
        job["title"] == "again" and job["owner"] == world.admin.user.id and job["type"] == "contact"
    )
    assert job["timeframe"]["kind"] == "fixed" and job["timeframe"]["end"] is not None
    refused = await world.api.post(
        f"/api/v1/runs/{run.id}/clone", json={"target": "everything"}, headers=world.admin.bearer
    )
    assert refused.status_code == 422


async def test_cloning_needs_a_certificate(world: World) -> None:
    run = await make_run(world, world.bob)
    response = await world.api.post(f"/api/v1/runs/{run.id}/clone", headers=world.bob.bearer)
    assert response.status_code == 409 and response.json()["error"] == "certificate_required"
    assert (await runs_of(world, world.bob))["total"] >= 1
    assert await take_requests(world.vhost) == []
