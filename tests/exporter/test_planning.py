"""The exporter's planning on fakes (no server): how an admitted run is counted, cut into key
ranges and sized for its owner's certificate, and when it ends at once instead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cdds_exporter.deps import ExporterDeps
from cdds_exporter.partition import export_partition
from cdds_exporter.planning import run_query, start_run
from cdds_exporter.zipwriter import DEFLATERS
from cdds_shared.crypto.cms import Recipient, envelope_overhead
from cdds_shared.errors import PermanentError
from cdds_shared.messaging.messages import ExportPartition, RunCompleted, RunFailed, Timeframe
from cdds_shared.runs import Run
from cdds_shared.runs.dispatch_store import DispatchStore
from cdds_shared.settings import ExportSettings
from tests.fakes import FakeDocumentStore, FakeUcsSource, RecordingPublisher, UcsRecord
from tests.unit_world import common_deps, file_certificate, new_run

pytestmark = pytest.mark.unit

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def records(n: int, *, tenant_id: int = 7, media: str = "email") -> list[UcsRecord]:
    """``n`` rows a minute apart from ``T0``, ids unique per tenant and media type."""
    return [
        UcsRecord(
            f"{tenant_id}-{media}-{i:05d}", tenant_id, T0 + timedelta(minutes=i), media_type=media
        )
        for i in range(n)
    ]


def exporter(ucs: FakeUcsSource, **export: int) -> ExporterDeps:
    documents = FakeDocumentStore()
    settings = ExportSettings.model_validate({"partition_records": 100, **export})
    return ExporterDeps(
        **common_deps(documents), ucs=ucs, export=settings, dispatch=DispatchStore(documents)
    )


async def admitted(deps: ExporterDeps, run: Run, *, certificate: bool = True) -> Run:
    if certificate:
        await file_certificate(deps.documents, run.owner)  # type: ignore[arg-type]
    await deps.runs.insert(run)
    await start_run(run, deps)
    return await deps.runs.get(run.id)


def published(deps: ExporterDeps) -> RecordingPublisher:
    assert isinstance(deps.publish, RecordingPublisher)
    return deps.publish


async def test_a_run_is_cut_into_contiguous_ranges_of_about_the_partition_size() -> None:
    ucs = FakeUcsSource(records(450) + records(30, tenant_id=8))
    deps = exporter(ucs)

    run = await admitted(deps, new_run())

    assert run.status == "running" and run.plan is not None
    assert run.plan.estimate == 450  # the other tenant's rows are not counted
    assert len(run.plan.partitions) == 5  # ceil(450 / 100)
    assert run.plan.partitions[0].after_id is None and run.plan.partitions[-1].until_id is None
    for left, right in zip(run.plan.partitions, run.plan.partitions[1:], strict=False):
        assert left.until_id == right.after_id  # no gap, no overlap
    sizes = [
        await ucs.count(q)
        for q in run_query(run).partition(
            [p.until_id for p in run.plan.partitions[:-1] if p.until_id is not None]
        )
    ]
    assert sum(sizes) == 450 and max(sizes) - min(sizes) <= 1
    assert run.started_at == run.plan.planned_at
    assert published(deps).messages == []  # partitions go out through the dispatch, not here


async def test_partitions_are_capped_and_small_runs_stay_whole() -> None:
    capped = await admitted(exporter(FakeUcsSource(records(450)), max_partitions=3), new_run())
    whole = await admitted(exporter(FakeUcsSource(records(99))), new_run())

    assert capped.plan is not None and len(capped.plan.partitions) == 3
    assert whole.plan is not None and len(whole.plan.partitions) == 1
    assert whole.plan.partitions[0].after_id is None and whole.plan.partitions[0].until_id is None


async def test_the_plan_keeps_the_filters_and_freezes_an_open_end() -> None:
    rows = records(40) + records(60, media="chat")
    deps = exporter(FakeUcsSource(rows))
    start = T0 + timedelta(minutes=10)
    before = datetime.now(UTC)

    run = await admitted(
        deps,
        new_run(media_types=["chat"], timeframe=Timeframe(start=start), split_size_bytes=1 << 20),
    )

    assert run.plan is not None
    assert run.plan.estimate == 50  # chat only, from minute 10 on
    assert before - timedelta(seconds=1) <= run.plan.end <= datetime.now(UTC)
    assert run_query(run).end == run.plan.end  # later reads use the frozen end
    assert run_query(run).media_types == ("chat",)
    assert run.plan.compression_level == deps.export.compression_level


async def test_the_zip_limit_leaves_room_for_the_owners_envelope() -> None:
    deps = exporter(FakeUcsSource(records(5)))
    run = new_run(split_size_bytes=1 << 20)
    cert = await file_certificate(deps.documents, run.owner, "legacy-cbc")  # type: ignore[arg-type]

    planned = await admitted(deps, run, certificate=False)

    overhead = envelope_overhead(Recipient.load(cert.der), 1 << 20, "legacy-cbc")
    assert planned.plan is not None
    assert planned.plan.zip_limit == (1 << 20) - overhead
    assert planned.plan.seal_mode == "legacy-cbc"


async def test_a_run_without_records_ends_as_no_data_and_is_announced() -> None:
    deps = exporter(FakeUcsSource(records(10, tenant_id=8)))

    run = await admitted(deps, new_run())

    assert run.status == "no_data" and run.finished_at is not None
    assert (run.plan is not None and run.plan.partitions == []) or run.plan is not None
    [event] = published(deps).of(RunCompleted)
    assert (event.run_id, event.status, event.artifact_ids) == (run.id, "no_data", [])


@pytest.mark.parametrize(
    ("certificate", "split", "reason"),
    [
        (False, 10 << 20, "no certificate on file"),
        (True, 2048, "too small"),
    ],
)
async def test_a_run_that_cannot_be_sealed_fails_before_reading_ucs(
    certificate: bool, split: int, reason: str
) -> None:
    deps = exporter(FakeUcsSource(records(10)))

    run = await admitted(deps, new_run(split_size_bytes=split), certificate=certificate)

    assert run.status == "failed" and run.plan is None
    assert run.error is not None and reason in run.error
    [event] = published(deps).of(RunFailed)
    assert event.reason == run.error


async def test_a_run_cancelled_meanwhile_is_left_alone() -> None:
    deps = exporter(FakeUcsSource(records(10)))
    run = new_run()
    await file_certificate(deps.documents, run.owner)  # type: ignore[arg-type]
    await deps.runs.insert(run.model_copy(update={"status": "cancelled"}))

    await start_run(run, deps)

    stored = await deps.runs.get(run.id)
    assert stored.status == "cancelled" and stored.plan is None
    assert published(deps).messages == []


@pytest.mark.parametrize("library", ["zlib-ng", "zlib"])
async def test_the_plan_records_the_deflate_library_and_version_that_cuts_its_parts(
    library: str,
) -> None:
    deps = exporter(FakeUcsSource(records(30)))
    deps.export = deps.export.model_copy(update={"deflate": library})

    run = await admitted(deps, new_run())

    assert run.plan is not None
    assert run.plan.deflate == DEFLATERS[library].label
    assert run.plan.deflate.startswith(f"{library} ")


async def test_a_partition_planned_with_a_deflate_this_exporter_lacks_is_refused_clearly() -> None:
    deps = exporter(FakeUcsSource(records(30)))
    run = await admitted(deps, new_run())
    assert run.plan is not None
    await deps.runs._runs.update({"_id": run.id}, {"plan.deflate": "zlib-ng 0.0.1"})

    command = ExportPartition(correlation_id=run.id, run_id=run.id, partition=0)
    with pytest.raises(
        PermanentError, match=r"planned with deflate 'zlib-ng 0\.0\.1'.*run the job"
    ):
        await export_partition(command, deps)
    assert await deps.dispatch.claim(run.id, run.tenant, 0, "another", timedelta(minutes=1)) != (
        "busy"
    )  # refused before claiming: nothing is left half-done
