"""Graceful shutdown on SIGTERM, as Kubernetes sends it (docs/operations.md, "Shutdown").

An exporter signalled mid-partition takes no new message, finishes or returns the one in flight
and exits with status 0 within the grace period; a new exporter carries on, and the run still
completes with exactly the source records — none lost, none twice. A gateway signalled
mid-download stops accepting connections (its readiness fails) while the download in flight
runs to its end, byte for byte, and then exits with status 0 within the grace period.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from cdds_shared.identity import IdentityStore
from cdds_shared.runs import Artifact, MemberCount, PartitionPlan, Plan, Run, artifact_id, utcnow
from cdds_shared.ucs.query import UcsQuery
from cdds_tools.workers import GRACE_SECONDS
from tests.e2e.pipeline import Pipeline, Worker, by_id
from tests.waiting import eventually_sync

pytestmark = [pytest.mark.integration, pytest.mark.slow]

INTERACTIONS, CONTACTS = 12_000, 100
# Small fetches and one message at a time keep a partition in flight long enough to signal.
WORKER_ENV = {
    "CDDS_UCS__FETCH_SIZE": "100",
    "CDDS_RABBIT__PREFETCH": "1",
    "CDDS_EXPORT__PARTITION_RECORDS": "4000",
}
SPLIT = 48 * 1024
PASSWORD = "correct horse battery staple"


async def _partition_in_progress(pipeline: Pipeline, run_id: str) -> bool:
    """Some partition has cut a part and has more to cut."""
    run = await pipeline.runs.get(run_id)
    for p in range(len(run.plan.partitions) if run.plan else 0):
        checkpoint = await pipeline.runs.last_checkpoint(run_id, p)
        if checkpoint is not None and not checkpoint["last"]:
            return True
    return False


def _exited_within_grace(worker: Worker, signalled_at: float) -> int:
    status = worker.wait(GRACE_SECONDS)
    took = time.monotonic() - signalled_at
    assert took < GRACE_SECONDS, f"{worker.service} took {took:.1f} s to exit"
    return status


async def test_exporter_sigterm_mid_partition_loses_nothing(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    # Given a run whose partition is being exported
    pipeline.worker("encryptor")
    await pipeline.give_certificate("alice")
    first = pipeline.worker("exporter")
    run_id = await pipeline.request("interaction", split=SPLIT)
    await pipeline.wait_until(lambda: _partition_in_progress(pipeline, run_id), bool, timeout=120)

    # When Kubernetes stops that exporter (SIGTERM) and starts another
    first.terminate()
    signalled_at = time.monotonic()
    pipeline.worker("exporter")

    # Then it finished or returned its partition and exited cleanly within the grace period
    assert _exited_within_grace(first, signalled_at) == 0, first.log.read_text()[-3000:]
    log = first.log.read_text()
    assert "shutdown: finishing messages in flight" in log, log[-3000:]
    assert "shutdown: no message in flight" in log, log[-3000:]

    # And the run completes with exactly the source records: none lost, none twice
    run = await pipeline.finished(run_id, timeout=300)
    assert run.status == "completed", run.error
    members = await pipeline.exported_records(run_id, tmp_path)
    records, attachments = await pipeline.source_records(
        UcsQuery(pipeline.tenant_id, "interaction")
    )
    assert by_id(members[f"Interaction-{run_id}.jsonl"]) == by_id(records)
    assert by_id(members[f"Interaction-Attachment-{run_id}.jsonl"]) == by_id(attachments)
    await pipeline.staging_emptied()


async def _a_large_file(pipeline: Pipeline, tenant: str, owner: str) -> tuple[Artifact, str]:
    """A completed run of ``owner`` with one 48 MiB file; its SHA-256."""
    now = utcnow()
    run = Run(
        id=uuid.uuid4().hex[:24],
        tenant=tenant,
        ucs_tenant_id=pipeline.other_tenant_id,
        owner=owner,
        record_type="interaction",
        split_size_bytes=64 << 20,
        status="completed",
        requested_at=now,
        started_at=now,
        finished_at=now,
        plan=Plan(
            planned_at=now,
            estimate=1,
            end=now,
            partitions=[PartitionPlan(after_id=None, until_id=None)],
            compression_level=6,
            zip_limit=64 << 20,
        ),
    )
    await pipeline.runs.insert(run)
    data = os.urandom(48 << 20)
    key = f"artifacts/{tenant}/{run.id}/0.p7m"
    await pipeline.objects.put_bytes(key, data)
    artifact = Artifact(
        id=artifact_id(run.id, 0, 0),
        run_id=run.id,
        tenant=tenant,
        owner=owner,
        record_type="interaction",
        partition=0,
        part=0,
        last_in_partition=True,
        name=f"Interaction-{run.id}-000-000.zip.p7m",
        object_key=key,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        members=[MemberCount(name=f"Interaction-{run.id}.jsonl", records=1)],
        seal="cms-authenveloped-aes256gcm-rsaoaep-sha256",
        certificate_sha256="1" * 64,
        created_at=now,
        expires_at=now + timedelta(days=30),
    )
    assert await pipeline.runs.add_artifact(artifact)
    return artifact, artifact.sha256


def _refused(base: str) -> bool:
    try:
        httpx.get(f"{base}/readyz", timeout=2)
    except httpx.ConnectError:
        return True
    return False


async def test_gateway_sigterm_mid_download_finishes_the_download(pipeline: Pipeline) -> None:
    # Given a signed-in user of a gateway process, and a large file of theirs
    identity = IdentityStore(pipeline.documents)
    tenant = await identity.create_tenant(f"t-{uuid.uuid4().hex[:8]}", pipeline.other_tenant_id)
    user = await identity.create_user(
        f"u-{uuid.uuid4().hex[:8]}", tenant.name, ["exporter"], PASSWORD
    )
    artifact, sha256 = await _a_large_file(pipeline, tenant.name, user.id)
    gateway = pipeline.worker("gateway")
    base = f"http://127.0.0.1:{gateway.bound_port}"
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        signed_in = await client.post(
            "/api/v1/session",
            json={"username": user.username, "tenant": tenant.name, "password": PASSWORD},
        )
        assert signed_in.status_code == 200, signed_in.text
        bearer = {"Authorization": f"Bearer {signed_in.json()['token']}"}
        client.cookies.clear()

        # When its download is under way and Kubernetes stops the gateway (SIGTERM)
        digest = hashlib.sha256()
        received = 0
        url = f"/api/v1/artifacts/{artifact.id}/content"
        async with client.stream("GET", url, headers=bearer) as response:
            assert response.status_code == 200
            chunks = response.aiter_bytes()
            async for chunk in chunks:
                digest.update(chunk)
                received += len(chunk)
                if received >= 1 << 20:
                    break
            gateway.terminate()
            signalled_at = time.monotonic()

            # Then it takes no new connection (readiness fails), the download goes on to its end
            eventually_sync(lambda: _refused(base), timeout=10, what="new connections refused")
            async for chunk in chunks:
                digest.update(chunk)
                received += len(chunk)
    assert received == artifact.size
    assert digest.hexdigest() == sha256

    # And the gateway exits cleanly within the grace period
    assert _exited_within_grace(gateway, signalled_at) == 0, gateway.log.read_text()[-3000:]
