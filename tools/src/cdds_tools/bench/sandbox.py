"""A private corner of the running stack for one benchmark (or demo) run: its own RabbitMQ virtual
host, MongoDB database and MinIO bucket, with fresh exporter and encryptor processes, so their
peak memory is this run's and the stack's own services never see the work."""

from __future__ import annotations

import os
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import httpx

from cdds_shared.adapters.minio_store import MinioObjectStore
from cdds_shared.adapters.mongo import MongoDocumentStore
from cdds_shared.settings import Settings
from cdds_tools.devstack.rabbit_users import add_vhost
from cdds_tools.workers import WorkerProcess

__all__ = ["Sandbox", "cpu_seconds", "peak_rss_bytes"]

SERVERS = {"postgres": "postgres", "minio": "minio", "ferretdb": "ferretdb", "beam.smp": "rabbitmq"}

BIN = Path(sys.executable).parent


def peak_rss_bytes(pid: int) -> int:
    """Peak resident set size (``VmHWM``) of a process and its children, in bytes."""
    total = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                total = max(total, int(line.split()[1]) * 1024)
    return total


def cpu_seconds(workers: dict[str, int]) -> dict[str, float]:
    """CPU seconds (user + system, finished children included) used so far by each worker pid
    and by each server of the stack, summed over its processes."""
    tick = os.sysconf("SC_CLK_TCK")
    totals = dict.fromkeys([*workers, *SERVERS.values()], 0.0)
    names = {pid: name for name, pid in workers.items()}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        used = sum(int(v) for v in fields[11:15]) / tick  # utime stime cutime cstime
        pid = int(entry.name)
        if pid in names:
            totals[names[pid]] += used
        elif comm in SERVERS:
            totals[SERVERS[comm]] += used
    return totals


@dataclass
class Sandbox:
    base: Settings
    workdir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    operator: tuple[str, str] | None = None
    """A RabbitMQ administrator (the local stack's ``cdds-ops``) where the services' user of the
    settings is not one."""
    name: str = field(default_factory=lambda: f"cdds-bench-{uuid.uuid4().hex[:8]}")
    workers: list[WorkerProcess] = field(default_factory=list)

    @property
    def rabbit_url(self) -> str:
        parts = urlsplit(self.base.rabbit.url.get_secret_value())
        return urlunsplit(parts._replace(path="/" + quote(self.name, safe="")))

    @property
    def database(self) -> str:
        return self.name.replace("-", "_")

    def settings(self) -> Settings:
        return self.base.model_copy(
            update={
                "rabbit": self.base.rabbit.model_copy(update={"url": _secret(self.rabbit_url)}),
                "mongo": self.base.mongo.model_copy(update={"database": self.database}),
                "minio": self.base.minio.model_copy(update={"bucket": self.name}),
            }
        )

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CDDS_")}
        env.update({k: v for k, v in os.environ.items() if k.startswith("CDDS_")})
        env.update(
            {
                "CDDS_RABBIT__URL": self.rabbit_url,
                "CDDS_MONGO__DATABASE": self.database,
                "CDDS_MINIO__BUCKET": self.name,
                **self.extra_env,
            }
        )
        return env

    def _service_user(self) -> tuple[str, str]:
        parts = urlsplit(self.base.rabbit.url.get_secret_value())
        return unquote(parts.username or "guest"), unquote(parts.password or "guest")

    def _management(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.base.rabbit.management_url,
            auth=self.operator or self._service_user(),
            timeout=10,
        )

    def open(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self._management() as api:
            operator = self.operator[0] if self.operator else None
            add_vhost(api, self.name, self._service_user()[0], operator)

    def start(self, service: str, port: int = 0) -> WorkerProcess:
        worker = WorkerProcess(service, self.env(), self.workdir / f"{service}.log", port)
        worker.start()
        self.workers.append(worker)
        return worker

    async def drop_data(self) -> None:
        """Remove the sandbox's database and bucket; call it once its workers are stopped
        (dropping them under running workers loses the fair-share state runs are admitted by)."""
        settings = self.settings()
        documents = MongoDocumentStore(settings.mongo)
        await documents.connect()
        objects = MinioObjectStore(settings.minio)
        try:
            async for info in objects.list(""):
                await objects.delete(info.key)
            await objects.remove_bucket()
            await documents.drop_database()
        finally:
            await objects.close()
            await documents.close()

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()
        with self._management() as api:
            api.delete(f"/api/vhosts/{quote(self.name, safe='')}")


def _secret(value: str) -> object:
    from pydantic import SecretStr

    return SecretStr(value)
