"""What ``cdds`` and ``cdds-admin`` share: sub-commands registered by modules, one-line errors.

A module's ``register(subparsers)`` adds its parser and sets ``handler`` (``Namespace -> int``) on
every command. Any ``CddsError`` becomes one line on stderr and exit status 2 (no traceback).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from cdds_shared.errors import CddsError

__all__ = ["Registrar", "run"]

Registrar = Callable[["argparse._SubParsersAction[Any]"], None]


def run(
    prog: str,
    description: str,
    registrars: Sequence[Registrar],
    argv: Sequence[str] | None,
    *,
    metavar: str = "COMMAND",
) -> int:
    """Parse ``argv``, run the chosen command; return its exit status (2 on a usage error)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    commands = parser.add_subparsers(dest="command", required=True, metavar=metavar)
    for register in registrars:
        register(commands)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help or a usage error, already printed by argparse
        return exc.code if isinstance(exc.code, int) else 2
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except CddsError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
