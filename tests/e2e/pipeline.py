"""A private export pipeline on the real servers: its own RabbitMQ virtual host, MongoDB database,
MinIO bucket and UCS database, with the exporter and encryptor as real processes
(``faststream run --factory``) that tests can kill and restart."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
import uuid
import zipfile
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from faststream.rabbit import RabbitBroker

from cdds_shared.adapters.minio_store import MinioObjectStore
from cdds_shared.adapters.mongo import MongoDocumentStore
from cdds_shared.certificates import CertificateRecord, CertificateStore
from cdds_shared.messaging import make_broker, publish
from cdds_shared.messaging.messages import RunRequested, Timeframe
from cdds_shared.runs import FINISHED, Run, RunStore
from cdds_shared.settings import Settings
from cdds_shared.ucs.query import UcsQuery
from cdds_shared.ucs.source import PostgresUcsSource
from tests.infra import StackInfo, free_port

BIN = Path(sys.executable).parent
T = TypeVar("T")


def make_identity(
    directory: Path, *, bits: int = 2048, days: int = 365, name: str = "exporter"
) -> tuple[x509.Certificate, Path, Path]:
    """An RSA key and a self-signed certificate, written as PEM files."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    key_path, cert_path = directory / f"{name}-key.pem", directory / f"{name}-cert.pem"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert, key_path, cert_path


@dataclass
class Worker:
    service: str
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    port: int = 0

    def start(self) -> None:
        self.port = free_port()
        target = f"cdds_{self.service}.app:create_app"
        command = [
            str(BIN / "faststream"),
            "run",
            "--factory",
            target,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                command,
                env={**self.env, "CDDS_WORKER__PORT": str(self.port)},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.port}/readyz"
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.service} exited: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{self.service} not ready: {self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, in-flight messages are left unacked."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(40)
            except subprocess.TimeoutExpired:
                self.kill()


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
        self.workers[f"{service}-{worker.port}"] = worker
        return worker

    async def give_certificate(self, owner: str, cert: x509.Certificate | None = None) -> None:
        await self.certificates.put(CertificateRecord.of(owner, cert or self.cert))

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
        run_id = uuid.uuid4().hex[:24]
        await publish(
            self.broker,
            RunRequested(
                correlation_id=run_id,
                run_id=run_id,
                tenant="acme",
                ucs_tenant_id=tenant_id or self.tenant_id,
                owner=owner,
                record_type=record_type,  # type: ignore[arg-type]
                media_types=media_types,
                timeframe=Timeframe(start=start, end=end),
                split_size_bytes=split,
            ),
        )
        return run_id

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
        """Poll ``probe`` until ``done`` holds (state is polled where no event exists)."""
        deadline = time.monotonic() + timeout
        while True:
            value = await probe()
            if done(value):
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"still {value!r} after {timeout}s")
            await asyncio.sleep(0.1)

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

    def openssl_decrypt(self, sealed: Path) -> Path:
        out = sealed.with_suffix("")  # .zip.p7m -> .zip
        subprocess.run(
            [
                "openssl",
                "cms",
                "-decrypt",
                "-binary",
                "-inform",
                "DER",
                "-in",
                str(sealed),
                "-inkey",
                str(self.key_path),
                "-out",
                str(out),
            ],
            check=True,
            capture_output=True,
        )
        return out

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


def by_id(lines: Iterable[bytes]) -> dict[str, dict[str, Any]]:
    parsed = [json.loads(line) for line in lines]
    out = {p["id"]: p for p in parsed}
    assert len(out) == len(parsed), "a record appears twice"
    return out
