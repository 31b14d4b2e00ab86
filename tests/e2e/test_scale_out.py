"""Scale-out on one machine: the same export run twice, once by one exporter and one encryptor,
once by two of each competing, must give the same files.

What "the same" can mean follows from docs/pipeline.md, "4. Exactly once, in effect": cuts are
deterministic. The plan splits the key range at quantiles of rows that did not change, and a
part's cut depends only on the partition, the frozen plan (timeframe end, deflate level, ZIP
limit) and the rows. So per part ``<ppp>-<kkk>`` the decrypted ZIPs are byte-identical except for
the two fields that name the run: member names (``Interaction-<runId>.jsonl``) and the DOS
timestamp (the run's ``requested_at``). The sealed files cannot be compared byte for byte (CMS
draws a fresh content key and IV for every file); their sizes can.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import struct
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from cdds_shared.runs import Artifact, Run, member_names
from cdds_shared.ucs.query import UcsQuery
from tests.e2e.pipeline import Pipeline, Worker, by_id

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# About 30 partitions of 150 records (of the 4 media types), most cut into two 64 KiB parts:
# enough work that both workers of each kind get some, and about a minute on a busy 2-core
# machine (load average 10 when measured).
INTERACTIONS, CONTACTS = 5_000, 500
WORKER_ENV = {
    "CDDS_EXPORT__PARTITION_RECORDS": "150",
    # Two exporters x prefetch 2: the tenant's share of partitions in flight must cover both, or
    # one of them idles (docs/pipeline.md, "Fair share").
    "CDDS_EXPORT__PARTITIONS_PER_TENANT": "4",
}
MEDIA = ["voice", "email", "chat", "sms"]
START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
END = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)  # in the past: both runs freeze the same end
SPLIT = 64 * 1024

Key = tuple[int, int]  # (partition, part)


@dataclass(frozen=True)
class Export:
    run: Run
    seconds: float  # request to completed, as polled
    artifacts: dict[Key, Artifact]
    zips: dict[Key, bytes]  # the decrypted ZIP of each part
    records: dict[str, list[bytes]]  # JSON lines per member, the run id taken out of its name


@dataclass(frozen=True)
class ScaleOut:
    single: Export
    double: Export
    exporters: list[Worker]
    encryptors: list[Worker]


async def _export(pipeline: Pipeline, directory: Path) -> Export:
    began = time.monotonic()
    run_id = await pipeline.request(
        "interaction", media_types=MEDIA, start=START, end=END, split=SPLIT
    )
    run = await pipeline.finished(run_id, timeout=150)
    seconds = time.monotonic() - began
    assert run.status == "completed", run.error
    artifacts = {(a.partition, a.part): a for a in await pipeline.runs.artifacts(run_id)}
    keys = {a.name: k for k, a in artifacts.items()}
    zips = {
        keys[sealed.name]: pipeline.openssl_decrypt(sealed).read_bytes()
        for sealed in await pipeline.download(run_id, directory)
    }
    assert zips.keys() == artifacts.keys()
    records: dict[str, list[bytes]] = {}
    for key in sorted(zips):  # in key order: the run's records in id order
        with zipfile.ZipFile(io.BytesIO(zips[key])) as archive:
            assert archive.testzip() is None
            for name in archive.namelist():
                lines = archive.read(name).splitlines()
                records.setdefault(name.replace(run_id, "<run>"), []).extend(lines)
    return Export(run, seconds, artifacts, zips, records)


async def _pair(pipeline: Pipeline) -> tuple[Worker, Worker]:
    """An exporter and an encryptor, started side by side (each start waits for readiness)."""
    exporter, encryptor = await asyncio.gather(
        asyncio.to_thread(pipeline.worker, "exporter"),
        asyncio.to_thread(pipeline.worker, "encryptor"),
    )
    return exporter, encryptor


@pytest.fixture(scope="module")
async def scale_out(pipeline: Pipeline, tmp_path_factory: pytest.TempPathFactory) -> ScaleOut:
    """The same export by one exporter and one encryptor, then by two of each: the first pair
    stays and a second pair joins it, all four real processes consuming the same queues."""
    await pipeline.give_certificate("alice")
    first = await _pair(pipeline)
    single = await _export(pipeline, tmp_path_factory.mktemp("single"))
    second = await _pair(pipeline)
    double = await _export(pipeline, tmp_path_factory.mktemp("double"))
    # Shown with -s; no bound asserted: on a shared 2-core machine four workers cannot be
    # relied on to be faster than two (docs/benchmarks.md, "Per-replica throughput (for KEDA)").
    plan = single.run.plan
    print(
        f"\n{plan.estimate if plan else 0} records, {len(plan.partitions) if plan else 0} "
        f"partitions, {len(single.artifacts)} parts: one of each {single.seconds:.1f} s, "
        f"two of each {double.seconds:.1f} s"
    )
    return ScaleOut(single, double, [first[0], second[0]], [first[1], second[1]])


def _logged(worker: Worker, event: str, run_id: str) -> list[dict[str, object]]:
    """The worker's JSON log lines of ``event`` for the run (its log is a file: JSON lines)."""
    found = []
    for line in worker.log.read_text().splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if entry.get("event") == event and entry.get("run_id") == run_id:
                found.append(entry)
    return found


def _normalised(data: bytes) -> bytes:
    """The ZIP with its member names and DOS timestamps blanked (in the local headers and the
    central directory), the only fields that name the run (APPNOTE 4.3.7 and 4.3.12)."""
    out = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = archive.infolist()
        central = archive.start_dir  # offset of the central directory
    for info in infos:
        at = info.header_offset
        assert data[at : at + 4] == b"PK\x03\x04"
        (name_length,) = struct.unpack_from("<H", data, at + 26)
        out[at + 10 : at + 14] = bytes(4)  # modification time and date
        out[at + 30 : at + 30 + name_length] = bytes(name_length)
    at = central
    for _ in infos:
        assert data[at : at + 4] == b"PK\x01\x02"
        name_length, extra_length, comment_length = struct.unpack_from("<HHH", data, at + 28)
        out[at + 12 : at + 16] = bytes(4)
        out[at + 46 : at + 46 + name_length] = bytes(name_length)
        at += 46 + name_length + extra_length + comment_length
    return bytes(out)


async def test_both_runs_export_exactly_the_source(pipeline: Pipeline, scale_out: ScaleOut) -> None:
    records, attachments = await pipeline.source_records(
        UcsQuery(pipeline.tenant_id, "interaction", tuple(MEDIA), START, END)
    )
    main, extra = (n.replace("RUN", "<run>") for n in member_names("interaction", "RUN"))
    assert len(records) > 4000 and attachments, "the seed is large and has attachments"
    for export in (scale_out.single, scale_out.double):
        assert export.records.keys() == {main, extra}
        # by_id fails on a record that appears twice; equal key sets mean no gap.
        assert by_id(export.records[main]) == by_id(records)
        assert by_id(export.records[extra]) == by_id(attachments)
    # Record for record and in the same order: line lists, not just sets.
    assert scale_out.single.records == scale_out.double.records


async def test_same_plan_same_cuts_identical_zips(scale_out: ScaleOut) -> None:
    single, double = scale_out.single, scale_out.double
    assert single.run.plan is not None and double.run.plan is not None
    assert 20 <= len(single.run.plan.partitions) <= 40
    assert single.run.plan.partitions == double.run.plan.partitions
    assert single.run.plan.zip_limit == double.run.plan.zip_limit
    assert single.artifacts.keys() == double.artifacts.keys()
    assert len(single.artifacts) > len(single.run.plan.partitions)  # partitions cut into parts
    for key, first in single.artifacts.items():
        second = double.artifacts[key]
        assert first.last_in_partition == second.last_in_partition, key
        assert [m.records for m in first.members] == [m.records for m in second.members], key
        # A fresh CMS content key per file: not the same bytes, but the same length.
        assert first.size == second.size, key
        a, b = single.zips[key], double.zips[key]
        assert a != b, "the member names carry the run id"
        assert _normalised(a) == _normalised(b), f"part {key} was cut or compressed differently"
        with zipfile.ZipFile(io.BytesIO(a)) as za, zipfile.ZipFile(io.BytesIO(b)) as zb:
            names_a = [n.replace(single.run.id, "<run>") for n in za.namelist()]
            assert names_a == [n.replace(double.run.id, "<run>") for n in zb.namelist()]


async def test_both_workers_of_each_kind_did_work(scale_out: ScaleOut) -> None:
    double = scale_out.double
    assert double.run.plan is not None
    partitions = [
        {entry["partition"] for entry in _logged(w, "part staged", double.run.id)}
        for w in scale_out.exporters
    ]
    sealed = [
        {entry["artifact_id"] for entry in _logged(w, "part sealed", double.run.id)}
        for w in scale_out.encryptors
    ]
    assert all(partitions) and all(sealed), (partitions, sealed)
    # Each partition claimed by one exporter (docs/pipeline.md, "Fair share");
    # each artifact inserted by one encryptor (only the insert's winner logs "part sealed").
    assert not partitions[0] & partitions[1] and not sealed[0] & sealed[1]
    assert partitions[0] | partitions[1] == set(range(len(double.run.plan.partitions)))
    assert sealed[0] | sealed[1] == {a.id for a in double.artifacts.values()}
