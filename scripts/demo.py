"""`make demo`: the stack is up, sample UCS data is loaded, every service answers its readiness
check, and an export runs end to end through the real exporter and encryptor: a user with a
certificate, a run requested over RabbitMQ, the sealed files downloaded from MinIO, decrypted with
`cdds decrypt` and the user's key, and every record compared with the UCS source. Exit status 0
only if all of that holds.

Signing in and requesting the export through the gateway's pages arrive with issue #4.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from cryptography import x509

from cdds_shared.adapters.minio_store import MinioObjectStore
from cdds_shared.adapters.mongo import MongoDocumentStore
from cdds_shared.certificates import CertificateRecord, CertificateStore
from cdds_shared.errors import NotFoundError
from cdds_shared.messaging import make_broker, publish
from cdds_shared.messaging.messages import RunRequested
from cdds_shared.runs import FINISHED, RunStore
from cdds_shared.settings import load_settings
from cdds_shared.ucs.query import UcsQuery
from cdds_shared.ucs.seed import seed
from cdds_shared.ucs.source import PostgresUcsSource
from cdds_tools.devstack import Stack, StackConfig
from cdds_tools.devstack.config import find_root
from cdds_tools.identity import make_identity

DEMO_TENANT = 9001


def readiness(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


async def export_and_verify(config: StackConfig, workdir: Path) -> bool:
    os.environ.update(config.env())
    settings = load_settings()
    workdir.mkdir(parents=True, exist_ok=True)
    key_path, cert = _identity(workdir)
    documents = MongoDocumentStore(settings.mongo)
    await documents.connect()
    objects = MinioObjectStore(settings.minio)
    broker = make_broker(settings.rabbit)
    await broker.connect()
    try:
        await CertificateStore(documents).put(CertificateRecord.of("demo", cert))
        print(f"   user demo has a certificate ({key_path.parent / 'demo-cert.pem'})")
        runs = RunStore(documents)
        run_id = uuid.uuid4().hex[:24]
        await publish(
            broker,
            RunRequested(
                correlation_id=run_id,
                run_id=run_id,
                tenant="demo",
                ucs_tenant_id=DEMO_TENANT,
                owner="demo",
                record_type="interaction",
                split_size_bytes=4 << 20,
            ),
        )
        run = None
        for _ in range(1200):
            with contextlib.suppress(NotFoundError):
                run = await runs.get(run_id)
            if run is not None and run.status in FINISHED:
                break
            await asyncio.sleep(0.1)
        if run is None or run.status != "completed":
            print(f"   run {run_id}: {run.status if run else 'never started'} {run and run.error}")
            return False
        artifacts = await runs.artifacts(run_id)
        print(f"   run {run_id} completed: {len(artifacts)} sealed files")
        out = workdir / run_id
        out.mkdir(exist_ok=True)
        for artifact in artifacts:
            sealed = out / artifact.name
            with sealed.open("wb") as file:
                async for chunk in objects.open_stream(artifact.object_key):
                    file.write(chunk)
            assert hashlib.sha256(sealed.read_bytes()).hexdigest() == artifact.sha256
        decrypt = [
            str(Path(sys.executable).parent / "cdds"),
            "decrypt",
            "--key",
            str(key_path),
            "--out",
            str(out),
            "--unzip",
            *(str(out / a.name) for a in artifacts),
        ]
        await asyncio.to_thread(subprocess.run, decrypt, check=True, stdout=subprocess.DEVNULL)
        exported: dict[str, dict[str, bytes]] = {"records": {}, "attachments": {}}
        members = {
            "records": f"Interaction-{run_id}.jsonl",
            "attachments": f"Interaction-Attachment-{run_id}.jsonl",
        }
        for kind, name in members.items():
            for member in sorted(out.glob(f"*/{name}")):
                for line in member.read_bytes().splitlines():
                    exported[kind][json.loads(line)["id"]] = line
        source = PostgresUcsSource(settings.ucs.dsn.get_secret_value())
        query = UcsQuery(DEMO_TENANT, "interaction")
        expected: dict[str, dict[str, bytes]] = {"records": {}, "attachments": {}}
        async for line in source.stream(query):
            expected["records"][json.loads(line)["id"]] = line
        async for line in source.stream_attachments(query):
            expected["attachments"][json.loads(line)["id"]] = line
        await source.close()
        same = exported == expected
        print(
            f"   decrypted with cdds decrypt into {out}: {len(exported['records'])} interactions "
            f"and {len(exported['attachments'])} attachments, "
            f"{'identical to' if same else 'DIFFERENT from'} the "
            f"{len(expected['records'])} and {len(expected['attachments'])} in UCS"
        )
        return same
    finally:
        await objects.close()
        await documents.close()
        await broker.stop()


def _identity(directory: Path) -> tuple[Path, x509.Certificate]:
    """The demo user's key pair (kept in .local/demo so the files can be decrypted later)."""
    key_path, cert_path = directory / "demo-key.pem", directory / "demo-cert.pem"
    if not key_path.exists():
        make_identity(directory, name="demo")
    return key_path, x509.load_pem_x509_certificate(cert_path.read_bytes())


def main() -> int:
    config = StackConfig(root=find_root())
    stack = Stack(config)
    ok = True

    print("1. the stack")
    for row in stack.status():
        print(f"   {row.name:10} pid {row.pid or '-':>7}  {row.health}")
        ok &= row.health == "healthy"

    print(f"2. sample UCS data (tenant {DEMO_TENANT})")
    result = seed(
        config.env()["CDDS_UCS__DSN"], DEMO_TENANT, contacts=500, interactions=5000, seed=42
    )
    print(
        f"   {result.contacts} contacts, {result.interactions} interactions, "
        f"{result.attachments} attachments in {result.seconds:.2f}s"
    )

    print("3. every service through its dependencies (/readyz)")
    ports = {
        "gateway": config.gateway_port,
        "exporter": config.exporter_port,
        "encryptor": config.encryptor_port,
        "janitor": config.janitor_port,
    }
    for name, port in ports.items():
        status, body = readiness(f"http://{config.host}:{port}/readyz")
        print(f"   {name:10} {status} {json.dumps(body.get('checks', body))}")
        ok &= status == 200

    print("4. an export, end to end")
    ok &= asyncio.run(export_and_verify(config, Path(config.local) / "demo"))

    print(f"\nGateway: {config.env()['CDDS_GATEWAY__URL']}  (sign-in pages arrive with issue #4)")
    print(f"Settings for your shell: source {stack.write_env()}")
    print("demo: OK" if ok else "demo: FAILED — see `make status` and .local/log/")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
