"""``make bench``: a full export through the real services and three baselines on the same rows,
alternating in one run: ``psql COPY | gzip -6 | openssl cms``, the same with ``pigz -6 -p
$(nproc)``, and the source floor (``psql COPY`` to /dev/null). Prints wall time, records/s, MB/s
of JSON, bytes out, peak RSS of exporter and encryptor, CPU per component and ``ratio
ours/gzip``, ``ours/pigz``, ``ours/floor``; ``--workers 1,2`` runs ours with 1 and 2 exporter +
encryptor pairs (docs/benchmarks.md)."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
from cryptography import x509

from cdds_shared.adapters.minio_store import MinioObjectStore
from cdds_shared.adapters.mongo import MongoDocumentStore
from cdds_shared.adapters.postgres_ucs import PostgresUcsSource
from cdds_shared.certificates import CertificateRecord, CertificateStore
from cdds_shared.messaging import make_broker, publish
from cdds_shared.runs import FINISHED, RunStore
from cdds_shared.settings import Settings, load_settings
from cdds_shared.ucs.fakedata import make_id
from cdds_shared.ucs.query import UcsQuery
from cdds_shared.ucs.seed import seed
from cdds_tools.bench.baselines import BASELINES, baseline
from cdds_tools.bench.baselines import copies as baselines_copies
from cdds_tools.bench.baselines import json_bytes as baselines_json_bytes
from cdds_tools.bench.sandbox import Sandbox, cpu_seconds, peak_rss_bytes
from cdds_tools.devstack import StackConfig
from cdds_tools.devstack.config import find_root
from cdds_tools.identity import make_identity
from cdds_tools.requester import Requester

__all__ = ["main"]

MB = 1_000_000
SEED = 42
RUN_DEADLINE_SECONDS = 1800


async def _ensure_seeded(dsn: str, tenant: int, interactions: int) -> dict[str, Any]:
    source = PostgresUcsSource(dsn)
    try:
        counts = await source.counts(tenant)
        if counts["interactions"] != interactions or not _current(dsn, tenant):
            print(f"seeding tenant {tenant} with {interactions} interactions …", flush=True)
            await asyncio.to_thread(seed, dsn, tenant, interactions // 10, interactions, SEED)
            counts = await source.counts(tenant)
        return counts
    finally:
        await source.close()


def _current(dsn: str, tenant: int) -> bool:
    """Whether the tenant's rows are the seeder's of today (its ids have changed before)."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT min(id) FROM interaction WHERE tenant_id = %s", (tenant,)
        ).fetchone()
    return row is not None and row[0] == make_id(tenant, SEED, "i", 0)


async def _ours(
    sandbox: Sandbox, settings: Settings, cert: x509.Certificate, tenant: int, split: int
) -> dict[str, Any]:
    documents = MongoDocumentStore(settings.mongo)
    await documents.connect()
    objects = MinioObjectStore(settings.minio)
    broker = make_broker(settings.rabbit)
    try:
        await objects.ensure_bucket()
        await CertificateStore(documents).put(CertificateRecord.of("bench", cert))
        runs = RunStore(documents)
        await broker.connect()
        requester = Requester(documents, partial(publish, broker))
        await requester.tenant("bench", tenant)
        await requester.user("bench", "bench")  # before the clock starts: argon2 is slow
        pids = _worker_pids(sandbox)
        cpu_before = cpu_seconds(pids)
        began = time.monotonic()
        started = await requester.request(
            tenant="bench",
            ucs_tenant_id=tenant,
            owner="bench",
            record_type="interaction",
            split_size_bytes=split,
        )
        run_id = started.id
        deadline = began + RUN_DEADLINE_SECONDS
        while True:
            run = await runs.get(run_id) if await _exists(runs, run_id) else None
            if run is not None and run.status in FINISHED:
                break
            if time.monotonic() > deadline:
                status = run.status if run is not None else "missing"
                raise SystemExit(
                    f"bench: run {run_id} still {status} after {RUN_DEADLINE_SECONDS} s; "
                    f"see the workers' logs in {sandbox.workdir}"
                )
            await asyncio.sleep(0.05)
        wall = time.monotonic() - began
        cpu: dict[str, float] = {}
        for name, used in cpu_seconds(pids).items():
            service = name.split("#")[0]  # replicas add up
            cpu[service] = round(cpu.get(service, 0.0) + used - cpu_before[name], 2)
        if run.status != "completed":
            raise SystemExit(f"bench: the run ended {run.status}: {run.error}")
        artifacts = await runs.artifacts(run_id)
        return {
            "run_id": run_id,
            "wall_seconds": wall,
            "parts": len(artifacts),
            "bytes_out": sum(a.size for a in artifacts),
            "records": sum(a.main_records for a in artifacts),
            "cpu_seconds": {k: v for k, v in cpu.items() if v >= 0.01},
            "peak_rss": _peak_rss(sandbox),
        }
    finally:
        await objects.close()
        await documents.close()
        await broker.stop()


def _worker_pids(sandbox: Sandbox) -> dict[str, int]:
    """``exporter#0``, ``exporter#1``, ... to the pid of each replica."""
    pids: dict[str, int] = {}
    for worker in sandbox.workers:
        if worker.proc is not None:
            replica = sum(name.startswith(f"{worker.service}#") for name in pids)
            pids[f"{worker.service}#{replica}"] = worker.proc.pid
    return pids


def _peak_rss(sandbox: Sandbox) -> dict[str, int]:
    """The highest peak RSS of any replica of each service."""
    peaks: dict[str, int] = {}
    for worker in sandbox.workers:
        if worker.proc is not None:
            peak = peak_rss_bytes(worker.proc.pid)
            peaks[worker.service] = max(peaks.get(worker.service, 0), peak)
    return peaks


def _profile(sandbox: Sandbox, out: Path) -> list[subprocess.Popen[bytes]]:
    out.mkdir(parents=True, exist_ok=True)
    return [
        subprocess.Popen(
            [
                "uvx",
                "py-spy",
                "record",
                "--nonblocking",
                "--format",
                "raw",
                "--rate",
                "200",
                "--subprocesses",
                "-p",
                str(w.proc.pid),
                "-o",
                str(out / f"{w.service}.txt"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for w in sandbox.workers
        if w.proc is not None
    ]


async def _exists(runs: RunStore, run_id: str) -> bool:
    try:
        await runs.get(run_id)
    except Exception:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cdds-bench", description=__doc__)
    parser.add_argument("--interactions", type=int, default=200_000)
    # 1 990 000: the prose seeder's data (990 000 held the earlier, 15x compressible texts).
    parser.add_argument("--tenant", type=int, default=1_990_000, help="UCS tenant (+ size)")
    parser.add_argument("--level", type=int, default=6, help="deflate level, all pipelines")
    parser.add_argument("--split", type=int, default=1 << 30, help="file split size (bytes)")
    parser.add_argument("--concurrency", type=int, help="messages per worker (default: setting)")
    parser.add_argument("--partition-records", type=int, help="records per partition (setting)")
    parser.add_argument("--deflate", choices=("zlib-ng", "zlib"), help="library (default: setting)")
    parser.add_argument(
        "--workers",
        default="1",
        help="exporter + encryptor pairs of ours, comma-separated: 1,2 runs both (a scale curve)",
    )
    parser.add_argument(
        "--repeat", type=int, default=2, help="alternate the pipelines N times; best of each"
    )
    parser.add_argument("--out", type=Path, default=Path(".local/bench"))
    parser.add_argument(
        "--profile",
        action="store_true",
        help="sample exporter and encryptor with py-spy (via uvx) into --out as collapsed stacks",
    )
    args = parser.parse_args(argv)
    replicas = [int(w) for w in args.workers.split(",")]
    missing = [tool for tool in ("psql", "gzip", "pigz", "openssl") if shutil.which(tool) is None]
    if missing:
        raise SystemExit(f"bench: {', '.join(missing)} not found: run make bootstrap")

    base = load_settings()
    tenant = args.tenant + args.interactions // 1000  # one tenant per size: no reseeding
    dsn = base.ucs.dsn.get_secret_value()
    counts = asyncio.run(_ensure_seeded(dsn, tenant, args.interactions))
    query = UcsQuery(tenant, "interaction")
    json_bytes = baselines_json_bytes(dsn, query)
    records = counts["interactions"] + counts["attachments"]
    copies = baselines_copies(dsn, query)
    env = {
        "CDDS_EXPORT__COMPRESSION_LEVEL": str(args.level),
        **({"CDDS_EXPORT__DEFLATE": args.deflate} if args.deflate else {}),
        **({"CDDS_RABBIT__PREFETCH": str(args.concurrency)} if args.concurrency else {}),
        **(
            {"CDDS_EXPORT__PARTITION_RECORDS": str(args.partition_records)}
            if args.partition_records
            else {}
        ),
    }

    with tempfile.TemporaryDirectory(prefix="cdds-bench-") as tmp:
        cert, _, cert_path = make_identity(Path(tmp), name="cdds-bench")
        out = Path(tmp) / "baseline.p7m"
        operator = StackConfig(root=find_root()).rabbit_users().ops
        sandboxes: dict[int, Sandbox] = {}
        profilers: list[subprocess.Popen[bytes]] = []
        baselines: dict[str, list[dict[str, Any]]] = {kind: [] for kind in BASELINES}
        ours: dict[int, list[dict[str, Any]]] = {n: [] for n in replicas}
        try:
            for n in replicas:  # each its own vhost, database and bucket; idle between turns
                sandbox = Sandbox(
                    base, args.out / "logs" / f"x{n}", operator=operator, extra_env=env
                )
                sandbox.open()
                sandboxes[n] = sandbox
                for i in range(n):
                    sandbox.start("exporter", 18181 + 10 * n + 2 * i)
                    sandbox.start("encryptor", 18182 + 10 * n + 2 * i)
                if args.profile:
                    profilers += _profile(sandbox, args.out / f"profile-x{n}")
            for _ in range(max(1, args.repeat)):  # alternating, so drift hits all alike
                for kind in BASELINES:
                    baselines[kind].append(baseline(kind, copies, cert_path, out, args.level))
                for n, sandbox in sandboxes.items():
                    settings = sandbox.settings()
                    ours[n].append(asyncio.run(_ours(sandbox, settings, cert, tenant, args.split)))
        finally:
            for profiler in profilers:
                profiler.send_signal(signal.SIGINT)
                profiler.wait(60)
            for sandbox in sandboxes.values():
                sandbox.close()
                asyncio.run(sandbox.drop_data())

    best = {n: min(runs, key=lambda r: r["wall_seconds"]) for n, runs in ours.items()}
    result: dict[str, Any] = {
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "interactions": counts["interactions"],
        "attachments": counts["attachments"],
        "records": records,
        "json_bytes": json_bytes,
        "level": args.level,
        "split": args.split,
        "repeat": max(1, args.repeat),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "ours": best[replicas[0]],
        "replicas": {str(n): best[n] for n in replicas},
        "baselines": {k: min(v, key=lambda r: r["wall_seconds"]) for k, v in baselines.items()},
        "all_walls": {
            **{
                f"ours x{n}": [round(r["wall_seconds"], 2) for r in runs]
                for n, runs in ours.items()
            },
            **{k: [round(r["wall_seconds"], 2) for r in v] for k, v in baselines.items()},
        },
    }
    wall = result["ours"]["wall_seconds"]
    result["ratios"] = {k: wall / v["wall_seconds"] for k, v in result["baselines"].items()}
    _report(result)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = result["at"].replace(":", "")
    (args.out / f"bench-{args.interactions}-{stamp}.json").write_text(json.dumps(result, indent=2))
    return 0


def _report(r: dict[str, Any]) -> None:
    records, mb = r["records"], r["json_bytes"] / MB
    deflates = r["json_bytes"] / r["baselines"]["gzip"]["bytes_out"]
    print(
        f"interactions {r['interactions']:,} + attachments {r['attachments']:,}; "
        f"JSON {mb:,.1f} MB; deflate level {r['level']}; "
        f"gzip -{r['level']} deflates it {deflates:.2f}x"
    )
    rows = [(f"ours x{n}", o) for n, o in r["replicas"].items()] + list(r["baselines"].items())
    for name, run in rows:
        wall = run["wall_seconds"]
        out = f"out {run['bytes_out'] / MB:8.1f} MB" if run["bytes_out"] else ""
        print(
            f"{name:9} wall {wall:8.2f} s  {records / wall:10,.0f} records/s  "
            f"{mb / wall:7.1f} MB/s JSON  {1e6 * wall / records:6.1f} us/record  {out}"
        )
    for n, run in r["replicas"].items():
        rss = "  ".join(f"{k} {v / (1 << 20):.0f} MiB" for k, v in run["peak_rss"].items())
        print(f"peak RSS ours x{n}: {rss}")
    for name, run in rows:
        cpu = "  ".join(f"{k} {v:.1f}" for k, v in run["cpu_seconds"].items())
        print(f"CPU s {name:9} {cpu}")
    print(f"parts {r['ours']['parts']}; best of {r['repeat']}: walls {r['all_walls']}")
    gzip_out = r["baselines"]["gzip"]["bytes_out"]
    print(f"size ours/gzip: {r['ours']['bytes_out'] / gzip_out:.3f}")
    for kind, ratio in r["ratios"].items():
        print(f"ratio ours/{kind}: {ratio:.2f}")


if __name__ == "__main__":
    sys.exit(main())
