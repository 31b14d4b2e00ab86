"""The encryptor's sealing decisions on fakes (no server): which staged part is sealed, refused,
or skipped as already sealed, what is deleted, and what is announced."""

from __future__ import annotations

import hashlib

import pytest

from cdds_encryptor.deps import EncryptorDeps
from cdds_encryptor.sealing import SEALS, seal_part
from cdds_shared.crypto.cms import Recipient, Sealer
from cdds_shared.crypto.transit import OVERHEAD, TransitEncryptor, part_aad
from cdds_shared.errors import ForgedMessage
from cdds_shared.messaging.messages import PartSealed, PartStaged, RunCompleted, RunFailed
from cdds_shared.runs import PartitionPlan, Plan, Run, utcnow
from cdds_shared.runs.lifecycle import ARTIFACT_PREFIX
from tests.fakes import FakeDocumentStore, FakeObjectStore, RecordingPublisher, RecordingTimer
from tests.unit_world import STAGING, common_deps, file_certificate, new_run

pytestmark = pytest.mark.unit

ZIP = b"PK\x03\x04 a staged ZIP part " * 500


def encryptor() -> EncryptorDeps:
    return EncryptorDeps(
        **common_deps(FakeDocumentStore()),
        retention_seconds=3600,
        timer=RecordingTimer(),  # type: ignore[arg-type]
    )


def fakes(deps: EncryptorDeps) -> tuple[FakeObjectStore, RecordingPublisher, RecordingTimer]:
    assert isinstance(deps.objects, FakeObjectStore)
    assert isinstance(deps.publish, RecordingPublisher)
    assert isinstance(deps.timer, RecordingTimer)
    return deps.objects, deps.publish, deps.timer


async def running(deps: EncryptorDeps, *, certificate: bool = True, **fields: object) -> Run:
    plan = Plan(
        planned_at=utcnow(),
        estimate=3,
        end=utcnow(),
        partitions=[PartitionPlan(after_id=None, until_id=None)],
        compression_level=6,
        zip_limit=1 << 20,
    )
    run = new_run(status="running", plan=plan, started_at=utcnow(), **fields)
    if certificate:
        await file_certificate(deps.documents, run.owner)  # type: ignore[arg-type]
    await deps.runs.insert(run)
    return run


async def staged(
    deps: EncryptorDeps, run: Run, *, part: int = 0, key: str | None = None, damage: bool = False
) -> PartStaged:
    """Stage ``ZIP`` as the exporter does (transit-encrypted) and return its ``PartStaged``."""
    data_key, wrapped = deps.transit.new_data_key()
    transit = TransitEncryptor(data_key, part_aad(run.id, 0, part))
    body = transit.header() + transit.update(ZIP) + transit.finalize()
    if damage:
        body = body[:-1] + bytes([body[-1] ^ 1])
    key = key or f"{STAGING}{run.id}/0000-{part:04d}.bin"
    await deps.objects.put_bytes(key, body)
    return PartStaged(
        correlation_id=run.id,
        run_id=run.id,
        partition=0,
        part=part,
        staging_key=key,
        size=len(body),
        sha256=hashlib.sha256(body).hexdigest(),
        wrapped_key=wrapped,
        records={"Interaction-x.jsonl": 3},
        last_in_partition=True,
    )


async def test_a_staged_part_is_sealed_announced_and_completes_its_run() -> None:
    deps = encryptor()
    objects, publish, timer = fakes(deps)
    run = await running(deps)
    message = await staged(deps, run)

    await seal_part(message, deps)

    [artifact] = await deps.runs.artifacts(run.id)
    assert artifact.object_key.startswith(f"{ARTIFACT_PREFIX}{run.tenant}/{run.id}/")
    sealed = objects.objects[artifact.object_key].data
    cert = await deps.certificates.get(run.owner)
    assert cert is not None
    expected = Sealer(Recipient.load(cert.der), len(ZIP), mode="gcm").total_size
    assert message.size - OVERHEAD == len(ZIP)
    assert artifact.size == len(sealed) == expected
    assert artifact.sha256 == hashlib.sha256(sealed).hexdigest()
    assert artifact.seal == SEALS["gcm"] and artifact.records == {"Interaction-x.jsonl": 3}
    assert (artifact.expires_at - artifact.created_at).total_seconds() == 3600
    assert message.staging_key not in objects.objects  # the staged part is gone
    assert [a.id for a in timer.scheduled] == [artifact.id]
    assert [m.artifact_id for m in publish.of(PartSealed)] == [artifact.id]
    [done] = publish.of(RunCompleted)
    assert (done.status, done.artifact_ids) == ("completed", [artifact.id])
    assert (await deps.runs.get(run.id)).status == "completed"
    assert (await deps.runs.find_artifact(artifact.id)).announced  # type: ignore[union-attr]


async def test_a_redelivered_part_is_not_sealed_twice() -> None:
    deps = encryptor()
    objects, publish, timer = fakes(deps)
    run = await running(deps)
    message = await staged(deps, run)
    await seal_part(message, deps)
    stored = dict(objects.objects)
    await deps.objects.put_bytes(message.staging_key, b"left by a redone export")

    await seal_part(message, deps)

    assert objects.objects == {k: v for k, v in stored.items()}  # no second artifact object
    assert message.staging_key not in objects.objects
    assert len(await deps.runs.artifacts(run.id)) == 1
    assert len(publish.of(PartSealed)) == 1 and len(timer.scheduled) == 1
    assert len(publish.of(RunCompleted)) == 1


async def test_a_key_outside_the_runs_staging_is_refused_and_nothing_deleted() -> None:
    deps = encryptor()
    objects, publish, _ = fakes(deps)
    run = await running(deps)
    victim = await staged(deps, run, key=f"{ARTIFACT_PREFIX}acme/other/file.p7m")

    with pytest.raises(ForgedMessage):
        await seal_part(victim, deps)

    assert objects.deleted == [] and victim.staging_key in objects.objects
    assert (await deps.runs.get(run.id)).status == "running"
    assert publish.messages == []


@pytest.mark.parametrize("status", ["cancelled", "failed", "missing"])
async def test_a_part_of_an_ended_or_unknown_run_is_only_removed(status: str) -> None:
    deps = encryptor()
    objects, publish, timer = fakes(deps)
    run = await running(deps)
    message = await staged(deps, run)
    if status == "missing":
        await deps.documents.collection("runs").delete({"_id": run.id})
    else:
        await deps.runs.transition(run.id, ("running",), status)  # type: ignore[arg-type]

    await seal_part(message, deps)

    assert objects.deleted == [message.staging_key] and objects.objects == {}
    assert await deps.runs.artifacts(run.id) == []
    assert publish.messages == [] and timer.scheduled == []


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("no certificate", "cannot seal the files: no certificate on file"),
        ("damaged", "damaged or lost in transit"),
        ("too large", "was replaced during the run"),
    ],
)
async def test_a_part_that_cannot_be_sealed_fails_its_run(case: str, reason: str) -> None:
    deps = encryptor()
    objects, publish, timer = fakes(deps)
    split = {"too large": len(ZIP)}.get(case, 10 << 20)
    run = await running(deps, certificate=case != "no certificate", split_size_bytes=split)
    message = await staged(deps, run, damage=case == "damaged")

    await seal_part(message, deps)

    failed = await deps.runs.get(run.id)
    assert failed.status == "failed" and failed.error is not None and reason in failed.error
    assert objects.objects == {}  # neither the staged part nor a partial artifact remains
    assert await deps.runs.artifacts(run.id) == []
    assert [m.reason for m in publish.of(RunFailed)] == [failed.error]
    assert publish.of(PartSealed) == [] and timer.scheduled == []
