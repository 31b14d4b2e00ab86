"""Entry point of ``cdds-admin``: one sub-command group per module (ucs, tenant, user,
integration, dead-letters)."""

from __future__ import annotations

from collections.abc import Sequence

from cdds_tools.admin import dead_letters, integration, tenant, ucs, user
from cdds_tools.commands import run

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    return run(
        "cdds-admin",
        "CDDS administration",
        (ucs.register, tenant.register, user.register, integration.register, dead_letters.register),
        argv,
        metavar="GROUP",
    )
