"""``cdds-admin tenant``: create and list tenants (each maps to one UCS tenant).

The MongoDB is the one of the ``CDDS_MONGO__URL`` / ``CDDS_MONGO__DATABASE`` settings. The
helpers here (``with_identity``, ``emit``, the JSON shapes) are shared with ``cdds-admin user``.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from cdds_shared.adapters.mongo import MongoDocumentStore
from cdds_shared.audit import AuditEvent, AuditLog
from cdds_shared.identity import IdentityStore, Tenant, User
from cdds_shared.settings import load_settings

__all__ = ["emit", "register", "tenant_json", "user_json", "with_identity"]

T = TypeVar("T")


ACTOR = f"cdds-admin ({getpass.getuser()})"
"""Who administrative changes are audited as: the tool and the operating-system account."""


def with_identity(
    work: Callable[[IdentityStore], Awaitable[T]],
    audit: Callable[[T], tuple[str, str, str, dict[str, Any]]] | None = None,
) -> T:
    """Run ``work`` against the MongoDB of the ``CDDS_MONGO__*`` settings; a change is then
    audited from ``audit(result)`` = ``(tenant, action, target, detail)``."""

    async def main() -> T:
        async with MongoDocumentStore(load_settings().mongo) as documents:
            identity = IdentityStore(documents)
            await identity.ensure_indexes()
            result = await work(identity)
            if audit is not None:
                tenant, action, target, detail = audit(result)
                event = AuditEvent(
                    tenant=tenant, actor=ACTOR, action=action, target=target, detail=detail
                )
                await AuditLog(documents).record(event)
            return result

    return asyncio.run(main())


def emit(data: Any) -> int:
    print(json.dumps(data, ensure_ascii=False))
    return 0


def tenant_json(tenant: Tenant) -> dict[str, Any]:
    return {
        "tenant": tenant.name,
        "ucsTenantId": tenant.ucs_tenant_id,
        "createdAt": tenant.created_at.isoformat(),
    }


def user_json(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "tenant": user.tenant,
        "roles": list(user.roles),
        "disabled": user.disabled,
        "lockedUntil": user.locked_until.isoformat() if user.locked_until else None,
        "mustChangePassword": user.must_change_password,
    }


def _ucs_tenant_id(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text}")
    return value


def _create(args: argparse.Namespace) -> int:
    tenant = with_identity(
        lambda identity: identity.create_tenant(args.name, args.ucs_tenant_id),
        lambda t: (t.name, "tenant.create", t.name, {"ucs_tenant_id": t.ucs_tenant_id}),
    )
    return emit(tenant_json(tenant))


def _list(args: argparse.Namespace) -> int:
    tenants = with_identity(lambda identity: identity.list_tenants())
    return emit({"tenants": [tenant_json(t) for t in tenants]})


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the ``tenant`` group (create, list) to ``cdds-admin``."""
    group = subparsers.add_parser("tenant", help="tenants (one per UCS tenant)")
    commands = group.add_subparsers(dest="command", required=True, metavar="COMMAND")

    cmd = commands.add_parser("create", help="create a tenant")
    cmd.add_argument("name", metavar="NAME", help="letters, digits, '_', '-'")
    cmd.add_argument(
        "--ucs-tenant-id", type=_ucs_tenant_id, required=True, help="its tenant id in UCS"
    )
    cmd.set_defaults(handler=_create)

    cmd = commands.add_parser("list", help="every tenant, as JSON")
    cmd.set_defaults(handler=_list)
