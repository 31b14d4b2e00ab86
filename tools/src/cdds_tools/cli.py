"""Entry point of ``cdds``, the end-user tool: one sub-command per module, each with ``register()``.

A module's ``register(subparsers)`` adds its parser and sets ``handler`` (``Namespace -> int``);
the handler prints its own one-line errors and returns the exit status.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

from cdds_tools import decrypt

__all__ = ["build_parser", "main"]

Registrar = Callable[["argparse._SubParsersAction[Any]"], None]
COMMANDS: tuple[Registrar, ...] = (decrypt.register,)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cdds", description="CDDS tools for recipients")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in COMMANDS:
        register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit status (2 on a usage error)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help or a usage error, already printed by argparse
        return exc.code if isinstance(exc.code, int) else 2
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except KeyboardInterrupt:
        return 130
