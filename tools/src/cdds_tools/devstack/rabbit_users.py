"""The local RabbitMQ's users: an operator and the services' own user, never ``guest``.

- ``cdds-ops``: administrator, for people and tests (management API, virtual hosts);
- ``cdds-services``: what gateway, exporter, encryptor and janitor connect as. The
  ``management`` tag only (the janitor reads its virtual hosts' queue depths for ``/metrics``;
  it sees no other virtual host) and, on vhost ``/``, only the ``cdds.*`` exchanges and queues
  — plus writing to the default exchange (``amq.default``), where the encryptor parks
  retention timers in their hold queue by name.

Passwords are random, made once and kept in ``.local/rabbitmq-users.json`` (mode 0600). After
RabbitMQ starts, and on every ``make up``, ``ensure_users`` applies them through the management
API, idempotently: a fresh node (which creates ``guest``) and an existing data directory with
``guest`` are migrated alike, and ``guest`` is deleted once no connection uses it any more.
Production: docs/operations.md, "Broker users".
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx

__all__ = [
    "ALL",
    "GUEST",
    "OPS_USER",
    "SERVICE_PERMISSIONS",
    "SERVICE_TAGS",
    "SERVICE_USER",
    "BrokerUsers",
    "add_vhost",
    "ensure_users",
    "grant",
]

OPS_USER = "cdds-ops"
SERVICE_USER = "cdds-services"
GUEST = ("guest", "guest")
SERVICE_TAGS = "management"
"""The services' user may read its virtual hosts' queues over the management API (the janitor's
queue metrics, docs/operations.md § Metrics), nothing more."""
SERVICE_PERMISSIONS = {
    "configure": r"^cdds\.",
    "write": r"^(cdds\..*|amq\.default)$",
    "read": r"^cdds\.",
}
ALL = {"configure": ".*", "write": ".*", "read": ".*"}


@dataclass(frozen=True)
class BrokerUsers:
    ops_password: str
    service_password: str

    @property
    def ops(self) -> tuple[str, str]:
        return OPS_USER, self.ops_password

    @property
    def service(self) -> tuple[str, str]:
        return SERVICE_USER, self.service_password

    @classmethod
    def load(cls, path: Path) -> BrokerUsers:
        """The passwords kept in ``path``; made (0600, exclusively) the first time."""
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            made = {OPS_USER: secrets.token_urlsafe(24), SERVICE_USER: secrets.token_urlsafe(24)}
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # a concurrent caller made it first
                pass
            else:
                with os.fdopen(fd, "w") as out:
                    json.dump(made, out)
        kept = json.loads(path.read_text())
        return cls(ops_password=kept[OPS_USER], service_password=kept[SERVICE_USER])


def _admin(
    management_url: str,
    candidates: Sequence[tuple[str, str]],
    transport: httpx.BaseTransport | None = None,
) -> httpx.Client:
    """A management client as the first of ``candidates`` that is an administrator here."""
    for auth in candidates:
        client = httpx.Client(base_url=management_url, auth=auth, timeout=10, transport=transport)
        if client.get("/api/whoami").status_code == 200:
            return client
        client.close()
    names = ", ".join(user for user, _ in candidates)
    raise RuntimeError(
        f"RabbitMQ at {management_url}: none of {names} can sign in to the management API "
        f"(was .local/rabbitmq-users.json replaced? `rabbitmqctl change_password {OPS_USER} …`)"
    )


def grant(api: httpx.Client, vhost: str, user: str, permissions: dict[str, str]) -> None:
    api.put(
        f"/api/permissions/{quote(vhost, safe='')}/{quote(user, safe='')}", json=permissions
    ).raise_for_status()


def add_vhost(
    api: httpx.Client,
    vhost: str,
    service: str,
    operator: str | None,
    permissions: dict[str, str] = SERVICE_PERMISSIONS,
) -> None:
    """A private virtual host (tests, benchmark): ``service`` gets ``permissions`` (by default
    what the services' user has on ``/``), ``operator`` everything. Without an operator (a
    broker whose services' user is an administrator, e.g. a container's ``guest``) ``service``
    gets everything."""
    api.put(f"/api/vhosts/{quote(vhost, safe='')}").raise_for_status()
    if operator is None:
        grant(api, vhost, service, ALL)
        return
    grant(api, vhost, operator, ALL)
    grant(api, vhost, service, permissions)


def ensure_users(
    management_url: str,
    users: BrokerUsers,
    log: Callable[[str], None] = lambda _: None,
    *,
    transport: httpx.BaseTransport | None = None,
) -> None:
    """Operator and service user with their permissions on ``/``; ``guest`` deleted once no
    connection uses it. ``transport``: for tests."""
    api = _admin(management_url, [users.ops, GUEST], transport)
    try:
        for (name, password), tags in ((users.ops, "administrator"), (users.service, SERVICE_TAGS)):
            api.put(
                f"/api/users/{name}", json={"password": password, "tags": tags}
            ).raise_for_status()
        grant(api, "/", OPS_USER, ALL)
        grant(api, "/", SERVICE_USER, SERVICE_PERMISSIONS)
        if api.get(f"/api/users/{GUEST[0]}").status_code == 404:
            return
        connections = api.get("/api/connections", params={"columns": "user"}).json()
        in_use = sum(1 for c in connections if c.get("user") == GUEST[0])
        if in_use:
            # Processes started before the migration; deleting guest would break their
            # reconnects. The first `make up` after they are gone deletes it.
            log(f"rabbitmq   guest kept: {in_use} connections still use it (restart them)")
            return
        api.delete(f"/api/users/{GUEST[0]}").raise_for_status()
        log(f"rabbitmq   users {OPS_USER}, {SERVICE_USER} ready; guest deleted")
    finally:
        api.close()
