"""``make bench-download``: one sealed file (random bytes, ~35 MB) downloaded through the gateway
and straight from MinIO with a presigned GET, in alternating A/B pairs, one at a time and N at
once, for each download mode (``proxy``: the gateway streams the bytes; ``redirect``: it answers
307 and the client follows it to MinIO). Prints the medians and ``ratio gateway/minio`` (the
gateway's throughput over MinIO's: 1.0 is as fast, the target is at least 0.9).

Both sides use one client, aiohttp (in the lock): its C HTTP parser reads a body with less CPU
per byte than httpx's pure-Python one, and on a 2-core machine a client's own CPU is taken from
the servers it measures, so the cheaper client shows the servers' difference more faithfully.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp

from cdds_shared.adapters.minio_store import MinioObjectStore
from cdds_shared.adapters.mongo import MongoDocumentStore
from cdds_shared.identity import IdentityStore
from cdds_shared.runs import (
    Artifact,
    MemberCount,
    PartitionPlan,
    Plan,
    Run,
    RunStore,
    artifact_id,
    utcnow,
)
from cdds_shared.settings import Settings, load_settings
from cdds_tools.bench.sandbox import Sandbox, cpu_seconds
from cdds_tools.devstack import StackConfig
from cdds_tools.devstack.config import find_root
from cdds_tools.workers import WorkerProcess

__all__ = ["main"]

MB = 1_000_000
MODES = ("proxy", "redirect")
PASSWORD = "bench-download-password"  # noqa: S105 - a throwaway user of a throwaway database
READ = 1 << 20


@dataclass(frozen=True)
class Target:
    """One side of a pair: where to GET, with which headers."""

    url: str
    headers: dict[str, str]


async def _seed(settings: Settings, size: int) -> tuple[str, str, Artifact]:
    """A tenant, an exporter and one run with one file of ``size`` random bytes; returns the
    user's name and tenant, and the file."""
    objects = MinioObjectStore(settings.minio)
    documents = MongoDocumentStore(settings.mongo)
    await documents.connect()
    try:
        await objects.ensure_bucket()
        identity = IdentityStore(documents)
        tenant = await identity.create_tenant("bench", 990_001)
        user = await identity.create_user("bench", tenant.name, ("exporter",), PASSWORD)
        now = utcnow()
        run = Run(
            id=uuid.uuid4().hex[:24],
            tenant=tenant.name,
            ucs_tenant_id=tenant.ucs_tenant_id,
            owner=user.id,
            record_type="interaction",
            split_size_bytes=1 << 30,
            status="completed",
            requested_at=now,
            started_at=now,
            finished_at=now,
            plan=Plan(
                planned_at=now,
                estimate=1,
                end=now,
                partitions=[PartitionPlan(after_id=None, until_id=None)],
                compression_level=6,
                zip_limit=1 << 30,
            ),
        )
        runs = RunStore(documents)
        await runs.ensure_indexes()
        await runs.insert(run)
        data = os.urandom(size)  # a sealed file is ciphertext: random bytes are its like
        key = f"artifacts/{tenant.name}/{run.id}/000-000.p7m"
        await objects.put_stream(key, _chunks(data), content_type="application/pkcs7-mime")
        artifact = Artifact(
            id=artifact_id(run.id, 0, 0),
            run_id=run.id,
            tenant=tenant.name,
            owner=user.id,
            record_type="interaction",
            partition=0,
            part=0,
            last_in_partition=True,
            name=f"Interaction-{run.id}-000-000.zip.p7m",
            object_key=key,
            size=size,
            sha256=hashlib.sha256(data).hexdigest(),
            members=[MemberCount(name=f"Interaction-{run.id}.jsonl", records=1)],
            seal="cms-authenveloped-aes256gcm-rsaoaep-sha256",
            certificate_sha256="0" * 64,
            created_at=now,
            expires_at=now + timedelta(days=30),
        )
        assert await runs.add_artifact(artifact)
        return user.username, tenant.name, artifact
    finally:
        await objects.close()
        await documents.close()


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    view = memoryview(data)
    for start in range(0, len(data), 8 << 20):
        yield bytes(view[start : start + (8 << 20)])


async def _fetch(http: aiohttp.ClientSession, target: Target, size: int) -> None:
    """GET the whole file (following a redirect), counting its bytes."""
    async with http.get(target.url, headers=target.headers) as response:
        if response.status != 200:
            raise RuntimeError(f"{target.url}: HTTP {response.status} {await response.text()}")
        received = 0
        async for chunk in response.content.iter_any():
            received += len(chunk)
    if received != size:
        raise RuntimeError(f"{target.url}: {received} bytes, not {size}")


async def _digest(http: aiohttp.ClientSession, target: Target) -> str:
    digest = hashlib.sha256()
    async with http.get(target.url, headers=target.headers) as response:
        async for chunk in response.content.iter_any():
            digest.update(chunk)
    return digest.hexdigest()


async def _timed(work: Callable[[], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    await work()
    return time.perf_counter() - started


def _client_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _pairs(
    http: aiohttp.ClientSession,
    gateway: Target,
    minio: Target,
    *,
    size: int,
    pairs: int,
    at_once: int,
    cpu_of: Callable[[], dict[str, float]],
) -> dict[str, Any]:
    """``pairs`` A/B pairs (the order swapped every pair, so drift hits both alike) of ``at_once``
    simultaneous downloads; wall times, throughput ratios and the CPU seconds of each side."""

    async def batch(target: Target) -> float:
        return await _timed(
            lambda: asyncio.gather(*(_fetch(http, target, size) for _ in range(at_once)))
        )

    walls: dict[str, list[float]] = {"gateway": [], "minio": []}
    cpu: dict[str, dict[str, float]] = {"gateway": {}, "minio": {}}
    for index in range(pairs):
        order = ("gateway", "minio") if index % 2 == 0 else ("minio", "gateway")
        for side in order:
            before, client_before = cpu_of(), _client_cpu()
            walls[side].append(await batch(gateway if side == "gateway" else minio))
            after = cpu_of()
            spent = {k: after[k] - before[k] for k in after} | {
                "client": _client_cpu() - client_before
            }
            for name, seconds in spent.items():
                cpu[side][name] = cpu[side].get(name, 0.0) + seconds
    ratios = [m / g for g, m in zip(walls["gateway"], walls["minio"], strict=True)]
    total = size * at_once
    return {
        "at_once": at_once,
        "pairs": pairs,
        "wall_seconds": walls,
        "median_seconds": {k: statistics.median(v) for k, v in walls.items()},
        "median_mb_per_s": {k: total / MB / statistics.median(v) for k, v in walls.items()},
        "ratios": ratios,
        "ratio": statistics.median(ratios),
        "cpu_seconds_per_gb": {
            side: {k: v / (total * pairs / 1e9) for k, v in spent.items() if v > 0.005}
            for side, spent in cpu.items()
        },
    }


async def _measure(
    gateways: dict[str, WorkerProcess], settings: Settings, args: argparse.Namespace
) -> dict[str, Any]:
    size = int(args.size_mb * MB)
    username, tenant, artifact = await _seed(settings, size)
    objects = MinioObjectStore(settings.minio)
    try:  # signed once, as a client that already holds its URL
        presigned = await objects.presigned_get(artifact.object_key, timedelta(hours=2))
    finally:
        await objects.close()
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    timeout = aiohttp.ClientTimeout(total=600)
    results: dict[str, Any] = {}
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        first = next(iter(gateways.values()))
        signed_in = await http.post(
            f"http://127.0.0.1:{first.bound_port}/api/v1/session",
            json={"username": username, "tenant": tenant, "password": PASSWORD},
        )
        token = (await signed_in.json())["token"]
        minio = Target(presigned, {})
        for mode, process in gateways.items():
            gateway = Target(
                f"http://127.0.0.1:{process.bound_port}/api/v1/artifacts/{artifact.id}/content",
                {"Authorization": f"Bearer {token}"},
            )
            # Warm both sides (connections, caches) and check they send the same bytes.
            if await _digest(http, gateway) != await _digest(http, minio):
                raise RuntimeError(f"{mode}: the gateway and MinIO sent different bytes")
            pids = {"gateway": process.proc.pid if process.proc else 0}

            def cpu_of(pids: dict[str, int] = pids) -> dict[str, float]:
                spent = cpu_seconds(pids)
                return {"gateway": spent["gateway"], "minio": spent["minio"]}

            results[mode] = {}
            for at_once in (1, args.concurrency):
                label = "single" if at_once == 1 else f"{at_once} at once"
                print(f"{mode}: {label}, {args.pairs} pairs …", flush=True)
                results[mode][label] = await _pairs(
                    http, gateway, minio, size=size, pairs=args.pairs, at_once=at_once,
                    cpu_of=cpu_of,
                )  # fmt: skip
    return {"size_bytes": size, "modes": results}


def _start_gateways(sandbox: Sandbox, modes: list[str]) -> dict[str, WorkerProcess]:
    started: dict[str, WorkerProcess] = {}
    for mode in modes:
        env = sandbox.env() | {"CDDS_GATEWAY__DOWNLOAD_MODE": mode}
        worker = WorkerProcess("gateway", env, sandbox.workdir / f"gateway-{mode}.log")
        sandbox.workers.append(worker)
        worker.start()
        started[mode] = worker
    return started


def _profile(gateway: WorkerProcess, out: Path) -> subprocess.Popen[bytes]:
    assert gateway.proc is not None
    return subprocess.Popen(
        ["uvx", "py-spy", "record", "--nonblocking", "--format", "raw", "--rate", "250",
         "--idle", "-p", str(gateway.proc.pid), "-o", str(out / "gateway-download.txt")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench-download", description=__doc__)
    parser.add_argument("--size-mb", type=float, default=35.0, help="the file (35 MB)")
    parser.add_argument("--pairs", type=int, default=15, help="A/B pairs per figure (15)")
    parser.add_argument("--concurrency", type=int, default=8, help="downloads at once (8)")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--out", type=Path, default=Path(".local/bench"))
    parser.add_argument(
        "--profile",
        action="store_true",
        help="py-spy (via uvx) samples of the first mode's gateway",
    )
    args = parser.parse_args(argv)
    base = load_settings()
    load = os.getloadavg()
    sandbox = Sandbox(
        base, args.out / "logs-download", operator=StackConfig(root=find_root()).rabbit_users().ops
    )
    sandbox.open()
    profiler = None
    try:
        gateways = _start_gateways(sandbox, args.modes)
        if args.profile:
            profiler = _profile(gateways[args.modes[0]], args.out)
        measured = asyncio.run(_measure(gateways, sandbox.settings(), args))
    finally:
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(60)
        sandbox.close()
        asyncio.run(sandbox.drop_data())
    result = {
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "load_average": load,
        "client": f"aiohttp {aiohttp.__version__}",
        **measured,
    }
    _report(result)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = result["at"].replace(":", "")
    (args.out / f"download-{stamp}.json").write_text(json.dumps(result, indent=2))
    return 0


def _report(result: dict[str, Any]) -> None:
    print(
        f"file {result['size_bytes'] / MB:.1f} MB; client {result['client']}; "
        f"load average before {result['load_average'][0]:.2f}"
    )
    for mode, figures in result["modes"].items():
        for label, f in figures.items():
            seconds, rates = f["median_seconds"], f["median_mb_per_s"]
            print(
                f"{mode:8} {label:10} gateway {seconds['gateway'] * 1000:7.1f} ms "
                f"{rates['gateway']:7.0f} MB/s | minio {seconds['minio'] * 1000:7.1f} ms "
                f"{rates['minio']:7.0f} MB/s | ratio gateway/minio {f['ratio']:.2f} "
                f"(pairs {min(f['ratios']):.2f} to {max(f['ratios']):.2f})"
            )
            for side, spent in f["cpu_seconds_per_gb"].items():
                shown = "  ".join(f"{k} {v:.2f}" for k, v in sorted(spent.items()))
                print(f"{'':19} CPU s/GB via {side:7}: {shown}")


if __name__ == "__main__":
    sys.exit(main())
