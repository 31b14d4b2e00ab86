"""Plan a run: count its records, freeze its timeframe, cut it in partitions (docs/pipeline.md §1).

Partitions are key ranges of about ``CDDS_EXPORT__PARTITION_RECORDS`` records each, exported
independently (one ``ExportPartition`` each), so a large run fans out across exporter replicas.
The plan also fixes what makes part cuts deterministic (compression level, ZIP size limit), so a
partition redone after a crash cuts exactly the same parts. A run is planned once the fair-share
dispatch admits it (``dispatch.py``), which then publishes its partitions a few at a time.
"""

from __future__ import annotations

import math

from cdds_exporter.deps import ExporterDeps
from cdds_exporter.dispatch import wake
from cdds_exporter.trust import trusted_run
from cdds_exporter.zipwriter import DEFLATERS, ZipPartWriter
from cdds_shared.certificates import usable_certificate
from cdds_shared.crypto.cms import Recipient, envelope_overhead
from cdds_shared.errors import PermanentError
from cdds_shared.logging import get_logger
from cdds_shared.messaging.messages import RunRequested
from cdds_shared.runs import PartitionPlan, Plan, Run, utcnow
from cdds_shared.runs.lifecycle import announce, fail_run
from cdds_shared.ucs.query import UcsQuery

__all__ = ["plan_run", "run_query", "start_run"]

log = get_logger("cdds.exporter")
MIN_ZIP_LIMIT = 4096


def run_query(run: Run) -> UcsQuery:
    """The UCS selection of a run (with the planned, frozen end once it is planned)."""
    end = run.plan.end if run.plan else run.timeframe.end
    return UcsQuery(
        tenant_id=run.ucs_tenant_id,
        record_type=run.record_type,
        media_types=tuple(run.media_types) if run.media_types is not None else None,
        start=run.timeframe.start,
        end=end,
    )


async def plan_run(request: RunRequested, deps: ExporterDeps) -> None:
    run = await trusted_run(request, deps.documents)  # ForgedMessage unless it checks out
    if run.status not in ("queued", "running"):
        log.info("run already ended; request ignored", run_id=run.id, status=run.status)
        return
    # The run waits for its fair turn (dispatch.py): the request only marks it accepted and
    # wakes the tenant's dispatch, so a duplicated request costs one pass, never a second export.
    await deps.dispatch.accept(run.id)
    await wake(deps, run.tenant, start_run)


async def start_run(run: Run, deps: ExporterDeps) -> None:
    """Plan an admitted run and set it ``running`` (its partitions are published by the
    dispatch), or end it at once: ``no_data``, or failed (certificate, split size)."""
    try:
        plan = await _plan(run, deps)
    except PermanentError as exc:
        await fail_run(deps.runs, deps.publish, deps.objects, deps.staging_prefix, run.id, str(exc))
        return
    if plan.estimate == 0:
        ended = await deps.runs.transition(
            run.id,
            ("queued",),
            "no_data",
            plan=plan,
            started_at=plan.planned_at,
            finished_at=utcnow(),
        )
        if ended is not None:
            await announce(deps.runs, deps.publish, run.id)
        return
    started = await deps.runs.transition(
        run.id, ("queued",), "running", plan=plan, started_at=plan.planned_at
    )
    if started is None:
        return  # cancelled meanwhile, or another replica planned it
    log.info("run planned", run_id=run.id, records=plan.estimate, partitions=len(plan.partitions))


async def _plan(run: Run, deps: ExporterDeps) -> Plan:
    cert = await usable_certificate(deps.certificates, run.owner)
    overhead = envelope_overhead(Recipient.load(cert.der), run.split_size_bytes, cert.seal_mode)
    zip_limit = run.split_size_bytes - overhead
    if zip_limit < MIN_ZIP_LIMIT + ZipPartWriter.empty_size():
        raise PermanentError(
            f"file split size {run.split_size_bytes} bytes is too small: a sealed file needs "
            f"{overhead} bytes of envelope plus room for records"
        )
    now = utcnow()
    end = min(run.timeframe.end, now) if run.timeframe.end else now
    query = run_query(
        run.model_copy(update={"timeframe": run.timeframe.model_copy(update={"end": end})})
    )
    estimate = await deps.ucs.count(query)
    wanted = min(
        deps.export.max_partitions, max(1, math.ceil(estimate / deps.export.partition_records))
    )
    keys = await deps.ucs.split_keys(query, wanted) if estimate else []
    ranges = query.partition(keys)
    return Plan(
        planned_at=now,
        estimate=estimate,
        end=end,
        partitions=[PartitionPlan(after_id=q.after_id, until_id=q.until_id) for q in ranges],
        compression_level=deps.export.compression_level,
        deflate=DEFLATERS[deps.export.deflate].label,
        zip_limit=zip_limit,
        seal_mode=cert.seal_mode,
    )
