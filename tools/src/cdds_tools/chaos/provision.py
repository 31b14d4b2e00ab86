"""Provision the private stack as ``make up`` and an administrator would: UCS rows for two
tenants (``cdds-admin ucs seed``), a canary string written into every seeded text of the chaos
tenant, the tenants and an exporter (``cdds-admin``), the user's key pair and certificate."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from cdds_tools.gateway_client import GatewayUser
from cdds_tools.identity import make_identity

__all__ = ["CHAOS_TENANT", "VICTIM_TENANT", "Provisioned", "provision"]

BIN = Path(sys.executable).parent
CHAOS_TENANT, VICTIM_TENANT = 7701, 7702  # UCS tenant ids
USERNAME = "chaos"


@dataclass(frozen=True)
class Provisioned:
    user: GatewayUser
    user_id: str
    key: Path
    canary: bytes
    interactions: int


def _admin(*args: str, stdin: str | None = None) -> dict[str, Any]:
    done = subprocess.run(
        [str(BIN / "cdds-admin"), *args], input=stdin, capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise RuntimeError(f"cdds-admin {' '.join(args)}: {done.stderr.strip()}")
    answer: dict[str, Any] = json.loads(done.stdout or "{}")
    return answer


def _mark(dsn: str, tenant_id: int, canary: str) -> None:
    """Append the canary to every subject, body and attachment name of the tenant, so any
    record content found at rest is recognised, whatever else the data looks like."""
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "UPDATE interaction SET subject = concat(subject, ' ', %(c)s::text), "
            "the_text = concat(%(c)s::text, ' ', the_text) WHERE tenant_id = %(t)s",
            {"c": canary, "t": tenant_id},
        )
        conn.execute(
            "UPDATE document SET the_name = concat(%(c)s::text, '-', the_name) "
            "WHERE tenant_id = %(t)s",
            {"c": canary, "t": tenant_id},
        )
        conn.execute(
            "UPDATE contact SET email_address = concat(%(c)s::text, '.', email_address) "
            "WHERE tenant_id = %(t)s",
            {"c": canary, "t": tenant_id},
        )


async def provision(
    dsn: str, gateway_url: str, workdir: Path, *, interactions: int, victim_interactions: int
) -> Provisioned:
    _admin(
        "ucs", "seed", "--tenant-id", str(CHAOS_TENANT),
        "--interactions", str(interactions), "--contacts", str(interactions // 10), "--seed", "77",
    )  # fmt: skip
    _admin(
        "ucs", "seed", "--tenant-id", str(VICTIM_TENANT),
        "--interactions", str(victim_interactions), "--contacts", "100", "--seed", "78",
    )  # fmt: skip
    canary = f"cddschaoscanary{secrets.token_hex(8)}"
    _mark(dsn, CHAOS_TENANT, canary)
    _mark(dsn, VICTIM_TENANT, canary)
    _admin("tenant", "create", "chaos", "--ucs-tenant-id", str(CHAOS_TENANT))
    _admin("tenant", "create", "victim", "--ucs-tenant-id", str(VICTIM_TENANT))
    password = secrets.token_urlsafe(16)
    made = _admin(
        "user", "create", USERNAME, "--tenant", "chaos", "--role", "exporter", "--password-stdin",
        stdin=password + "\n",
    )  # fmt: skip
    _, key, cert = make_identity(workdir, name=USERNAME)
    user = await GatewayUser.sign_in(gateway_url, USERNAME, password)
    await user.upload_certificate(cert.read_bytes())
    return Provisioned(user, str(made["id"]), key, canary.encode(), interactions)
