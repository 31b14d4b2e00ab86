"""The sweep and the backstop on the real FerretDB and MinIO: everything due goes, whatever its
timer did; orphans go; the lifecycle rules are set once and stay."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cdds_shared.adapters.minio_store import MinioObjectStore
from cdds_shared.adapters.mongo import MongoDocumentStore
from cdds_shared.ports.objects import RETENTION_RULE_ID
from cdds_shared.retention import (
    EXPIRY_LEASE,
    STAGING_RULE_ID,
    Expiry,
    RetentionPorts,
    ensure_backstop,
    lifecycle_days,
    remove_orphans,
    sweep,
)
from cdds_shared.runs import RunStore, utcnow
from tests.janitor.conftest import Published, new_run, stored_artifact
from tests.janitor.test_expiry import exists, expiry_audits

pytestmark = pytest.mark.integration


async def _clear_due(ports: RetentionPorts) -> None:
    """Other tests of the module leave due artifacts behind: start each sweep test from none."""
    await sweep(ports, orphans=False)


async def test_a_sweep_expires_everything_due_and_nothing_else(
    ports: RetentionPorts, runs: RunStore, objects: MinioObjectStore, published: Published
) -> None:
    await _clear_due(ports)
    published.messages.clear()
    run = await new_run(runs)
    due = [await stored_artifact(runs, objects, run, part=p) for p in range(5)]
    later = await stored_artifact(runs, objects, run, part=5, expires_in=timedelta(hours=1))
    seen: list[Expiry] = []

    report = await sweep(ports, on_expiry=seen.append, batch=2)

    assert (report.overdue, report.expired) == (5, 5)
    assert sorted(e.artifact_id for e in seen) == sorted(a.id for a in due)
    assert {e.trigger for e in seen} == {"sweep"}
    for artifact in due:
        assert not await exists(objects, artifact.object_key)
        assert await expiry_audits(ports.audit, artifact) == 1
    assert await exists(objects, later.object_key)
    assert len(published.messages) == 5
    assert await runs.count_due_artifacts(utcnow()) == 0
    assert (await sweep(ports)).expired == 0


async def test_a_sweep_finishes_abandoned_expiries(
    ports: RetentionPorts, runs: RunStore, objects: MinioObjectStore, published: Published
) -> None:
    await _clear_due(ports)
    artifact = await stored_artifact(runs, objects)
    marked = utcnow() - EXPIRY_LEASE - timedelta(seconds=1)
    assert await runs.mark_artifact_deleted(artifact.id, marked) is not None
    recent = await stored_artifact(runs, objects)
    assert await runs.mark_artifact_deleted(recent.id, utcnow()) is not None  # still in hand
    published.messages.clear()

    report = await sweep(ports, orphans=False)

    assert report.finished == 1
    assert await expiry_audits(ports.audit, artifact) == 1
    assert await expiry_audits(ports.audit, recent) == 0
    assert [m.artifact_id for m in published.messages] == [artifact.id]


async def test_orphans_are_removed_and_nothing_else(
    documents: MongoDocumentStore, runs: RunStore, objects: MinioObjectStore
) -> None:
    run = await new_run(runs)
    kept = await stored_artifact(runs, objects, run, part=0, expires_in=timedelta(hours=1))
    deleted = await stored_artifact(runs, objects, run, part=1, expires_in=timedelta(hours=1))
    assert await runs.mark_artifact_deleted(deleted.id, utcnow(), by="alice") is not None
    unrecorded = await stored_artifact(runs, objects, run, part=2, record=False)
    gone_run = await new_run(runs)
    of_gone_run = await stored_artifact(runs, objects, gone_run, record=False)
    await documents.collection("runs").delete({"_id": gone_run.id})  # the gateway deleted it
    foreign = "artifacts/readme.txt"
    await objects.put_bytes(foreign, b"not an artifact")

    removed = await remove_orphans(runs, objects, utcnow())

    assert removed >= 2  # and whatever earlier tests of the module left
    assert not await exists(objects, deleted.object_key)
    assert not await exists(objects, of_gone_run.object_key)
    assert await exists(objects, kept.object_key)
    assert await exists(objects, unrecorded.object_key)  # may be being recorded right now
    assert await exists(objects, foreign)

    later = utcnow() + timedelta(hours=2)  # once the grace has passed, it is a crash's leftover
    assert await remove_orphans(runs, objects, later) >= 1
    assert not await exists(objects, unrecorded.object_key)
    assert await exists(objects, kept.object_key)
    await objects.delete(foreign)


@pytest.mark.parametrize(("retention", "days"), [(3, 2), (86_400, 2), (86_401, 3), (2_592_000, 31)])
def test_lifecycle_days_are_a_day_after_the_retention(retention: int, days: int) -> None:
    assert lifecycle_days(retention) == days


async def test_the_backstop_rules_are_set_idempotently(objects: MinioObjectStore) -> None:
    await objects.set_expiry_rule("other/", 7, rule_id="someone-elses")

    await ensure_backstop(objects, 2_592_000, "staging/")
    await ensure_backstop(objects, 2_592_000, "staging/")

    rules = {r.rule_id: (r.prefix, r.days, r.enabled) for r in await objects.get_lifecycle()}
    assert rules == {
        RETENTION_RULE_ID: ("artifacts/", 31, True),
        STAGING_RULE_ID: ("staging/", 1, True),
        "someone-elses": ("other/", 7, True),
    }
