"""``/metrics`` of the four services after a real export (docs/operations.md § Metrics): the
gateway in-process, the exporter, encryptor and janitor as processes, on a private virtual host,
database, bucket and UCS database. One run through the REST API, each file downloaded once, and
every counter moves by what that run did: one run started and completed, its records and parts
exported, sealed and downloaded, the HTTP requests by route template, the messages consumed and
acked per queue, the queue depths from the management API. The docs list exactly the metrics
the services export."""

from __future__ import annotations

import asyncio
import os
import random
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from cdds_shared.ucs.migrate import migrate
from cdds_shared.ucs.seed import seed
from cdds_tools.identity import make_identity
from cdds_tools.workers import WorkerProcess
from tests.gateway.conftest import Gateway, new_user, sign_in
from tests.gateway.jobs_fixtures import private_gateway
from tests.infra import StackInfo, free_port
from tests.infra.isolation import create_database, drop_database, temporary_vhost
from tests.prometheus import Scrape, parse
from tests.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.slow]

INTERACTIONS, CONTACTS = 600, 80
PARTITION_RECORDS = 250  # 3 partitions
ROOT = Path(__file__).resolve().parents[2]
WORKERS = ("exporter", "encryptor", "janitor")


@pytest.fixture(scope="module")
def ucs(stack: StackInfo) -> Iterator[tuple[str, int]]:
    name = f"ucs_metrics_{uuid.uuid4().hex[:10]}"
    dsn = create_database(stack.ucs_dsn, name)
    try:
        migrate(dsn)
        tenant_id = random.randrange(10_000, 99_999)
        seed(dsn, tenant_id, CONTACTS, INTERACTIONS, seed=13)
        yield dsn, tenant_id
    finally:
        drop_database(stack.ucs_dsn, name)


class Services:
    def __init__(self, gateway: Gateway, workers: dict[str, WorkerProcess]) -> None:
        self.gateway = gateway
        self.workers = workers

    async def scrape(self, service: str) -> Scrape:
        if service == "gateway":
            async with self.gateway.client() as api:
                response = await api.get("/metrics")
        else:
            port = self.workers[service].bound_port
            async with httpx.AsyncClient() as client:
                response = await client.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/plain")
        return parse(response.text)

    async def scrape_all(self) -> dict[str, Scrape]:
        return {s: await self.scrape(s) for s in ("gateway", *WORKERS)}


@pytest.fixture(scope="module")
async def services(
    stack: StackInfo, ucs: tuple[str, int], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Services]:
    dsn, _ = ucs
    logs = tmp_path_factory.mktemp("workers")
    with temporary_vhost(stack) as vhost:
        async with private_gateway(stack, vhost) as gateway:
            env = {k: v for k, v in os.environ.items() if not k.startswith("CDDS_")}
            env |= stack.env() | {
                "CDDS_ENVIRONMENT": "test",
                "CDDS_RABBIT__URL": vhost,
                "CDDS_MONGO__DATABASE": gateway.settings.mongo.database,
                "CDDS_MINIO__BUCKET": gateway.settings.minio.bucket,
                "CDDS_UCS__DSN": dsn,
                "CDDS_STARTUP_TIMEOUT_SECONDS": "10",
                "CDDS_EXPORT__PARTITION_RECORDS": str(PARTITION_RECORDS),
                "CDDS_EXPORT__WATCHDOG_INTERVAL_SECONDS": "1",
            }
            workers = {
                s: WorkerProcess(s, env, logs / f"{s}.log", port=free_port()) for s in WORKERS
            }
            try:
                for worker in workers.values():
                    await asyncio.to_thread(worker.start)
                yield Services(gateway, workers)
            finally:
                for worker in workers.values():
                    await asyncio.to_thread(worker.stop)


def grew(before: Scrape, after: Scrape, name: str, **labels: str) -> float:
    return after.total(name, **labels) - before.total(name, **labels)


async def export_and_download(
    services: Services, tenant_id: int, tmp_path: Path
) -> tuple[str, dict[str, Any], int, int]:
    """One run through the API, polled until completed, each file downloaded once. Returns the
    run id, the run, how often the run was polled, and the bytes downloaded."""
    gateway = services.gateway
    tenant = await gateway.identity.create_tenant(f"acme-{uuid.uuid4().hex[:6]}", tenant_id)
    cert, _, _ = make_identity(tmp_path)
    async with gateway.client() as api:
        auth = (await sign_in(api, await new_user(gateway, tenant))).bearer
        uploaded = await api.put(
            "/api/v1/me/certificate",
            content=cert.public_bytes(Encoding.PEM),
            headers={**auth, "Content-Type": "application/x-pem-file"},
        )
        assert uploaded.status_code == 200, uploaded.text
        body = {"title": "All", "type": "interaction", "run_now": True, "split_size_bytes": 1 << 20}
        created = await api.post("/api/v1/jobs", json=body, headers=auth)
        assert created.status_code == 201, created.text
        run_id = created.json()["run_id"]
        polls, deadline = 0, time.monotonic() + 120
        while True:
            run = (await api.get(f"/api/v1/runs/{run_id}", headers=auth)).json()
            polls += 1
            if run["status"] in ("completed", "failed", "no_data", "cancelled"):
                break
            assert time.monotonic() < deadline, run
            await asyncio.sleep(0.2)
        assert run["status"] == "completed", run
        served = 0
        for artifact_id in run["artifact_ids"]:
            got = await api.get(f"/api/v1/artifacts/{artifact_id}/content", headers=auth)
            assert got.status_code == 200
            served += len(got.content)
    return run_id, run, polls, served


async def test_a_run_moves_every_services_counters(
    services: Services, ucs: tuple[str, int], tmp_path: Path
) -> None:
    _, tenant_id = ucs
    before = await services.scrape_all()

    run_id, run, polls, served = await export_and_download(services, tenant_id, tmp_path)
    parts = len(run["artifact_ids"])
    assert parts >= 1

    # The gateway counts a run's end when its announcer takes the RunCompleted: awaited.
    gateway = await eventually(
        lambda: services.scrape("gateway"),
        lambda s: grew(before["gateway"], s, "cdds_runs_completed_total", status="completed") >= 1,
        timeout=30,
        what="cdds_runs_completed_total on the gateway",
    )
    after = {**await services.scrape_all(), "gateway": gateway}
    g, e, c, j = (after[s] for s in ("gateway", "exporter", "encryptor", "janitor"))
    bg, be, bc = before["gateway"], before["exporter"], before["encryptor"]

    # Runs (gateway): one started, one completed, none failed.
    assert grew(bg, g, "cdds_runs_started_total") == 1
    assert grew(bg, g, "cdds_runs_completed_total", status="completed") == 1
    assert grew(bg, g, "cdds_runs_failed_total") == 0
    # HTTP by route template (no run id in any label), downloads and their bytes.
    route = "/api/v1/runs/{run_id}"
    assert grew(bg, g, "cdds_http_requests_total", method="GET", route=route, status="200") == polls
    assert grew(bg, g, "cdds_http_requests_total", route="/api/v1/jobs", status="201") == 1
    assert not any(run_id in v for (_, ls) in g.samples for _, v in ls)
    assert grew(bg, g, "cdds_gateway_downloads_total", via="stream") == parts
    assert grew(bg, g, "cdds_gateway_download_bytes_total", via="stream") == served
    # Exporter: every record of the run in the parts it staged.
    assert grew(be, e, "cdds_exporter_records_exported_total") == INTERACTIONS
    assert grew(be, e, "cdds_exporter_parts_staged_total") == parts
    assert grew(be, e, "cdds_exporter_bytes_exported_total") > 0
    # Encryptor: each part sealed once, each seal timed.
    assert grew(bc, c, "cdds_encryptor_parts_sealed_total") == parts
    assert grew(bc, c, "cdds_encryptor_seal_duration_seconds_count") == parts
    assert grew(bc, c, "cdds_encryptor_bytes_sealed_total") == served
    # Messages per queue (FastStream's middleware): consumed and acked, nothing else. A
    # partition is dispatched once, but the dispatch backstop may publish a copy (harmless).
    processed = "faststream_received_processed_messages_total"
    for scrape, base, handler, count in (
        (e, be, "cdds.events.run.requested", 1),
        (e, be, "cdds.events.partition.export", 3),
        (c, bc, "cdds.events.part.staged", parts),
        (g, bg, "cdds.events.run.completed", 1),
    ):
        consumed = grew(base, scrape, "faststream_received_messages_total", handler=handler)
        exact = handler != "cdds.events.partition.export"
        assert consumed == count if exact else consumed >= count, (handler, consumed)
        assert grew(base, scrape, processed, handler=handler, status="acked") == consumed, handler
        assert grew(base, scrape, processed, handler=handler) == consumed, handler
    # Queue depths and dead letters (janitor, from the management API of this virtual host).
    assert j.value("cdds_rabbitmq_management_up") == 1
    depths = {dict(ls)["queue"] for n, ls in j.samples if n == "cdds_rabbitmq_queue_messages"}
    assert {"cdds.encryptor.part-staged", "cdds.exporter.export-partition"} <= depths
    assert j.value("cdds_rabbitmq_dead_letters", queue="cdds.encryptor.part-staged.dead") == 0
    assert j.has("cdds_rabbitmq_dead_letters")
    assert j.value("cdds_janitor_lifecycle_backstop_ok") == 1


def documented_metrics() -> set[str]:
    text = (ROOT / "docs/operations.md").read_text()
    section = text.split("\n## Metrics\n", 1)[1].split("\n## ", 1)[0]
    tables = section.split("### Alert rules", 1)[0]
    return set(re.findall(r"^\| `([a-z_]+)` \|", tables, flags=re.MULTILINE))


def exposed_metrics(scrape: Scrape) -> set[str]:
    """Family names as a query names them: a counter with its ``_total``."""
    return {
        f"{name}_total" if kind == "counter" else name
        for name, kind in scrape.families.items()
        if not name.endswith("_created")
    }


async def test_the_docs_list_exactly_the_metrics_the_services_export(
    services: Services,
) -> None:
    exposed: set[str] = set()
    for scrape in (await services.scrape_all()).values():
        exposed |= exposed_metrics(scrape)
    documented = documented_metrics()
    assert len(documented) > 30
    assert documented - exposed == set(), "documented but exported by no service"
    assert exposed - documented == set(), "exported but missing from docs/operations.md"
