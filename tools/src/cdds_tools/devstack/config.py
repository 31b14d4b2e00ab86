"""Where the local stack lives and which ports it uses; each can be set from the environment."""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from cdds_tools.devstack.rabbit_users import BrokerUsers

__all__ = ["StackConfig", "find_root"]


def find_root(start: Path | None = None) -> Path:
    """The checkout's root: the nearest folder above ``start`` holding ``uv.lock``."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "uv.lock").exists() and (folder / "services").is_dir():
            return folder
    raise RuntimeError(f"not inside a CDDS checkout: {here}")


def _traversable(path: Path) -> bool:
    return all(p.stat().st_mode & stat.S_IXOTH for p in path.resolve().parents if p.exists())


def _port(name: str, default: int) -> int:
    return int(os.environ.get(f"CDDS_STACK_{name}_PORT", default))


PASS_THROUGH = ("CDDS_RETENTION__", "CDDS_JANITOR__", "CDDS_EXPORT__")


@dataclass(frozen=True)
class StackConfig:
    """Paths and ports. Override a port with ``CDDS_STACK_<NAME>_PORT`` (``..._POSTGRES_PORT``)."""

    root: Path
    cache_dir: Path = field(
        default_factory=lambda: Path(
            os.environ.get("CDDS_CACHE_DIR", Path.home() / ".cache" / "cdds")
        )
    )
    rabbit_port: int = field(default_factory=lambda: _port("RABBIT", 5672))
    rabbit_management_port: int = field(default_factory=lambda: _port("RABBIT_MANAGEMENT", 15672))
    rabbit_dist_port: int = field(default_factory=lambda: _port("RABBIT_DIST", 25672))
    epmd_port: int = field(default_factory=lambda: _port("EPMD", 4369))
    postgres_port: int = field(default_factory=lambda: _port("POSTGRES", 5432))
    mongo_port: int = field(default_factory=lambda: _port("MONGO", 27017))
    ferretdb_debug_port: int = field(default_factory=lambda: _port("FERRETDB_DEBUG", 27088))
    minio_port: int = field(default_factory=lambda: _port("MINIO", 9000))
    minio_console_port: int = field(default_factory=lambda: _port("MINIO_CONSOLE", 9001))
    gateway_port: int = field(default_factory=lambda: _port("GATEWAY", 8080))
    exporter_port: int = field(default_factory=lambda: _port("EXPORTER", 8081))
    encryptor_port: int = field(default_factory=lambda: _port("ENCRYPTOR", 8082))
    janitor_port: int = field(default_factory=lambda: _port("JANITOR", 8083))
    host: str = "127.0.0.1"
    minio_access_key: str = "cdds"
    minio_secret_key: str = "cdds-dev-secret"  # noqa: S105 - local development stack only
    ucs_password: str = "cdds"  # noqa: S105 - idem
    local_dir: Path | None = None  # a second stack's own folder (make chaos), else .local/

    @property
    def local(self) -> Path:
        return self.local_dir or self.root / ".local"

    @property
    def data(self) -> Path:
        """The servers' data; see ``server_base`` for where it really lives."""
        return self.server_base / "data"

    @property
    def server_base(self) -> Path:
        """Folder for what the servers' own accounts (postgres, rabbitmq, nobody) must reach.

        ``.local/`` when every folder above it lets others traverse; otherwise (a checkout under
        ``/root``, say) a folder in ``/var/tmp`` named after the checkout (``.local/data`` links
        to it).
        """
        if os.geteuid() != 0 or _traversable(self.local):
            return self.local
        digest = hashlib.sha256(str(self.local_dir or self.root).encode()).hexdigest()[:12]
        return Path("/var/tmp") / f"cdds-stack-{digest}"  # noqa: S108 - root-owned, 0755

    @property
    def rabbit_users_file(self) -> Path:
        """The RabbitMQ users' passwords, made once (mode 0600; see ``rabbit_users``)."""
        return self.local / "rabbitmq-users.json"

    def rabbit_users(self) -> BrokerUsers:
        return BrokerUsers.load(self.rabbit_users_file)

    def rabbit_url(self, credentials: tuple[str, str]) -> str:
        user, password = (quote(part, safe="") for part in credentials)
        return f"amqp://{user}:{password}@{self.host}:{self.rabbit_port}/"

    @property
    def logs(self) -> Path:
        return self.local / "log"

    @property
    def run(self) -> Path:
        return self.local / "run"

    @property
    def bin_dir(self) -> Path:
        return self.cache_dir / "bin"

    @property
    def venv_bin(self) -> Path:
        return self.root / ".venv" / "bin"

    def env(self) -> dict[str, str]:
        """Every connection setting, under the names the services read (``.local/stack.env``)."""
        h = self.host
        values = {
            "CDDS_ENVIRONMENT": "development",
            # The services' own user: ``cdds.*`` on ``/`` only (management: its own queues' depths).
            "CDDS_RABBIT__URL": self.rabbit_url(self.rabbit_users().service),
            "CDDS_RABBIT__MANAGEMENT_URL": f"http://{h}:{self.rabbit_management_port}",
            "CDDS_MONGO__URL": f"mongodb://{h}:{self.mongo_port}/",
            "CDDS_MONGO__DATABASE": "cdds",
            "CDDS_MINIO__ENDPOINT": f"{h}:{self.minio_port}",
            "CDDS_MINIO__ACCESS_KEY": self.minio_access_key,
            "CDDS_MINIO__SECRET_KEY": self.minio_secret_key,
            "CDDS_UCS__DSN": f"postgresql://cdds:{self.ucs_password}@{h}:{self.postgres_port}/ucs",
            "CDDS_GATEWAY__URL": f"http://{h}:{self.gateway_port}",
        }
        # Passed through when the caller sets them (short retention, stall timeouts, export
        # tuning in tests, demos and benchmarks).
        for name, value in os.environ.items():
            if name.startswith(PASS_THROUGH):
                values[name] = value
        return values
