"""The public contract end to end, as an integrator lives it: two tenants' integrations, each
holding only what ``cdds-admin integration create`` printed, run the sample integrator
(docs/examples/integrator.py, as its own process) at the same time against the real gateway,
exporter and encryptor processes; each gets its run completed, downloads every file with its
token, verifies it, and ``openssl cms -decrypt`` with its key gives exactly its tenant's UCS
records. A run started from the REST API is announced too. Neither tenant ever hears an event of
the other's.

Its own RabbitMQ virtual host (the services' user), MongoDB database, MinIO bucket and UCS
database; the integrations' broker users are deleted afterwards.
"""

# ruff: noqa: F811 - the integration module's fixtures are imported, then requested by name

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import random
import socket
import sys
import uuid
import zipfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from pydantic import SecretStr

from cdds_shared.adapters.minio_store import MinioObjectStore
from cdds_shared.adapters.postgres_ucs import PostgresUcsSource
from cdds_shared.messaging.public import EVENTS_EXCHANGE
from cdds_shared.runs import member_names
from cdds_shared.settings import MinioSettings
from cdds_shared.ucs.migrate import migrate
from cdds_shared.ucs.query import UcsQuery
from cdds_shared.ucs.seed import seed
from cdds_tools.identity import make_identity
from cdds_tools.workers import WorkerProcess
from tests.e2e.pipeline import by_id
from tests.gateway.test_export_through_api import openssl_decrypt
from tests.infra import StackInfo
from tests.infra.isolation import create_database, drop_database, rabbit_management
from tests.tools.test_integration_broker import (  # noqa: F401 - the module's fixtures
    admin,
    environment,
    services_url,
)
from tests.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCRIPT = Path(__file__).resolve().parents[2] / "docs/examples/integrator.py"
SEEDED = {"acme": (40, 300), "globex": (60, 120)}  # contacts, interactions
WAIT = 300.0


@dataclass
class Side:
    """One tenant: its UCS tenant id, its integration (the printed JSON, saved as a file the
    integrator reads) and the integration's private key."""

    tenant: str
    ucs_tenant_id: int
    printed: dict[str, Any]
    printed_file: Path
    key: Path

    @property
    def name(self) -> str:
        return str(self.printed["name"])


@pytest.fixture(scope="module")
def ucs(stack: StackInfo) -> Iterator[tuple[str, dict[str, int]]]:
    name = f"ucs_int_{uuid.uuid4().hex[:10]}"
    dsn = create_database(stack.ucs_dsn, name)
    try:
        migrate(dsn)
        ids = dict(zip(SEEDED, random.sample(range(10_000, 99_999), len(SEEDED)), strict=True))
        for number, (label, (contacts, interactions)) in enumerate(SEEDED.items()):
            seed(dsn, ids[label], contacts, interactions, seed=20 + number)
        yield dsn, ids
    finally:
        drop_database(stack.ucs_dsn, name)


@pytest.fixture(scope="module")
def sides(
    stack: StackInfo,
    environment: None,
    ucs: tuple[str, dict[str, int]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, Side]]:
    """Each tenant with its integration, made the way an operator makes it: ``cdds-admin``, the
    certificate given at creation."""
    _, ids = ucs
    made: dict[str, Side] = {}
    try:
        for label, integration in (("acme", "crm"), ("globex", "lake")):
            tenant = f"{label}-{uuid.uuid4().hex[:6]}"
            admin("tenant", "create", tenant, "--ucs-tenant-id", str(ids[label]))
            directory = tmp_path_factory.mktemp(label)
            _, key, cert = make_identity(directory, bits=2048, name=integration)
            printed = admin(
                "integration", "create", integration, "--tenant", tenant, "--certificate", str(cert)
            )
            printed_file = directory / "integration.json"
            printed_file.write_text(json.dumps(printed))
            made[label] = Side(tenant, ids[label], printed, printed_file, key)
        yield made
    finally:
        with rabbit_management(stack) as api:
            for side in made.values():
                api.delete(f"/api/users/{side.printed['amqp']['username']}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
async def gateway_url(
    stack: StackInfo,
    services_url: str,
    sides: dict[str, Side],
    ucs: tuple[str, dict[str, int]],
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[str]:
    """The gateway, exporter and encryptor as the processes they run as, on this module's
    virtual host, database and bucket; the gateway's public URL is where it listens."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    bucket = f"cdds-test-int-{uuid.uuid4().hex[:10]}"
    logs = tmp_path_factory.mktemp("services")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDDS_")}
    env |= stack.env() | {
        "CDDS_ENVIRONMENT": "test",
        "CDDS_RABBIT__URL": services_url,
        "CDDS_MONGO__DATABASE": os.environ["CDDS_MONGO__DATABASE"],
        "CDDS_MINIO__BUCKET": bucket,
        "CDDS_UCS__DSN": ucs[0],
        "CDDS_GATEWAY__URL": url,
        "CDDS_STARTUP_TIMEOUT_SECONDS": "10",
        "CDDS_EXPORT__PARTITION_RECORDS": "100",
    }
    processes = [WorkerProcess("gateway", env, logs / "gateway.log", port=port)]
    processes += [WorkerProcess(s, env, logs / f"{s}.log") for s in ("exporter", "encryptor")]
    try:
        for process in processes:
            await asyncio.to_thread(process.start)
        yield url
    finally:
        for process in processes:
            await asyncio.to_thread(process.stop)
        objects = MinioObjectStore(
            MinioSettings(
                endpoint=stack.minio_endpoint,
                access_key=stack.minio_access_key,
                secret_key=SecretStr(stack.minio_secret_key),
                bucket=bucket,
            )
        )
        with contextlib.suppress(Exception):  # the bucket exists only if the gateway started
            async for info in objects.list(""):
                await objects.delete(info.key)
            await objects.remove_bucket()
        await objects.close()


@contextlib.asynccontextmanager
async def listening(side: Side) -> AsyncIterator[aio_pika.abc.AbstractQueue]:
    """A queue of the integration's own, bound to every event of its tenant, before anything
    runs: what the broker lets this integration hear."""
    connection = await aio_pika.connect(side.printed["amqp"]["url"])
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(
            f"cdds.int.{side.tenant}.{side.name}.spy-{uuid.uuid4().hex[:6]}", auto_delete=True
        )
        await queue.bind(EVENTS_EXCHANGE, routing_key=f"{side.tenant}.#")
        yield queue


async def heard(queue: aio_pika.abc.AbstractQueue, heard_so_far: list[dict[str, Any]]) -> int:
    """Move what arrived on ``queue`` into ``heard_so_far`` (its routing key under ``_key``)."""
    while (message := await queue.get(fail=False, no_ack=True)) is not None:
        event = json.loads(message.body)
        event["_key"] = message.routing_key
        heard_so_far.append(event)
    return len(heard_so_far)


async def integrate(side: Side, out: Path, *arguments: str) -> str:
    """Run the sample integrator as its own process; the run id it printed at the end."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(SCRIPT),
        str(side.printed_file),
        "--out",
        str(out),
        "--timeout",
        str(WAIT),
        *arguments,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={k: v for k, v in os.environ.items() if not k.startswith("CDDS_")},
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), WAIT + 30)
    said = (stdout + stderr).decode()
    assert process.returncode == 0, said
    last = stdout.decode().splitlines()[-1]  # "run <id>: completed, <n> files"
    assert last.startswith("run ") and ": completed, " in last, said
    return last.removeprefix("run ").split(":")[0]


async def web_run(url: str, side: Side, directory: Path) -> str:
    """A user of ``side``'s tenant starts a run through the REST API; its id."""
    username, password = f"web-{uuid.uuid4().hex[:6]}", f"pw-{uuid.uuid4().hex}"
    argv = ("--tenant", side.tenant, "--role", "exporter", "--password-stdin")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "stdin", io.StringIO(password))
        await asyncio.to_thread(admin, "user", "create", username, *argv)  # it runs its own loop
    cert, _, _ = make_identity(directory, bits=2048, name=username)
    async with httpx.AsyncClient(base_url=url, timeout=30) as api:
        signed = await api.post(
            "/api/v1/session",
            json={"username": username, "tenant": side.tenant, "password": password},
        )
        assert signed.status_code == 200, signed.text
        auth = {"Authorization": f"Bearer {signed.json()['token']}"}
        api.cookies.clear()
        pem = cert.public_bytes(Encoding.PEM)
        uploaded = await api.put("/api/v1/me/certificate", content=pem, headers=auth)
        assert uploaded.status_code == 200, uploaded.text
        body = {"title": "from the web", "type": "contact", "run_now": True}
        created = await api.post("/api/v1/jobs", json=body, headers=auth)
        assert created.status_code == 201, created.text
        return str(created.json()["run_id"])


async def records_of(dsn: str, query: UcsQuery) -> dict[str, dict[str, Any]]:
    source = PostgresUcsSource(dsn)
    try:
        return by_id([r async for r in source.stream(query)])
    finally:
        await source.close()


def opened(out: Path, key: Path, run_id: str, record_type: str) -> dict[str, dict[str, Any]]:
    """Every record of the run's files in ``out``, opened with stock openssl."""
    lines: list[bytes] = []
    sealed = sorted(out.glob("*.zip.p7m"))
    assert sealed and all(run_id in path.name for path in sealed)
    for path in sealed:
        with zipfile.ZipFile(openssl_decrypt(path, key)) as archive:
            lines += archive.read(member_names(record_type, run_id)[0]).splitlines()
    return by_id(lines)


async def test_two_tenants_integrate_at_once_and_never_hear_each_other(
    gateway_url: str,
    sides: dict[str, Side],
    ucs: tuple[str, dict[str, int]],
    tmp_path: Path,
) -> None:
    acme, globex = sides["acme"], sides["globex"]
    out = {label: tmp_path / label for label in sides}
    async with listening(acme) as acme_hears, listening(globex) as globex_hears:
        # When both integrators and a web user of acme run at the same time
        acme_run, globex_run, from_the_web = await asyncio.gather(
            integrate(acme, out["acme"], "--record-type", "interaction", "--title", "archive"),
            integrate(globex, out["globex"], "--record-type", "contact"),
            web_run(gateway_url, acme, tmp_path),
        )

        # Then each tenant's own queue hears its runs' events, the web run's completion too
        acme_events: list[dict[str, Any]] = []
        globex_events: list[dict[str, Any]] = []

        def ended(events: list[dict[str, Any]], *runs: str) -> bool:
            done = {e["run_id"] for e in events if e["_key"].endswith(".run.completed")}
            return done >= set(runs)

        await eventually(
            lambda: heard(acme_hears, acme_events),
            lambda _: ended(acme_events, acme_run, from_the_web),
            timeout=WAIT,
            what="acme's completions",
        )
        await eventually(
            lambda: heard(globex_hears, globex_events),
            lambda _: ended(globex_events, globex_run),
            timeout=WAIT,
            what="globex's completion",
        )
        await heard(acme_hears, acme_events)
        await heard(globex_hears, globex_events)

    # And nobody heard a word of the other tenant
    for side, events, runs in (
        (acme, acme_events, {acme_run, from_the_web}),
        (globex, globex_events, {globex_run}),
    ):
        assert {e["_key"].split(".")[0] for e in events} == {side.tenant}
        assert {e["tenant"] for e in events} == {side.tenant}
        assert {e["run_id"] for e in events} == runs
    web = next(e for e in acme_events if e["run_id"] == from_the_web)
    assert web["request_id"] is None and web["status"] == "completed" and web["files"]
    accepted = [e for e in acme_events if e["_key"] == f"{acme.tenant}.run.accepted"]
    assert [e["run_id"] for e in accepted] == [acme_run]

    # And the files each integrator downloaded open to exactly its tenant's records
    dsn, ids = ucs
    for side, run_id, record_type in (
        (acme, acme_run, "interaction"),
        (globex, globex_run, "contact"),
    ):
        label = side.tenant.split("-")[0]
        exported = opened(out[label], side.key, run_id, record_type)
        source = await records_of(dsn, UcsQuery(ids[label], record_type))  # type: ignore[arg-type]
        assert (
            exported.keys() == source.keys()
            and len(source) == SEEDED[label][record_type == "interaction"]
        )
        assert exported == source
