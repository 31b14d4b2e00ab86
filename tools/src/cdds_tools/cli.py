"""Entry point of ``cdds``, the end-user tool (today: ``cdds decrypt``)."""

from __future__ import annotations

from collections.abc import Sequence

from cdds_tools import decrypt
from cdds_tools.commands import run

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    return run("cdds", "CDDS tools for recipients", (decrypt.register,), argv)
