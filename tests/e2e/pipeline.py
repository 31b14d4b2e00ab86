"""A private export pipeline on the real servers: its own RabbitMQ virtual host, MongoDB database,
MinIO bucket and UCS database, with the exporter and encryptor as real processes
(``faststream run --factory``) that tests can kill and restart."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import subprocess
import sys
import time
import uuid
import zipfile
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from cryptography import x509
from faststream.rabbit import RabbitBroker

from cdds_shared.adapters.minio_store import MinioObjectStore
from cdds_shared.adapters.mongo import MongoDocumentStore
from cdds_shared.adapters.postgres_ucs import PostgresUcsSource
from cdds_shared.certificates import CertificateRecord, CertificateStore
from cdds_shared.messaging import make_broker, publish
from cdds_shared.messaging.messages import Timeframe
from cdds_shared.runs import FINISHED, Run, RunStore
from cdds_shared.settings import Settings
from cdds_shared.ucs.query import UcsQuery
from cdds_tools.requester import Requester
from cdds_tools.workers import WorkerProcess
from tests.infra import StackInfo
from tests.waiting import eventually

BIN = Path(sys.executable).parent
T = TypeVar("T")


Worker = WorkerProcess


@dataclass
class Pipeline:
    stack: StackInfo
    settings: Settings
    env: dict[str, str]
    workdir: Path
    ucs_dsn: str
    tenant_id: int
    other_tenant_id: int
    key_path: Path
    cert: x509.Certificate
    broker: RabbitBroker = field(init=False)
    documents: MongoDocumentStore = field(init=False)
    objects: MinioObjectStore = field(init=False)
    runs: RunStore = field(init=False)
    certificates: CertificateStore = field(init=False)
    requester: Requester = field(init=False)
    workers: dict[str, Worker] = field(default_factory=dict)

    async def open(self) -> None:
        self.broker = make_broker(self.settings.rabbit)
        await self.broker.connect()
        self.documents = MongoDocumentStore(self.settings.mongo)
        await self.documents.connect()
        self.objects = MinioObjectStore(self.settings.minio)
        await self.objects.ensure_bucket()
        self.runs = RunStore(self.documents)
        self.certificates = CertificateStore(self.documents)
        self.requester = Requester(self.documents, partial(publish, self.broker))

    async def close(self) -> None:
        for worker in self.workers.values():
            worker.stop()
        async for info in self.objects.list(""):
            await self.objects.delete(info.key)
        await self.objects.remove_bucket()
        await self.objects.close()
        await self.documents.drop_database()
        await self.documents.close()
        await self.broker.stop()

    def worker(self, service: str, **overrides: str) -> Worker:
        env = {**self.env, **overrides}
        worker = Worker(service, env, self.workdir / f"{service}-{uuid.uuid4().hex[:4]}.log")
        worker.start()
        self.workers[f"{service}-{uuid.uuid4().hex[:6]}"] = worker
        return worker

    async def give_certificate(self, owner: str, cert: x509.Certificate | None = None) -> None:
        await self.certificates.put(CertificateRecord.of(owner, cert or self.cert))

    def tenant_of(self, ucs_tenant_id: int) -> str:
        """The CDDS tenant of a UCS tenant here: ``acme`` for the module's, ``ucs-<id>`` else."""
        return "acme" if ucs_tenant_id == self.tenant_id else f"ucs-{ucs_tenant_id}"

    async def request(
        self,
        record_type: str = "interaction",
        *,
        owner: str = "alice",
        media_types: list[str] | None = None,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
        split: int = 1 << 30,
        tenant_id: int | None = None,
    ) -> str:
        """Start a run as the gateway does (``Requester``): the tenant of the UCS tenant and the
        owner, an exporter of it, are made when missing."""
        ucs_tenant_id = tenant_id or self.tenant_id
        run = await self.requester.request(
            tenant=self.tenant_of(ucs_tenant_id),
            ucs_tenant_id=ucs_tenant_id,
            owner=owner,
            record_type=record_type,  # type: ignore[arg-type]
            media_types=media_types,
            timeframe=Timeframe(start=start, end=end),
            split_size_bytes=split,
        )
        return run.id

    async def finished(self, run_id: str, timeout: float = 120) -> Run:
        """Wait until the run ends (the state is polled: the run document is the truth)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                run = await self.runs.get(run_id)
                if run.status in FINISHED:
                    return run
            except Exception:  # noqa: S110 - not created yet
                pass
            await asyncio.sleep(0.2)
        logs = "\n".join(w.log.read_text()[-2000:] for w in self.workers.values())
        raise AssertionError(f"run {run_id} did not finish in {timeout}s\n{logs}")

    async def wait_until(
        self,
        probe: Callable[[], Awaitable[T]],
        done: Callable[[T], bool],
        timeout: float = 60,
    ) -> T:
        """Poll ``probe`` until ``done`` holds (state is polled where no event exists); after
        ``timeout`` fail with the last value (``tests.waiting.eventually``)."""
        return await eventually(probe, done, timeout=timeout)

    async def staging_emptied(self, run_id: str = "", timeout: float = 30) -> None:
        """Wait until no staged part (of ``run_id``, or of any run) is left: a finished run's
        leftovers are removed after its status changes, so a finished run is not enough."""
        prefix = self.settings.minio.staging_prefix + run_id

        async def keys() -> list[str]:
            return [o.key async for o in self.objects.list(prefix)]

        await eventually(keys, lambda left: left == [], timeout=timeout, what=f"{prefix}*")

    async def download(self, run_id: str, directory: Path) -> list[Path]:
        directory.mkdir(parents=True, exist_ok=True)
        paths = []
        for artifact in await self.runs.artifacts(run_id):
            path = directory / artifact.name
            with path.open("wb") as out:
                async for chunk in self.objects.open_stream(artifact.object_key):
                    out.write(chunk)
            paths.append(path)
        return paths

    def openssl_decrypt(self, sealed: Path, key: Path | None = None) -> Path:
        """``openssl cms -decrypt`` into ``<name>.zip`` beside it (fails on a non-zero exit)."""
        return openssl_decrypt(sealed, key or self.key_path)

    async def exported_records(self, run_id: str, directory: Path) -> dict[str, list[bytes]]:
        """Every JSON line of every member of every part, decrypted with ``openssl cms``."""
        members: dict[str, list[bytes]] = {}
        for sealed in await self.download(run_id, directory):
            with zipfile.ZipFile(self.openssl_decrypt(sealed)) as archive:
                assert archive.testzip() is None
                for name in archive.namelist():
                    members.setdefault(name, []).extend(archive.read(name).splitlines())
        return members

    async def source_records(self, query: UcsQuery) -> tuple[list[bytes], list[bytes]]:
        source = PostgresUcsSource(self.ucs_dsn)
        try:
            records = [r async for r in source.stream(query)]
            attachments = (
                [a async for a in source.stream_attachments(query)]
                if query.record_type == "interaction"
                else []
            )
        finally:
            await source.close()
        return records, attachments


def openssl_decrypt(sealed: Path, key: Path) -> Path:
    out = sealed.with_suffix("")  # .zip.p7m -> .zip
    command = [
        "openssl",
        "cms",
        "-decrypt",
        "-binary",
        "-inform",
        "DER",
        "-in",
        str(sealed),
        "-inkey",
        str(key),
        "-out",
        str(out),
    ]
    subprocess.run(command, check=True, capture_output=True)
    return out


def by_id(lines: Iterable[bytes]) -> dict[str, dict[str, Any]]:
    parsed = [json.loads(line) for line in lines]
    out = {p["id"]: p for p in parsed}
    assert len(out) == len(parsed), "a record appears twice"
    return out
