"""The gateway's metrics in memory (unit: no server): HTTP requests by route template (never
the raw path) and status with their latency, ``/metrics`` outside the OpenAPI document, and a
download's bytes counted as they are sent."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI, HTTPException

from cdds_gateway.deps import GatewayDeps
from cdds_gateway.metrics import GatewayMetrics, install
from cdds_gateway.usecases.artifacts import open_download
from cdds_shared.settings import Settings
from tests.fakes import FakeDocumentStore, FakeObjectStore, RecordingPublisher
from tests.gateway.test_download_modes_unit import ALICE, alices_file
from tests.prometheus import Scrape, parse

pytestmark = pytest.mark.unit


def app_with_metrics() -> FastAPI:
    app = FastAPI()

    @app.get("/api/v1/runs/{run_id}")
    async def get_run(run_id: str) -> dict[str, str]:
        if run_id == "missing":
            raise HTTPException(404)
        return {"id": run_id}

    install(app, GatewayMetrics())
    return app


async def scrape(client: httpx.AsyncClient) -> Scrape:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


async def test_requests_are_counted_by_route_template_and_status() -> None:
    app = app_with_metrics()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as c:
        for run_id in ("a1", "b2", "missing"):
            await c.get(f"/api/v1/runs/{run_id}")
        await c.get("/no/such/page/3f9a")
        s = await scrape(c)
    route = "/api/v1/runs/{run_id}"
    requests = "cdds_http_requests_total"
    assert s.value(requests, method="GET", route=route, status="200") == 2
    assert s.value(requests, method="GET", route=route, status="404") == 1
    assert s.value(requests, method="GET", route="unmatched", status="404") == 1
    assert s.value("cdds_http_request_duration_seconds_count", method="GET", route=route) == 3
    labels = {v for (_, ls) in s.samples for k, v in ls if k == "route"}
    assert not any(v in label for label in labels for v in ("a1", "b2", "missing", "3f9a"))


async def test_metrics_is_not_in_the_openapi_document() -> None:
    assert "/metrics" not in app_with_metrics().openapi()["paths"]


async def test_each_app_counts_alone() -> None:
    one, two = app_with_metrics(), app_with_metrics()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(one), base_url="http://t") as c:
        await c.get("/api/v1/runs/x")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(two), base_url="http://t") as c:
        s = await scrape(c)
    assert s.total("cdds_http_requests_total", route="/api/v1/runs/{run_id}") == 0


async def test_a_streamed_download_counts_its_bytes_as_sent() -> None:
    deps = GatewayDeps.of(Settings(), FakeDocumentStore(), FakeObjectStore(), RecordingPublisher())
    artifact, data = await alices_file(deps, size=3000)
    found = await open_download(deps, ALICE, artifact.id, range_header="bytes=0-999")
    assert found.status == 206 and found.body is not None
    registry = deps.metrics.registry
    bytes_served = {"via": "stream"}
    assert registry.get_sample_value("cdds_gateway_downloads_total", bytes_served) == 1
    assert registry.get_sample_value("cdds_gateway_download_bytes_total", bytes_served) == 0
    assert b"".join([chunk async for chunk in found.body]) == data[:1000]
    assert registry.get_sample_value("cdds_gateway_download_bytes_total", bytes_served) == 1000
