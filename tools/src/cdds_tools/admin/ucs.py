"""``cdds-admin ucs``: build, fill and count the development/test UCS database.

The DSN is ``--dsn`` or the ``CDDS_UCS__DSN`` setting.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from cdds_shared.adapters.postgres_ucs import PostgresUcsSource
from cdds_shared.settings import load_settings
from cdds_shared.ucs.migrate import migrate
from cdds_shared.ucs.seed import seed

__all__ = ["register"]


def _count_arg(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text}")
    return value


def _dsn(args: argparse.Namespace) -> str:
    return str(args.dsn) if args.dsn else load_settings().ucs.dsn.get_secret_value()


def _print(data: dict[str, Any]) -> int:
    print(json.dumps(data, ensure_ascii=False))
    return 0


def _migrate(args: argparse.Namespace) -> int:
    return _print({"applied": migrate(_dsn(args))})


def _seed(args: argparse.Namespace) -> int:
    dsn = _dsn(args)
    migrate(dsn)
    r = seed(dsn, args.tenant_id, args.contacts, args.interactions, args.seed)
    return _print(
        {
            "tenantId": r.tenant_id,
            "contacts": r.contacts,
            "interactions": r.interactions,
            "attachments": r.attachments,
            "seconds": round(r.seconds, 3),
            "rowsPerSecond": round(r.rows_per_second),
        }
    )


async def _counts(dsn: str, tenant_id: int) -> dict[str, Any]:
    source = PostgresUcsSource(dsn)
    try:
        return await source.counts(tenant_id)
    finally:
        await source.close()


def _count(args: argparse.Namespace) -> int:
    return _print(asyncio.run(_counts(_dsn(args), args.tenant_id)))


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the ``ucs`` group (migrate, seed, count) to ``cdds-admin``."""
    group = subparsers.add_parser("ucs", help="the development/test UCS database")
    commands = group.add_subparsers(dest="command", required=True, metavar="COMMAND")
    dsn = argparse.ArgumentParser(add_help=False)
    dsn.add_argument("--dsn", help="PostgreSQL DSN of UCS (default: setting CDDS_UCS__DSN)")
    tenant = argparse.ArgumentParser(add_help=False)
    tenant.add_argument("--tenant-id", type=_count_arg, required=True, help="UCS tenant id")

    cmd = commands.add_parser("migrate", parents=[dsn], help="create or upgrade the schema")
    cmd.set_defaults(handler=_migrate)

    cmd = commands.add_parser(
        "seed", parents=[dsn, tenant], help="replace a tenant's rows with synthetic data"
    )
    cmd.add_argument("--contacts", type=_count_arg, default=1_000, help="default 1000")
    cmd.add_argument("--interactions", type=_count_arg, default=10_000, help="default 10000")
    cmd.add_argument("--seed", type=int, default=1, help="same seed, same rows (default 1)")
    cmd.set_defaults(handler=_seed)

    cmd = commands.add_parser("count", parents=[dsn, tenant], help="JSON counts of a tenant")
    cmd.set_defaults(handler=_count)
