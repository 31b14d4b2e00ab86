"""Health checks of the stack's processes. Each returns ``None`` when healthy, else a reason."""

from __future__ import annotations

import base64
import subprocess
import urllib.error
import urllib.request
from collections.abc import Sequence

from cdds_tools.devstack.process import port_open

__all__ = ["http_ok", "mongo_ok", "postgres_ok", "rabbit_ok"]


def http_ok(url: str, auth: tuple[str, str] | None = None) -> str | None:
    request = urllib.request.Request(url)  # noqa: S310 - loopback URLs we built ourselves
    if auth:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310
            return None if response.status < 300 else f"{url} answered {response.status}"
    except urllib.error.HTTPError as exc:
        body = exc.read(300).decode(errors="replace").strip()
        return f"{url} answered {exc.code} {body}".strip()
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"{url}: {reason}"


def rabbit_ok(
    host: str, amqp_port: int, management_port: int, credentials: Sequence[tuple[str, str]]
) -> str | None:
    """Healthy when the AMQP port is open and the management API reports no alarm, asked as
    the first of ``credentials`` it accepts (the operator; ``guest`` before the migration)."""
    if not port_open(host, amqp_port):
        return f"AMQP port {amqp_port} not accepting connections"
    reason: str | None = "no credentials"
    for auth in credentials:
        reason = http_ok(f"http://{host}:{management_port}/api/health/checks/alarms", auth=auth)
        if reason is None or " answered 401" not in reason:
            return reason
    return reason


def postgres_ok(pg_isready: str, host: str, port: int) -> str | None:
    result = subprocess.run(
        [pg_isready, "-h", host, "-p", str(port), "-t", "2"],
        capture_output=True,
        text=True,
        check=False,
    )
    return None if result.returncode == 0 else result.stdout.strip() or "pg_isready failed"


def mongo_ok(url: str) -> str | None:
    from pymongo import MongoClient
    from pymongo.errors import PyMongoError

    client: MongoClient[dict[str, object]] = MongoClient(
        url, serverSelectionTimeoutMS=1500, connectTimeoutMS=1500
    )
    try:
        client.admin.command("ping")
        return None
    except PyMongoError as exc:
        return str(exc).split(",")[0]
    finally:
        client.close()
