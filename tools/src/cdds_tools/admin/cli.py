"""Entry point of ``cdds-admin``: one sub-command group per module, each with ``register()``.

A group's ``register(subparsers)`` adds its parser and sets ``handler`` (``Namespace -> int``) on
every command. Any ``CddsError`` becomes one line on stderr and exit status 2 (no traceback).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from cdds_shared.errors import CddsError
from cdds_tools.admin import ucs

__all__ = ["build_parser", "main"]

Registrar = Callable[["argparse._SubParsersAction[Any]"], None]
GROUPS: tuple[Registrar, ...] = (ucs.register,)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cdds-admin", description="CDDS administration")
    groups = parser.add_subparsers(dest="group", required=True, metavar="GROUP")
    for register in GROUPS:
        register(groups)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return the exit status (2 on usage, configuration or server errors)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help or a usage error, already printed by argparse
        return exc.code if isinstance(exc.code, int) else 2
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except CddsError as exc:
        print(f"cdds-admin: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
