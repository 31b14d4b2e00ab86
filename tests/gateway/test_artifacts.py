"""`/api/v1/artifacts`: the files with their remaining days, downloads streamed from MinIO with
Range / ETag / If-None-Match, 410 once expired or deleted, multi-select ZIP, deletion — each
download and deletion audited, and nobody else's file ever found."""

from __future__ import annotations

import io
import zipfile
from datetime import datetime, timedelta
from typing import Any

import pytest

from cdds_gateway.usecases.views import remaining_days
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


def content(artifact_id: str) -> str:
    return f"/api/v1/artifacts/{artifact_id}/content"


async def listed(world: World, who: Any, **params: Any) -> list[dict[str, Any]]:
    response = await world.api.get("/api/v1/artifacts", params=params, headers=who.bearer)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_files_are_listed_with_their_remaining_days(world: World) -> None:
    run = await make_run(world, world.alice)
    fresh, _ = await make_artifact(world, run, 0, last=False, data=b"x" * 5000)
    older, _ = await make_artifact(
        world, run, 1, last=False, data=b"y" * 100, expires_in=timedelta(days=2, hours=1)
    )
    expired, _ = await make_artifact(world, run, 2, expires_in=timedelta(seconds=-1))
    items = await listed(world, world.alice, run_id=run.id)
    assert [a["id"] for a in items] == [older.id, fresh.id]  # newest first
    by_id = {a["id"]: a for a in items}
    assert by_id[fresh.id]["remaining_days"] == 30 and by_id[older.id]["remaining_days"] == 3
    view = by_id[fresh.id]
    assert view["name"] == fresh.name and view["size"] == 5000 and view["sha256"] == fresh.sha256
    assert (
        view["run_id"] == run.id and view["type"] == "interaction" and view["status"] == "available"
    )
    assert view["records"] == {f"Interaction-{run.id}.jsonl": 10}
    assert view["content_url"] == content(fresh.id)
    by_size = await listed(world, world.alice, run_id=run.id, sort="size", order="asc")
    assert [a["id"] for a in by_size] == [older.id, fresh.id]
    by_name = await listed(world, world.alice, run_id=run.id, sort="name", order="desc")
    assert [a["id"] for a in by_name] == [older.id, fresh.id]
    # An expired file is not listed, but its details say so.
    response = await world.api.get(f"/api/v1/artifacts/{expired.id}", headers=world.alice.bearer)
    assert response.status_code == 200
    assert response.json()["status"] == "expired" and response.json()["remaining_days"] == 0
    bad = await world.api.get(
        "/api/v1/artifacts", params={"sort": "colour"}, headers=world.alice.bearer
    )
    assert bad.status_code == 422


async def test_a_file_downloads_whole_with_its_headers(world: World) -> None:
    run = await make_run(world, world.alice)
    artifact, data = await make_artifact(world, run, data=bytes(range(256)) * 4000)
    response = await world.api.get(content(artifact.id), headers=world.alice.bearer)
    assert response.status_code == 200
    assert response.content == data
    headers = response.headers
    assert headers["content-length"] == str(len(data))
    assert headers["etag"] == f'"{artifact.sha256}"'
    assert headers["content-disposition"] == f'attachment; filename="{artifact.name}"'
    assert headers["accept-ranges"] == "bytes"
    assert headers["content-type"] == "application/pkcs7-mime"
    [event] = await world.deps.audit.find(action="artifact.download", target=artifact.id)
    assert event.actor == world.alice.username and event.tenant == world.alice.tenant.name
    assert event.detail == {"bytes": len(data), "name": artifact.name}


@pytest.mark.parametrize(
    ("range_", "start", "end"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=1000-", 1000, 1199),
        ("bytes=-50", 1150, 1199),
        ("bytes=1190-5000", 1190, 1199),
    ],
)
async def test_a_range_is_partial_content(world: World, range_: str, start: int, end: int) -> None:
    run = await make_run(world, world.alice)
    artifact, data = await make_artifact(world, run, data=bytes(range(200)) * 6)
    response = await world.api.get(
        content(artifact.id), headers={**world.alice.bearer, "Range": range_}
    )
    assert response.status_code == 206
    assert response.content == data[start : end + 1]
    assert response.headers["content-range"] == f"bytes {start}-{end}/1200"
    assert response.headers["content-length"] == str(end - start + 1)
    [event] = await world.deps.audit.find(action="artifact.download", target=artifact.id)
    assert event.detail["range"] == f"bytes {start}-{end}/1200"


async def test_ranges_it_cannot_or_will_not_serve(world: World) -> None:
    run = await make_run(world, world.alice)
    artifact, data = await make_artifact(world, run, data=b"z" * 1000)
    url, auth = content(artifact.id), world.alice.bearer
    for beyond in ("bytes=1000-", "bytes=5000-6000", "bytes=-0"):
        response = await world.api.get(url, headers={**auth, "Range": beyond})
        assert response.status_code == 416, beyond
        assert response.headers["content-range"] == "bytes */1000"
        assert response.json()["error"] == "range_not_satisfiable"
    # Several ranges, another unit or nonsense: the whole file (RFC 9110 §14.2 allows it).
    for ignored in ("bytes=0-1,5-6", "items=0-1", "bytes=abc", "bytes=9-3"):
        response = await world.api.get(url, headers={**auth, "Range": ignored})
        assert response.status_code == 200 and response.content == data, ignored
    # If-Range with another ETag: the file changed for the client, so all of it.
    stale = await world.api.get(url, headers={**auth, "Range": "bytes=0-9", "If-Range": '"0000"'})
    assert stale.status_code == 200 and len(stale.content) == 1000
    fresh = await world.api.get(
        url, headers={**auth, "Range": "bytes=0-9", "If-Range": f'"{artifact.sha256}"'}
    )
    assert fresh.status_code == 206 and fresh.content == data[:10]


async def test_if_none_match_is_not_modified(world: World) -> None:
    run = await make_run(world, world.alice)
    artifact, _ = await make_artifact(world, run)
    etag = f'"{artifact.sha256}"'
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        response = await world.api.get(
            content(artifact.id), headers={**world.alice.bearer, "If-None-Match": header}
        )
        assert response.status_code == 304, header
        assert response.content == b"" and response.headers["etag"] == etag
    other = await world.api.get(
        content(artifact.id), headers={**world.alice.bearer, "If-None-Match": '"x"'}
    )
    assert other.status_code == 200
    assert len(await world.deps.audit.find(action="artifact.download", target=artifact.id)) == 1


async def test_an_expired_file_is_gone(world: World) -> None:
    run = await make_run(world, world.alice)
    artifact, _ = await make_artifact(world, run, expires_in=timedelta(seconds=-5))
    response = await world.api.get(content(artifact.id), headers=world.alice.bearer)
    assert response.status_code == 410
    expired_on = f"{artifact.expires_at:%Y-%m-%d %H:%M} UTC"
    assert response.json() == {
        "error": "gone",
        "detail": f"this file expired on {expired_on} and was deleted",
    }
    assert await world.deps.audit.find(action="artifact.download", target=artifact.id) == []


async def test_a_file_whose_object_vanished_is_gone(world: World) -> None:
    run = await make_run(world, world.alice)
    artifact, _ = await make_artifact(world, run)
    await world.deps.objects.delete(artifact.object_key)  # e.g. the lifecycle backstop
    response = await world.api.get(content(artifact.id), headers=world.alice.bearer)
    assert response.status_code == 410 and response.json()["error"] == "gone"


async def test_nobody_else_finds_a_file(world: World) -> None:
    run = await make_run(world, world.alice)
    artifact, data = await make_artifact(world, run)
    for who in (world.bob, world.carol):
        assert artifact.id not in {a["id"] for a in await listed(world, who, limit=500)}
        for method, url in (
            ("GET", f"/api/v1/artifacts/{artifact.id}"),
            ("GET", content(artifact.id)),
            ("DELETE", f"/api/v1/artifacts/{artifact.id}"),
        ):
            response = await world.api.request(method, url, headers=who.bearer)
            assert response.status_code == 404, (who.username, method, url)
            assert response.json()["error"] == "not_found"
        zipped = await world.api.post(
            "/api/v1/artifacts/download", json={"ids": [artifact.id]}, headers=who.bearer
        )
        assert zipped.status_code == 404
    assert (await world.api.get(content("nope"), headers=world.alice.bearer)).status_code == 404
    # The tenant's admin may fetch it (sealed for alice, useless to anyone else) …
    assert artifact.id in {a["id"] for a in await listed(world, world.admin, limit=500)}
    as_admin = await world.api.get(content(artifact.id), headers=world.admin.bearer)
    assert as_admin.status_code == 200 and as_admin.content == data
    # … and the owner still has it.
    assert (
        await world.api.get(content(artifact.id), headers=world.alice.bearer)
    ).status_code == 200


async def test_delete_a_file(world: World) -> None:
    run = await make_run(world, world.alice)
    artifact, _ = await make_artifact(world, run)
    url = f"/api/v1/artifacts/{artifact.id}"
    assert (await world.api.delete(url, headers=world.alice.bearer)).status_code == 204
    assert [o async for o in world.deps.objects.list(artifact.object_key)] == []
    assert (
        await world.api.get(content(artifact.id), headers=world.alice.bearer)
    ).status_code == 410
    details = (await world.api.get(url, headers=world.alice.bearer)).json()
    assert details["status"] == "deleted"
    assert artifact.id not in {a["id"] for a in await listed(world, world.alice, limit=500)}
    assert (await world.api.delete(url, headers=world.alice.bearer)).status_code == 204  # again
    [event] = await world.deps.audit.find(action="artifact.delete", target=artifact.id)
    assert event.actor == world.alice.username


async def test_many_files_download_as_one_zip(world: World) -> None:
    run = await make_run(world, world.alice)
    files = [await make_artifact(world, run, part, last=part == 2) for part in range(3)]
    ids = [a.id for a, _ in files]
    response = await world.api.post(
        "/api/v1/artifacts/download", json={"ids": [*ids, ids[0]]}, headers=world.alice.bearer
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["content-disposition"].startswith('attachment; filename="cdds-3-files-')
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert archive.testzip() is None
        assert archive.namelist() == [a.name for a, _ in files]
        for artifact, data in files:
            assert archive.read(artifact.name) == data
            assert archive.getinfo(artifact.name).compress_type == zipfile.ZIP_STORED
    events = await world.deps.audit.find(action="artifact.download")
    assert {e.target for e in events if e.detail.get("via") == "zip"} >= set(ids)


async def test_a_zip_is_all_or_nothing(world: World) -> None:
    run = await make_run(world, world.alice)
    good, _ = await make_artifact(world, run, 0, last=False)
    expired, _ = await make_artifact(world, run, 1, expires_in=timedelta(seconds=-1))
    url, auth = "/api/v1/artifacts/download", world.alice.bearer
    unknown = await world.api.post(url, json={"ids": [good.id, "nope"]}, headers=auth)
    assert unknown.status_code == 404 and "nope" in unknown.json()["detail"]
    gone = await world.api.post(url, json={"ids": [good.id, expired.id]}, headers=auth)
    assert gone.status_code == 410 and expired.name in gone.json()["detail"]
    for ids in ([], [f"a{i}" for i in range(101)]):
        assert (await world.api.post(url, json={"ids": ids}, headers=auth)).status_code == 422


async def test_many_files_are_deleted_at_once(world: World) -> None:
    run = await make_run(world, world.alice)
    first, _ = await make_artifact(world, run, 0, last=False)
    second, _ = await make_artifact(world, run, 1)
    url, auth = "/api/v1/artifacts/delete", world.alice.bearer
    refused = await world.api.post(url, json={"ids": [first.id, "nope"]}, headers=auth)
    assert refused.status_code == 404
    assert (await world.deps.runs.find_artifact(first.id)).status == "available"  # type: ignore[union-attr]
    response = await world.api.post(url, json={"ids": [first.id, second.id]}, headers=auth)
    assert response.status_code == 200 and response.json() == {"deleted": 2}
    assert await listed(world, world.alice, run_id=run.id) == []


def test_remaining_days_count_down_to_zero() -> None:
    now = datetime(2026, 1, 1, 12, 0)
    assert remaining_days(now + timedelta(days=30), now) == 30
    assert remaining_days(now + timedelta(days=29, hours=23), now) == 30
    assert remaining_days(now + timedelta(hours=1), now) == 1
    assert remaining_days(now, now) == 0
    assert remaining_days(now - timedelta(days=3), now) == 0
