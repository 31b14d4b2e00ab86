"""Expiring one artifact on the real FerretDB and MinIO: once, audited once, announced, safe with
several janitors at once; MinIO down is a transient error that changes nothing."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from cdds_shared.adapters.minio_store import MinioObjectStore
from cdds_shared.audit import AuditLog
from cdds_shared.errors import NotFoundError, TransientError
from cdds_shared.messaging.messages import ArtifactDue, ArtifactExpired
from cdds_shared.retention import (
    EXPIRY_LEASE,
    RetentionPorts,
    audit_id,
    expire_artifact,
    expire_due,
)
from cdds_shared.runs import Artifact, RunStore, utcnow
from tests.infra import StackInfo, free_port
from tests.janitor.conftest import Published, minio_settings, stored_artifact

pytestmark = pytest.mark.integration


def due_message(artifact: Artifact) -> ArtifactDue:
    return ArtifactDue(
        correlation_id=artifact.run_id,
        artifact_id=artifact.id,
        object_key=artifact.object_key,
        expires_at=artifact.expires_at,
    )


async def exists(objects: MinioObjectStore, key: str) -> bool:
    try:
        await objects.stat(key)
    except NotFoundError:
        return False
    return True


async def expiry_audits(audit: AuditLog, artifact: Artifact) -> int:
    return len(await audit.find(action="artifact.expire", target=artifact.id))


async def test_a_due_artifact_is_deleted_marked_audited_and_announced(
    ports: RetentionPorts, runs: RunStore, objects: MinioObjectStore, published: Published
) -> None:
    artifact = await stored_artifact(runs, objects)

    expiry = await expire_due(ports, due_message(artifact))

    assert expiry.outcome == "expired"
    assert expiry.lag_seconds is not None and 0 <= expiry.lag_seconds < 5
    assert not await exists(objects, artifact.object_key)
    stored = await runs.find_artifact(artifact.id)
    assert stored is not None and stored.status == "deleted"
    [event] = await ports.audit.find(action="artifact.expire", target=artifact.id)
    assert event.id == audit_id(artifact.id)
    assert (event.actor, event.tenant) == ("janitor", artifact.tenant)
    assert event.detail["run_id"] == artifact.run_id
    assert event.detail["trigger"] == "event"
    [expired] = published.messages
    assert isinstance(expired, ArtifactExpired)
    assert (expired.artifact_id, expired.run_id) == (artifact.id, artifact.run_id)
    assert await runs.unannounced_expiries(utcnow() + EXPIRY_LEASE, 10) == []


async def test_repeating_it_changes_nothing(
    ports: RetentionPorts, runs: RunStore, objects: MinioObjectStore, published: Published
) -> None:
    artifact = await stored_artifact(runs, objects)
    assert (await expire_due(ports, due_message(artifact))).outcome == "expired"

    again = await expire_due(ports, due_message(artifact))
    swept = await expire_artifact(ports, artifact, "sweep")  # a sweep that read it before

    assert (again.outcome, swept.outcome) == ("already_deleted", "lost")
    assert await expiry_audits(ports.audit, artifact) == 1
    assert len(published.messages) == 1


async def test_several_janitors_at_once_delete_it_once(
    replicas: list[RetentionPorts], runs: RunStore, objects: MinioObjectStore, published: Published
) -> None:
    artifacts = [await stored_artifact(runs, objects, part=p) for p in range(3)]

    results = await asyncio.gather(
        *(
            expire_artifact(ports, artifact, "sweep")
            for artifact in artifacts
            for ports in replicas
            for _ in range(2)
        )
    )

    for artifact in artifacts:
        outcomes = sorted(r.outcome for r in results if r.artifact_id == artifact.id)
        assert outcomes == ["expired"] + ["lost"] * 5
        assert await expiry_audits(replicas[0].audit, artifact) == 1
        assert not await exists(objects, artifact.object_key)
    assert sorted(m.artifact_id for m in published.messages) == sorted(a.id for a in artifacts)


async def test_a_timer_well_ahead_of_expiry_leaves_it_to_the_sweep(
    ports: RetentionPorts, runs: RunStore, objects: MinioObjectStore, published: Published
) -> None:
    artifact = await stored_artifact(runs, objects, expires_in=timedelta(hours=1))

    expiry = await expire_due(ports, due_message(artifact))

    assert expiry.outcome == "not_due"
    assert await exists(objects, artifact.object_key)
    stored = await runs.find_artifact(artifact.id)
    assert stored is not None and stored.status == "available"
    assert published.messages == []


async def test_a_timer_a_moment_early_waits_for_the_due_time(
    ports: RetentionPorts, runs: RunStore, objects: MinioObjectStore
) -> None:
    artifact = await stored_artifact(runs, objects, expires_in=timedelta(seconds=1))

    expiry = await expire_due(ports, due_message(artifact))

    assert expiry.outcome == "expired"
    assert utcnow() >= artifact.expires_at
    assert not await exists(objects, artifact.object_key)


async def test_a_timer_of_an_unknown_artifact_deletes_nothing(
    ports: RetentionPorts, runs: RunStore, objects: MinioObjectStore
) -> None:
    # The message names a real object, but no artifact records it: never trust the message.
    artifact = await stored_artifact(runs, objects, record=False)

    expiry = await expire_due(ports, due_message(artifact))

    assert expiry.outcome == "unknown"
    assert await exists(objects, artifact.object_key)


async def test_an_artifact_its_owner_deleted_is_not_audited_as_expired(
    ports: RetentionPorts, runs: RunStore, objects: MinioObjectStore, published: Published
) -> None:
    artifact = await stored_artifact(runs, objects)
    assert await runs.mark_artifact_deleted(artifact.id, utcnow(), by="alice") is not None

    expiry = await expire_due(ports, due_message(artifact))

    assert expiry.outcome == "already_deleted"
    assert await expiry_audits(ports.audit, artifact) == 0
    assert published.messages == []


async def test_an_expiry_abandoned_by_a_dead_janitor_is_finished(
    ports: RetentionPorts, runs: RunStore, objects: MinioObjectStore, published: Published
) -> None:
    # Given a janitor that marked the artifact and died before auditing and announcing it
    artifact = await stored_artifact(runs, objects)
    marked_at = utcnow() - EXPIRY_LEASE - timedelta(seconds=1)
    assert await runs.mark_artifact_deleted(artifact.id, marked_at) is not None

    # When its timer is redelivered
    expiry = await expire_due(ports, due_message(artifact))

    # Then the expiry is finished once
    assert expiry.outcome == "finished"
    assert not await exists(objects, artifact.object_key)
    assert await expiry_audits(ports.audit, artifact) == 1
    assert [m.artifact_id for m in published.messages] == [artifact.id]
    assert (await expire_due(ports, due_message(artifact))).outcome == "already_deleted"


async def test_minio_down_is_a_transient_error_that_changes_nothing(
    stack: StackInfo,
    ports: RetentionPorts,
    runs: RunStore,
    objects: MinioObjectStore,
    bucket: str,
    published: Published,
) -> None:
    artifact = await stored_artifact(runs, objects)
    unreachable = MinioObjectStore(
        minio_settings(stack, bucket, endpoint=f"127.0.0.1:{free_port()}"), timeout=0.5
    )
    down = RetentionPorts(runs=runs, objects=unreachable, audit=ports.audit, publish=published)
    try:
        with pytest.raises(TransientError, match="CDDS_MINIO__ENDPOINT"):
            await expire_due(down, due_message(artifact))
    finally:
        await unreachable.close()

    stored = await runs.find_artifact(artifact.id)
    assert stored is not None and stored.status == "available"
    assert await expiry_audits(ports.audit, artifact) == 0
    assert published.messages == []
    # Retried once MinIO answers: nothing was lost.
    assert (await expire_due(ports, due_message(artifact))).outcome == "expired"
