"""The main job end to end through the REST API: sign in, upload a certificate, create a job
that runs now, watch its progress until it completes, download its file (whole and by ranges),
and open it with stock ``openssl cms -decrypt`` — with the real exporter and encryptor processes
on a private virtual host, database, bucket and UCS database."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import subprocess
import time
import uuid
import zipfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from cdds_shared.ucs.migrate import migrate
from cdds_shared.ucs.seed import seed
from cdds_tools.identity import make_identity
from cdds_tools.workers import WorkerProcess
from tests.gateway.conftest import Gateway, new_user, sign_in
from tests.gateway.jobs_fixtures import private_gateway
from tests.infra import StackInfo
from tests.infra.isolation import create_database, drop_database, temporary_vhost

pytestmark = [pytest.mark.integration, pytest.mark.slow]

INTERACTIONS, CONTACTS = 600, 80


@pytest.fixture(scope="module")
def ucs(stack: StackInfo) -> Iterator[tuple[str, int]]:
    name = f"ucs_api_{uuid.uuid4().hex[:10]}"
    dsn = create_database(stack.ucs_dsn, name)
    try:
        migrate(dsn)
        tenant_id = random.randrange(10_000, 99_999)
        seed(dsn, tenant_id, CONTACTS, INTERACTIONS, seed=11)
        yield dsn, tenant_id
    finally:
        drop_database(stack.ucs_dsn, name)


@pytest.fixture(scope="module")
async def pipeline(
    stack: StackInfo, ucs: tuple[str, int], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Gateway]:
    """The gateway in-process, the exporter and encryptor as processes, on the same corner."""
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
                "CDDS_EXPORT__PARTITION_RECORDS": "250",
            }
            workers = [WorkerProcess(s, env, logs / f"{s}.log") for s in ("exporter", "encryptor")]
            try:
                for worker in workers:
                    await asyncio.to_thread(worker.start)
                yield gateway
            finally:
                for worker in workers:
                    await asyncio.to_thread(worker.stop)


def openssl_decrypt(sealed: Path, key: Path) -> Path:
    out = sealed.with_suffix("")  # .zip.p7m -> .zip
    command = ["openssl", "cms", "-decrypt", "-binary", "-inform", "DER"]
    subprocess.run(
        [*command, "-in", str(sealed), "-inkey", str(key), "-out", str(out)],
        check=True,
        capture_output=True,
    )
    return out


async def test_an_export_through_the_api(
    pipeline: Gateway, ucs: tuple[str, int], tmp_path: Path
) -> None:
    _, tenant_id = ucs
    tenant = await pipeline.identity.create_tenant(f"acme-{uuid.uuid4().hex[:6]}", tenant_id)
    cert, key_path, _ = make_identity(tmp_path)
    async with pipeline.client() as api:
        user = await sign_in(api, await new_user(pipeline, tenant))
        auth = user.bearer

        # Given a certificate on file, uploaded as users do it
        uploaded = await api.put(
            "/api/v1/me/certificate",
            content=cert.public_bytes(Encoding.PEM),
            headers={**auth, "Content-Type": "application/x-pem-file"},
        )
        assert uploaded.status_code == 200, uploaded.text

        # When a job is created to run now, in files of at most 1 MiB (the minimum)
        body = {
            "title": "Everything",
            "type": "interaction",
            "run_now": True,
            "split_size_bytes": 1 << 20,
        }
        created = await api.post("/api/v1/jobs", json=body, headers=auth)
        assert created.status_code == 201, created.text
        run_id = created.json()["run_id"]

        # Then its progress can be watched until it completes
        seen: list[dict[str, Any]] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            run = (await api.get(f"/api/v1/runs/{run_id}", headers=auth)).json()
            seen.append(run)
            if run["status"] in ("completed", "failed", "no_data", "cancelled"):
                break
            await asyncio.sleep(0.2)
        assert run["status"] == "completed", run
        assert run["progress"]["percent"] == 100.0 and run["progress"]["eta_seconds"] is None
        assert run["progress"]["records"] == run["progress"]["estimated_total"] == INTERACTIONS
        assert run["files"] == len(run["artifact_ids"]) >= 1
        job = (await api.get(f"/api/v1/jobs/{created.json()['id']}", headers=auth)).json()
        assert job["latest_run"]["status"] == "completed"

        # And every file downloads, matches its SHA-256 and opens with openssl
        records: list[bytes] = []
        for artifact_id in run["artifact_ids"]:
            details = (await api.get(f"/api/v1/artifacts/{artifact_id}", headers=auth)).json()
            assert details["remaining_days"] == 30 and details["status"] == "available"
            url = f"/api/v1/artifacts/{artifact_id}/content"
            whole = await api.get(url, headers=auth)
            assert whole.status_code == 200
            assert hashlib.sha256(whole.content).hexdigest() == details["sha256"]
            assert whole.headers["etag"] == f'"{details["sha256"]}"'
            half = details["size"] // 2
            first = await api.get(url, headers={**auth, "Range": f"bytes=0-{half - 1}"})
            rest = await api.get(url, headers={**auth, "Range": f"bytes={half}-"})
            assert (first.status_code, rest.status_code) == (206, 206)
            assert first.content + rest.content == whole.content
            sealed = tmp_path / details["name"]
            sealed.write_bytes(whole.content)
            with zipfile.ZipFile(openssl_decrypt(sealed, key_path)) as archive:
                records += archive.read(f"Interaction-{run_id}.jsonl").splitlines()
        assert len({json.loads(r)["id"] for r in records}) == len(records) == INTERACTIONS
        assert {json.loads(r)["tenantId"] for r in records} == {tenant_id}

        manifest = (await api.get(f"/api/v1/runs/{run_id}/manifest", headers=auth)).json()
        assert [p["artifact_id"] for p in manifest["parts"]] == run["artifact_ids"]
        downloads = await pipeline.deps.audit.find(actor=user.username, action="artifact.download")
        assert len(downloads) == 3 * len(run["artifact_ids"])
