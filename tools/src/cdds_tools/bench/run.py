"""``make bench``: a full export through the real services, and the baseline shell pipeline
``psql COPY | gzip -6 | openssl cms -encrypt -aes-256-gcm`` on the same rows, side by side in one
run. Prints wall time, records/s, MB/s of JSON, bytes out, peak RSS of exporter and
encryptor, and ``ratio ours/baseline``."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import resource
import shlex
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
from cdds_shared.ucs import statements
from cdds_shared.ucs.query import UcsQuery
from cdds_shared.ucs.seed import seed
from cdds_tools.bench.sandbox import Sandbox, cpu_seconds, peak_rss_bytes
from cdds_tools.devstack import StackConfig
from cdds_tools.devstack.config import find_root
from cdds_tools.identity import make_identity
from cdds_tools.requester import Requester

__all__ = ["main"]

MB = 1_000_000


async def _ensure_seeded(dsn: str, tenant: int, interactions: int) -> dict[str, Any]:
    source = PostgresUcsSource(dsn)
    try:
        counts = await source.counts(tenant)
        if counts["interactions"] != interactions:
            print(f"seeding tenant {tenant} with {interactions} interactions …", flush=True)
            await asyncio.to_thread(seed, dsn, tenant, interactions // 10, interactions, 42)
            counts = await source.counts(tenant)
        return counts
    finally:
        await source.close()


def _json_bytes(dsn: str, query: UcsQuery) -> int:
    """Bytes of JSON Lines the export writes (records and attachments, newlines included)."""
    total = 0
    with psycopg.connect(dsn) as conn:
        for stmt, params in (statements.records(query), statements.attachments(query)):
            sized = psycopg.sql.SQL(
                "SELECT coalesce(sum(octet_length(j::text) + 1), 0) FROM ({}) AS s(j)"
            ).format(stmt)
            row = conn.execute(sized, params).fetchone()
            total += int(row[0]) if row else 0
    return total


def _baseline(
    dsn: str, query: UcsQuery, cert: Path, out: Path, level: int
) -> tuple[float, dict[str, float]]:
    """The reference pipeline on the same rows; returns its wall time and CPU seconds."""
    with psycopg.connect(dsn) as conn:
        copies = [
            psycopg.ClientCursor(conn).mogrify(stmt.as_string(conn), params)
            for stmt, params in (statements.records(query), statements.attachments(query))
        ]
    psql = " ; ".join(
        f"psql {shlex.quote(dsn)} -qAt -c {shlex.quote(f'COPY ({c}) TO STDOUT')}" for c in copies
    )
    script = (
        f"set -o pipefail; {{ {psql} ; }} | gzip -{level} | openssl cms -encrypt -binary "
        f"-aes-256-gcm -recip {shlex.quote(str(cert))} -keyopt rsa_padding_mode:oaep "
        f"-keyopt rsa_oaep_md:sha256 -keyopt rsa_mgf1_md:sha256 -outform DER "
        f"-out {shlex.quote(str(out))}"
    )
    cpu_before = cpu_seconds({})
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.monotonic()
    subprocess.run(["bash", "-c", script], check=True)
    wall = time.monotonic() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = {k: v - cpu_before[k] for k, v in cpu_seconds({}).items()}
    cpu["psql|gzip|openssl"] = (
        after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
    )
    return wall, {k: round(v, 2) for k, v in cpu.items() if v >= 0.01}


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
        pids = {w.service: w.proc.pid for w in sandbox.workers if w.proc is not None}
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
        while True:
            run = await runs.get(run_id) if await _exists(runs, run_id) else None
            if run is not None and run.status in FINISHED:
                break
            await asyncio.sleep(0.05)
        wall = time.monotonic() - began
        cpu = {k: round(v - cpu_before[k], 2) for k, v in cpu_seconds(pids).items()}
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
            "peak_rss": {w.service: peak_rss_bytes(w.proc.pid) for w in sandbox.workers if w.proc},
        }
    finally:
        async for info in objects.list(""):
            await objects.delete(info.key)
        await objects.remove_bucket()
        await objects.close()
        await documents.drop_database()
        await documents.close()
        await broker.stop()


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
                "--idle",
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
    parser.add_argument("--tenant", type=int, default=990_000, help="UCS tenant (+ size)")
    parser.add_argument("--level", type=int, default=6, help="deflate level, both pipelines")
    parser.add_argument("--split", type=int, default=1 << 30, help="file split size (bytes)")
    parser.add_argument("--concurrency", type=int, help="messages per worker (default: setting)")
    parser.add_argument("--partition-records", type=int, help="records per partition (setting)")
    parser.add_argument(
        "--repeat", type=int, default=2, help="alternate baseline and ours N times; best of each"
    )
    parser.add_argument("--out", type=Path, default=Path(".local/bench"))
    parser.add_argument(
        "--profile",
        action="store_true",
        help="sample exporter and encryptor with py-spy (via uvx) into --out as collapsed stacks",
    )
    args = parser.parse_args(argv)

    base = load_settings()
    tenant = args.tenant + args.interactions // 1000  # one tenant per size: no reseeding
    dsn = base.ucs.dsn.get_secret_value()
    counts = asyncio.run(_ensure_seeded(dsn, tenant, args.interactions))
    query = UcsQuery(tenant, "interaction")
    json_bytes = _json_bytes(dsn, query)
    records = counts["interactions"] + counts["attachments"]

    with tempfile.TemporaryDirectory(prefix="cdds-bench-") as tmp:
        cert, _, cert_path = make_identity(Path(tmp), name="cdds-bench")
        baseline_out = Path(tmp) / "baseline.p7m"
        sandbox = Sandbox(
            base,
            args.out / "logs",
            operator=StackConfig(root=find_root()).rabbit_users().ops,
            extra_env={
                "CDDS_EXPORT__COMPRESSION_LEVEL": str(args.level),
                **({"CDDS_RABBIT__PREFETCH": str(args.concurrency)} if args.concurrency else {}),
                **(
                    {"CDDS_EXPORT__PARTITION_RECORDS": str(args.partition_records)}
                    if args.partition_records
                    else {}
                ),
            },
        )
        sandbox.open()
        try:
            sandbox.start("exporter", 18181)
            sandbox.start("encryptor", 18182)
            profilers = _profile(sandbox, args.out) if args.profile else []
            baselines: list[dict[str, Any]] = []
            runs: list[dict[str, Any]] = []
            for _ in range(max(1, args.repeat)):  # alternating, so drift hits both alike
                wall, cpu = _baseline(dsn, query, cert_path, baseline_out, args.level)
                baselines.append(
                    {
                        "wall_seconds": wall,
                        "cpu_seconds": cpu,
                        "bytes_out": baseline_out.stat().st_size,
                    }
                )
                baseline_out.unlink()
                settings = sandbox.settings()
                runs.append(asyncio.run(_ours(sandbox, settings, cert, tenant, args.split)))
        finally:
            for profiler in profilers:
                profiler.send_signal(signal.SIGINT)
                profiler.wait(60)
            sandbox.close()

    result = {
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "interactions": counts["interactions"],
        "attachments": counts["attachments"],
        "json_bytes": json_bytes,
        "level": args.level,
        "split": args.split,
        "repeat": len(runs),
        "ours": min(runs, key=lambda r: r["wall_seconds"]),
        "baseline": min(baselines, key=lambda r: r["wall_seconds"]),
        "all_walls": {
            "ours": [round(r["wall_seconds"], 2) for r in runs],
            "baseline": [round(r["wall_seconds"], 2) for r in baselines],
        },
    }
    result["ratio"] = result["ours"]["wall_seconds"] / result["baseline"]["wall_seconds"]
    _report(result, records)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = result["at"].replace(":", "")
    (args.out / f"bench-{args.interactions}-{stamp}.json").write_text(json.dumps(result, indent=2))
    return 0


def _report(r: dict[str, Any], records: int) -> None:
    rows = []
    for name, wall, out in (
        ("ours", r["ours"]["wall_seconds"], r["ours"]["bytes_out"]),
        ("baseline", r["baseline"]["wall_seconds"], r["baseline"]["bytes_out"]),
    ):
        rows.append(
            f"{name:9} wall {wall:8.2f} s  {records / wall:10,.0f} records/s  "
            f"{r['json_bytes'] / MB / wall:7.1f} MB/s JSON  out {out / MB:8.1f} MB"
        )
    print(
        f"interactions {r['interactions']:,} + attachments {r['attachments']:,}; "
        f"JSON {r['json_bytes'] / MB:,.1f} MB; deflate level {r['level']}"
    )
    print("\n".join(rows))
    rss = r["ours"]["peak_rss"]
    print("peak RSS   " + "  ".join(f"{k} {v / (1 << 20):.0f} MiB" for k, v in rss.items()))
    for name in ("ours", "baseline"):
        cpu = r[name]["cpu_seconds"]
        print(f"CPU s {name:9}" + "  ".join(f"{k} {v:.1f}" for k, v in cpu.items()))
    print(f"parts {r['ours']['parts']}; best of {r['repeat']}: walls {r['all_walls']}")
    print(f"ratio ours/baseline: {r['ratio']:.2f}")


if __name__ == "__main__":
    sys.exit(main())
