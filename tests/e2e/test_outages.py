"""Dependency outages mid-run: the UCS database unreachable for the exporter for longer
than the old retries lasted (about 17 s) costs no record, and with a short retry budget the run
fails at once naming ``CDDS_UCS__DSN`` (docs/pipeline.md §11).

The shared PostgreSQL is never stopped: the exporter reaches it through a TCP forwarder this test
owns, and "down" means the forwarder drops every connection and refuses new ones.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from cdds_shared.ucs.query import UcsQuery
from tests.e2e.forwarder import Forwarder
from tests.e2e.pipeline import Pipeline, Worker, by_id

pytestmark = [pytest.mark.integration, pytest.mark.slow]

INTERACTIONS, CONTACTS = 6000, 100
# Small fetches and one message at a time keep a run long enough to cut it mid-way.
WORKER_ENV = {
    "CDDS_UCS__FETCH_SIZE": "100",
    "CDDS_RABBIT__PREFETCH": "1",
    "CDDS_EXPORT__PARTITION_RECORDS": "2000",
    "CDDS_RETRY__TIERS_SECONDS": "[0.5,1,2]",
    "CDDS_RETRY__PROBE_INTERVAL_SECONDS": "0.5",
}
SPLIT = 48 * 1024
OUTAGE = 25.0  # longer than the ~17 s the delivery-limit retries used to last


@pytest.fixture
def forwarder(pipeline: Pipeline) -> Iterator[Forwarder]:
    params = conninfo_to_dict(pipeline.ucs_dsn)
    proxy = Forwarder(str(params.get("host") or "127.0.0.1"), int(params.get("port") or 5432))
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.close()


def _through(pipeline: Pipeline, proxy: Forwarder) -> str:
    return make_conninfo(pipeline.ucs_dsn, host="127.0.0.1", port=str(proxy.port))


@pytest.fixture(scope="module")
async def encryptor(pipeline: Pipeline) -> Worker:
    await pipeline.give_certificate("alice")
    return pipeline.worker("encryptor")


async def _ready(worker: Worker) -> tuple[int, str]:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(f"http://127.0.0.1:{worker.bound_port}/readyz")
    return response.status_code, response.text


async def _sealed(pipeline: Pipeline, run_id: str) -> int:
    return len(await pipeline.runs.artifacts(run_id))


async def test_ucs_unreachable_longer_than_the_old_retries_costs_no_record(
    pipeline: Pipeline, encryptor: Worker, forwarder: Forwarder, tmp_path: Path
) -> None:
    # Given an exporter that reaches UCS through the forwarder, and a run under way
    exporter = pipeline.worker("exporter", CDDS_UCS__DSN=_through(pipeline, forwarder))
    try:
        run_id = await pipeline.request("interaction", split=SPLIT)
        await pipeline.wait_until(lambda: _sealed(pipeline, run_id), lambda n: n >= 1)
        assert (await pipeline.runs.get(run_id)).status == "running", "ended before the fault"

        # When UCS becomes unreachable for longer than the old retries lasted
        forwarder.cut()
        cut_at = time.monotonic()
        # Then the exporter says it is not ready, naming the dependency
        _, body = await pipeline.wait_until(
            lambda: _ready(exporter), lambda r: r[0] == 503 and "CDDS_UCS__DSN" in r[1]
        )
        assert '"ucs"' in body
        await asyncio.sleep(max(0.0, OUTAGE - (time.monotonic() - cut_at)))  # the outage itself
        assert (await pipeline.runs.get(run_id)).status == "running"
        forwarder.start()

        # Then it is ready again, and the run completes with exactly the source records
        await pipeline.wait_until(lambda: _ready(exporter), lambda r: r[0] == 200)
        run = await pipeline.finished(run_id, timeout=300)
        assert run.status == "completed", run.error
        members = await pipeline.exported_records(run_id, tmp_path)
        records, attachments = await pipeline.source_records(
            UcsQuery(pipeline.tenant_id, "interaction")
        )
        assert by_id(members[f"Interaction-{run_id}.jsonl"]) == by_id(records)
        assert by_id(members[f"Interaction-Attachment-{run_id}.jsonl"]) == by_id(attachments)
    finally:
        exporter.stop()


async def test_with_a_short_budget_the_run_fails_at_once_naming_the_setting(
    pipeline: Pipeline, encryptor: Worker, forwarder: Forwarder
) -> None:
    # Given an exporter with a retry budget of 5 s, and a run under way
    exporter = pipeline.worker(
        "exporter",
        CDDS_UCS__DSN=_through(pipeline, forwarder),
        CDDS_RETRY__BUDGET_SECONDS="5",
    )
    try:
        run_id = await pipeline.request("interaction", split=SPLIT)
        await pipeline.wait_until(lambda: _sealed(pipeline, run_id), lambda n: n >= 1)
        assert (await pipeline.runs.get(run_id)).status == "running", "ended before the fault"

        # When UCS stays unreachable
        forwarder.cut()
        cut_at = time.monotonic()

        # Then the run fails soon after the budget, with a reason naming UCS and its setting
        run = await pipeline.finished(run_id, timeout=60)
        failed_after = time.monotonic() - cut_at
        assert run.status == "failed"
        assert run.error is not None
        assert run.error.startswith("UCS database unreachable (CDDS_UCS__DSN) for "), run.error
        assert failed_after < 30, f"failed {failed_after:.1f} s after the cut"
    finally:
        exporter.stop()
        forwarder.start()
