"""The export pipeline end to end on the real servers: UCS → exporter → encryptor → MinIO, files
opened with stock ``openssl cms -decrypt`` and compared with the source, record by record."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import jsonschema
import pytest

from cdds_shared.runs import build_manifest, member_names
from cdds_shared.ucs.query import UcsQuery
from cdds_tools.identity import make_identity
from cdds_tools.logcheck import not_json
from tests.e2e.pipeline import Pipeline, Worker, by_id

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
async def workers(pipeline: Pipeline) -> dict[str, Worker]:
    started = {name: pipeline.worker(name) for name in ("exporter", "encryptor")}
    await pipeline.give_certificate("alice")
    return started


async def _assert_exports_exactly(
    pipeline: Pipeline, run_id: str, query: UcsQuery, tmp_path: Path
) -> dict[str, list[bytes]]:
    run = await pipeline.finished(run_id)
    assert run.status == "completed", run.error
    members = await pipeline.exported_records(run_id, tmp_path)
    records, attachments = await pipeline.source_records(query)
    names = member_names(query.record_type, run_id)
    assert set(members) <= set(names)
    exported = by_id(members.get(names[0], []))
    source = by_id(records)
    assert exported.keys() == source.keys()
    for record_id, record in source.items():
        assert exported[record_id] == record, record_id  # field by field
    if query.record_type == "interaction":
        assert by_id(members.get(names[1], [])) == by_id(attachments)
    assert {r["tenantId"] for r in exported.values()} == {query.tenant_id}
    return members


async def test_interactions_with_attachments_export_exactly(
    pipeline: Pipeline, workers: dict[str, Worker], tmp_path: Path
) -> None:
    run_id = await pipeline.request("interaction", split=256 * 1024)
    query = UcsQuery(pipeline.tenant_id, "interaction")
    members = await _assert_exports_exactly(pipeline, run_id, query, tmp_path)
    assert members[f"Interaction-Attachment-{run_id}.jsonl"], "the seed has attachments"
    run = await pipeline.runs.get(run_id)
    artifacts = await pipeline.runs.artifacts(run_id)
    assert run.plan is not None and len(run.plan.partitions) == 3  # 3000 records / 1100
    assert len(artifacts) > len(run.plan.partitions)  # partitions were cut into several parts
    assert all(a.size <= 256 * 1024 for a in artifacts)
    # The exporter records a partition's count after publishing its last part, which can be
    # sealed (and the run completed) first: the count is awaited, not read at completion.
    progress = await pipeline.wait_until(
        lambda: pipeline.runs.progress(run), lambda p: p.records_exported >= 3000
    )
    assert progress.percent == 100.0 and progress.parts == len(artifacts)
    assert progress.records_sealed == 3000 and progress.records_exported == 3000
    await pipeline.staging_emptied()  # removed after the run completed: awaited


async def test_manifest_lets_the_user_verify_every_file(
    pipeline: Pipeline, workers: dict[str, Worker], tmp_path: Path
) -> None:
    run_id = await pipeline.request("interaction", split=256 * 1024)
    run = await pipeline.finished(run_id)
    manifest = build_manifest(run, await pipeline.runs.artifacts(run_id))
    schema = json.loads((ROOT / "docs/schemas/manifest.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(json.loads(json.dumps(manifest)))
    files = {p.name: p for p in await pipeline.download(run_id, tmp_path)}
    for part in manifest["parts"]:
        assert hashlib.sha256(files[part["name"]].read_bytes()).hexdigest() == part["sha256"]
        assert files[part["name"]].stat().st_size == part["size"]
    assert manifest["totals"]["records"] > 3000  # interactions and their attachments


async def test_each_attachment_travels_with_its_interaction(
    pipeline: Pipeline, workers: dict[str, Worker], tmp_path: Path
) -> None:
    run_id = await pipeline.request("interaction", split=128 * 1024)
    assert (await pipeline.finished(run_id)).status == "completed"
    for sealed in await pipeline.download(run_id, tmp_path):
        import zipfile

        with zipfile.ZipFile(pipeline.openssl_decrypt(sealed)) as part:
            ids = set(by_id(part.read(f"Interaction-{run_id}.jsonl").splitlines()))
            attachments = by_id(part.read(f"Interaction-Attachment-{run_id}.jsonl").splitlines())
            assert {a["entityid"] for a in attachments.values()} <= ids


async def test_contacts_export_exactly(
    pipeline: Pipeline, workers: dict[str, Worker], tmp_path: Path
) -> None:
    run_id = await pipeline.request("contact")
    query = UcsQuery(pipeline.tenant_id, "contact")
    members = await _assert_exports_exactly(pipeline, run_id, query, tmp_path)
    assert list(members) == [f"Contact-{run_id}.jsonl"]


async def test_media_type_and_timeframe_select_exactly_the_right_rows(
    pipeline: Pipeline, workers: dict[str, Worker], tmp_path: Path
) -> None:
    start = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
    end = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
    run_id = await pipeline.request(
        "interaction", media_types=["chat", "sms"], start=start, end=end
    )
    query = UcsQuery(pipeline.tenant_id, "interaction", ("chat", "sms"), start, end)
    members = await _assert_exports_exactly(pipeline, run_id, query, tmp_path)
    records = by_id(members[f"Interaction-{run_id}.jsonl"])
    assert records and {r["mediaTypeId"] for r in records.values()} == {"chat", "sms"}
    for r in records.values():
        assert start <= dt.datetime.fromisoformat(r["startDate"]) < end


async def test_other_tenants_rows_never_appear(
    pipeline: Pipeline, workers: dict[str, Worker], tmp_path: Path
) -> None:
    await pipeline.give_certificate("olga")  # a user of the other tenant: alice is acme's
    run_id = await pipeline.request("interaction", owner="olga", tenant_id=pipeline.other_tenant_id)
    query = UcsQuery(pipeline.other_tenant_id, "interaction")
    members = await _assert_exports_exactly(pipeline, run_id, query, tmp_path)
    assert all(
        r["tenantId"] == pipeline.other_tenant_id
        for r in by_id(members[f"Interaction-{run_id}.jsonl"]).values()
    )


async def test_zero_matching_records_is_no_data_not_an_empty_file(
    pipeline: Pipeline, workers: dict[str, Worker]
) -> None:
    run_id = await pipeline.request("interaction", end=dt.datetime(2001, 1, 1, tzinfo=dt.UTC))
    run = await pipeline.finished(run_id)
    assert run.status == "no_data"
    assert await pipeline.runs.artifacts(run_id) == []


async def test_split_size_boundary_is_exact(pipeline: Pipeline, workers: dict[str, Worker]) -> None:
    """A run whose sealed data is exactly one split size fits one file; one byte less, two."""
    whole = await pipeline.request("contact")
    assert (await pipeline.finished(whole)).status == "completed"
    [single] = await pipeline.runs.artifacts(whole)

    exact = await pipeline.request("contact", split=single.size)
    assert (await pipeline.finished(exact)).status == "completed"
    assert [a.size for a in await pipeline.runs.artifacts(exact)] == [single.size]

    over = await pipeline.request("contact", split=single.size - 1)
    assert (await pipeline.finished(over)).status == "completed"
    parts = await pipeline.runs.artifacts(over)
    assert len(parts) == 2 and all(a.size <= single.size - 1 for a in parts)
    assert sum(sum(a.records.values()) for a in parts) == sum(single.records.values())


async def test_every_part_fits_the_split_size(
    pipeline: Pipeline, workers: dict[str, Worker]
) -> None:
    split = 64 * 1024
    run_id = await pipeline.request("interaction", split=split)
    assert (await pipeline.finished(run_id)).status == "completed"
    sizes = [a.size for a in await pipeline.runs.artifacts(run_id)]
    assert len(sizes) > 10 and max(sizes) <= split
    # Room for attachments is reserved at a worst-case (incompressible) size, so parts with
    # attachments are filled less than exactly; still, most parts are well used.
    assert sorted(sizes)[len(sizes) // 2] > split * 0.6


async def test_parts_without_attachments_are_filled_to_the_last_record(
    pipeline: Pipeline, workers: dict[str, Worker]
) -> None:
    split = 8 * 1024
    run_id = await pipeline.request("contact", split=split)
    assert (await pipeline.finished(run_id)).status == "completed"
    parts = await pipeline.runs.artifacts(run_id)
    assert len(parts) > 3
    assert all(split * 0.95 < a.size <= split for a in parts if not a.last_in_partition)


async def test_run_without_certificate_fails_with_a_clear_reason(
    pipeline: Pipeline, workers: dict[str, Worker]
) -> None:
    run_id = await pipeline.request("contact", owner="nobody-uploaded")
    run = await pipeline.finished(run_id)
    assert run.status == "failed"
    assert run.error is not None and "no certificate on file for user nobody-uploaded" in run.error
    assert "User preferences" in run.error


async def test_certificate_gone_at_sealing_time_fails_the_run_and_leaves_no_staging(
    pipeline: Pipeline, workers: dict[str, Worker]
) -> None:
    # Given parts staged while the encryptor is down
    workers["encryptor"].stop()
    await pipeline.give_certificate("bob")
    run_id = await pipeline.request("interaction", owner="bob", split=128 * 1024)
    staging = pipeline.settings.minio.staging_prefix + run_id
    await pipeline.wait_until(lambda: _count(pipeline, staging), lambda n: n >= 3)
    # When the certificate is removed before they are sealed
    await pipeline.certificates.delete("bob")
    workers["encryptor"].start()
    # Then the run fails with the reason and no staged part is left behind
    run = await pipeline.finished(run_id)
    assert (
        run.status == "failed" and run.error and "no certificate on file for user bob" in run.error
    )
    await pipeline.wait_until(lambda: _count(pipeline, staging), lambda n: n == 0)
    assert await pipeline.runs.artifacts(run_id) == []


async def _count(pipeline: Pipeline, prefix: str) -> int:
    return len([o async for o in pipeline.objects.list(prefix)])


async def test_a_record_larger_than_a_file_fails_the_run_at_once(
    pipeline: Pipeline, workers: dict[str, Worker]
) -> None:
    # Interactions with attachments of several KB cannot fit files of 6 KB.
    run_id = await pipeline.request("interaction", split=6 * 1024)
    run = await pipeline.finished(run_id, timeout=60)
    assert run.status == "failed"
    assert run.error is not None and "choose a larger file split size" in run.error


async def test_certificate_replaced_by_a_larger_key_mid_run_cannot_overflow_the_split_size(
    pipeline: Pipeline, workers: dict[str, Worker], tmp_path: Path
) -> None:
    # Given parts cut to the brim for a 2048-bit certificate, staged while the encryptor is down
    workers["encryptor"].stop()
    await pipeline.give_certificate("carol")
    run_id = await pipeline.request("contact", owner="carol", split=8 * 1024)
    staging = pipeline.settings.minio.staging_prefix + run_id
    await pipeline.wait_until(lambda: _count(pipeline, staging), lambda n: n >= 3)
    # When carol replaces it with a 4096-bit one (a larger envelope) before they are sealed
    bigger, _, _ = make_identity(tmp_path, bits=4096, name="carol")
    await pipeline.give_certificate("carol", bigger)
    workers["encryptor"].start()
    # Then no file over the split size is made: the run fails and says why
    run = await pipeline.finished(run_id)
    assert run.status == "failed"
    assert run.error is not None and "replaced during the run" in run.error
    assert all(a.size <= 8 * 1024 for a in await pipeline.runs.artifacts(run_id))
    await pipeline.wait_until(lambda: _count(pipeline, staging), lambda n: n == 0)


async def test_the_workers_log_one_json_object_a_line(workers: dict[str, Worker]) -> None:
    """Last of the module, after its runs: ``faststream run``'s own lines, the broker's and
    uvicorn's (the probes) are JSON like the workers' (docs/operations.md, "Logs")."""
    for name, worker in workers.items():
        lines = worker.log.read_text().splitlines()
        assert len(lines) > 10, f"{name} logged almost nothing"
        assert not_json(lines) == [], f"{name}: {worker.log}"
