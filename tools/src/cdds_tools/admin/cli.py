"""Entry point of ``cdds-admin``: one sub-command group per module (today: ``ucs``)."""

from __future__ import annotations

from collections.abc import Sequence

from cdds_tools.admin import ucs
from cdds_tools.commands import run

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    return run("cdds-admin", "CDDS administration", (ucs.register,), argv, metavar="GROUP")
