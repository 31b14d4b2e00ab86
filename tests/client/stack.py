"""The real stack for the ``cdds`` client's tests: a gateway, exporter and encryptor as the
processes they run as, on a RabbitMQ virtual host, MongoDB database, MinIO bucket and UCS
database of the module's own; a tenant with seeded UCS data and its users made by
``cdds-admin``; ``cdds`` itself run as a subprocess with its own ``XDG_CONFIG_HOME``."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cdds_shared.adapters.minio_store import MinioObjectStore
from cdds_shared.adapters.mongo import MongoDocumentStore
from cdds_shared.runs import RunStore
from cdds_shared.settings import MinioSettings, MongoSettings

BIN = Path(sys.executable).parent
PASSWORD = f"pw-{uuid.uuid4().hex}"


@dataclass
class Stack:
    """What the tests need to know of the module's services."""

    url: str
    env: dict[str, str]
    rabbit_url: str
    dsn: str
    ucs_tenant_id: int
    tenant: str
    mongo: MongoSettings
    minio: MinioSettings
    users: dict[str, dict[str, Any]] = field(default_factory=dict)

    def admin(self, *argv: str, stdin: str | None = None) -> Any:
        """``cdds-admin`` as an operator runs it; its JSON output (it must succeed)."""
        done = subprocess.run(
            [str(BIN / "cdds-admin"), *argv],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env,
            check=False,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def add_user(self, name: str, *roles: str) -> dict[str, Any]:
        role_args = [a for role in roles for a in ("--role", role)]
        argv = ("user", "create", name, "--tenant", self.tenant, *role_args, "--password-stdin")
        self.users[name] = self.admin(*argv, stdin=PASSWORD + "\n")
        return self.users[name]

    def documents(self) -> MongoDocumentStore:
        return MongoDocumentStore(self.mongo)

    def objects(self) -> MinioObjectStore:
        return MinioObjectStore(self.minio)

    async def object_keys(self, run_id: str) -> dict[str, str]:
        """Artifact id → its object's key in the bucket."""
        async with self.documents() as documents:
            return {a.id: a.object_key for a in await RunStore(documents).artifacts(run_id)}

    async def object_bytes(self, key: str) -> bytes:
        objects = self.objects()
        try:
            return b"".join([chunk async for chunk in objects.open_stream(key)])
        finally:
            await objects.close()


@dataclass
class Cdds:
    """``cdds`` as a user's shell runs it: its own config directory, no ``CDDS_*`` variables."""

    home: Path
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CDDS_")}
        return env | {"XDG_CONFIG_HOME": str(self.home)} | self.extra_env

    def __call__(
        self, *argv: str, stdin: str | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "cdds"), *argv],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env,
            check=False,
            timeout=timeout,
        )

    def ok(self, *argv: str, stdin: str | None = None) -> str:
        done = self(*argv, stdin=stdin)
        assert done.returncode == 0, f"cdds {' '.join(argv)}: {done.returncode}\n{done.stderr}"
        return done.stdout

    def popen(self, *argv: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(BIN / "cdds"), *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env,
        )

    @property
    def credentials(self) -> dict[str, Any]:
        stored: dict[str, Any] = json.loads((self.home / "cdds" / "credentials.json").read_text())
        return stored


def ucs_tenant_ids() -> tuple[int, int]:
    first, second = random.sample(range(10_000, 99_999), 2)
    return first, second
