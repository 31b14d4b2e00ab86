"""Downloads in redirect mode (``CDDS_GATEWAY__DOWNLOAD_MODE=redirect``) against the real
servers: the gateway checks and audits, then answers 307 to a presigned MinIO URL signed for
``CDDS_MINIO__PUBLIC_ENDPOINT``, which serves the exact bytes (and the client's own ``Range``).
What it refuses is refused as in proxy mode: 410 for a file gone, 404 for someone else's."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import SecretStr

from cdds_gateway.app import create_app
from cdds_shared.adapters.minio_store import MinioObjectStore
from cdds_shared.adapters.mongo import MongoDocumentStore
from tests.gateway.conftest import Gateway, gateway_settings
from tests.gateway.jobs_fixtures import World, make_artifact, make_run, world
from tests.infra import StackInfo
from tests.infra.isolation import temporary_vhost

pytestmark = pytest.mark.integration
__all__ = ["jobs_gateway", "jobs_vhost", "world"]


def public_endpoint(stack: StackInfo) -> str:
    """Another name of the same MinIO, so the URL shows which endpoint it was signed for."""
    return stack.minio_endpoint.replace("127.0.0.1", "localhost")


@pytest.fixture(scope="module")
def jobs_vhost(stack: StackInfo) -> Iterator[str]:
    with temporary_vhost(stack) as url:
        yield url


@pytest.fixture(scope="module")
async def jobs_gateway(stack: StackInfo, jobs_vhost: str) -> AsyncIterator[Gateway]:
    """The ``world``'s gateway, in redirect mode, with a public endpoint of MinIO."""
    settings = gateway_settings(
        stack, uuid.uuid4().hex[:10], scheduler_interval_seconds=3600, download_mode="redirect"
    )
    settings = settings.model_copy(
        update={
            "rabbit": settings.rabbit.model_copy(update={"url": SecretStr(jobs_vhost)}),
            "minio": settings.minio.model_copy(update={"public_endpoint": public_endpoint(stack)}),
        }
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        running = Gateway(app, settings)
        try:
            yield running
        finally:
            documents, objects = running.deps.documents, running.deps.objects
            assert isinstance(documents, MongoDocumentStore)
            await documents.drop_database()
            assert isinstance(objects, MinioObjectStore)
            await objects.remove_bucket()


@pytest.fixture
async def outside() -> AsyncIterator[httpx.AsyncClient]:
    """A client of the real network, for the object store the redirect points at."""
    async with httpx.AsyncClient(timeout=30) as http:
        yield http


def content(artifact_id: str) -> str:
    return f"/api/v1/artifacts/{artifact_id}/content"


async def downloads(world: World, artifact_id: str) -> list[dict[str, Any]]:
    events = await world.deps.audit.find(action="artifact.download", target=artifact_id)
    return [e.detail for e in events]


async def test_the_redirect_leads_to_the_exact_bytes(
    world: World, stack: StackInfo, outside: httpx.AsyncClient
) -> None:
    run = await make_run(world, world.alice)
    artifact, data = await make_artifact(world, run, data=bytes(range(256)) * 4000)
    response = await world.api.get(content(artifact.id), headers=world.alice.bearer)
    assert response.status_code == 307, response.text
    assert response.content == b""
    assert response.headers["cache-control"] == "no-store"
    location = response.headers["location"]
    url = urlsplit(location)
    assert url.netloc == public_endpoint(stack)
    assert url.path == f"/{world.gateway.settings.minio.bucket}/{artifact.object_key}"
    assert parse_qs(url.query)["X-Amz-Expires"] == ["60"]
    [event] = await world.deps.audit.find(action="artifact.download", target=artifact.id)
    assert event.actor == world.alice.username
    assert event.detail == {"bytes": len(data), "name": artifact.name, "via": "redirect"}

    fetched = await outside.get(location)  # no credentials but the URL's own
    assert fetched.status_code == 200 and fetched.content == data
    assert fetched.headers["content-type"] == "application/pkcs7-mime"
    assert fetched.headers["content-disposition"] == f'attachment; filename="{artifact.name}"'


async def test_a_range_is_sent_to_the_store_and_audited(
    world: World, outside: httpx.AsyncClient
) -> None:
    run = await make_run(world, world.alice)
    artifact, data = await make_artifact(world, run, data=bytes(range(200)) * 6)
    # As the cdds client resumes: Range and If-Range with the ETag, to both hops.
    wanted = {"Range": "bytes=1000-", "If-Range": f'"{artifact.sha256}"'}
    response = await world.api.get(content(artifact.id), headers={**world.alice.bearer, **wanted})
    assert response.status_code == 307
    fetched = await outside.get(response.headers["location"], headers=wanted)
    assert fetched.status_code == 206 and fetched.content == data[1000:]
    assert fetched.headers["content-range"] == "bytes 1000-1199/1200"
    assert await downloads(world, artifact.id) == [
        {"bytes": 200, "name": artifact.name, "range": "bytes 1000-1199/1200", "via": "redirect"}
    ]
    # A range the store would answer otherwise is streamed by the gateway as before.
    several = await world.api.get(
        content(artifact.id), headers={**world.alice.bearer, "Range": "bytes=0-1,5-6"}
    )
    assert several.status_code == 200 and several.content == data


async def test_a_browser_is_redirected_too(world: World, outside: httpx.AsyncClient) -> None:
    # The Artifacts page links each file to this route; the session cookie signs it in.
    run = await make_run(world, world.alice)
    artifact, data = await make_artifact(world, run)
    response = await world.api.get(content(artifact.id), headers=world.alice.cookie)
    assert response.status_code == 307
    assert (await outside.get(response.headers["location"])).content == data


async def test_a_file_gone_is_410_and_no_redirect(world: World) -> None:
    run = await make_run(world, world.alice)
    expired, _ = await make_artifact(world, run, 0, last=False, expires_in=timedelta(seconds=-5))
    deleted, _ = await make_artifact(world, run, 1, last=False)
    vanished, _ = await make_artifact(world, run, 2)
    auth = world.alice.bearer
    assert (await world.api.delete(f"/api/v1/artifacts/{deleted.id}", headers=auth)).is_success
    await world.deps.objects.delete(vanished.object_key)  # e.g. the lifecycle backstop
    for artifact in (expired, deleted, vanished):
        response = await world.api.get(content(artifact.id), headers=auth)
        assert response.status_code == 410, artifact.name
        assert "location" not in response.headers
        assert response.json()["error"] == "gone"
        assert await downloads(world, artifact.id) == []


async def test_nobody_else_is_redirected(world: World) -> None:
    run = await make_run(world, world.alice)
    artifact, _ = await make_artifact(world, run)
    for who in (world.bob, world.carol):
        response = await world.api.get(content(artifact.id), headers=who.bearer)
        assert response.status_code == 404, who.username
        assert "location" not in response.headers
    assert await downloads(world, artifact.id) == []


async def test_the_openapi_document_describes_the_redirect(world: World) -> None:
    document = (await world.api.get("/api/openapi.json")).json()
    answers = document["paths"]["/api/v1/artifacts/{artifact_id}/content"]["get"]["responses"]
    assert "redirect" in answers["307"]["description"]
    assert "Location" in answers["307"]["headers"]
