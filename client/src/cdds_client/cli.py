"""Entry point of ``cdds`` (docs/cli.md): one module per command group registers its parsers;
here the failures become one line on stderr and the exit status (0, 1 failure, 2 usage, 130
Ctrl-C)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import version

from cdds_client import decrypt
from cdds_client.commands import artifacts, certs, download, jobs, runs, session
from cdds_client.context import gateway_options
from cdds_client.errors import EXIT_INTERRUPTED, Failure

__all__ = ["build_parser", "main"]

GROUPS = (session, certs, jobs, runs, artifacts, download)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cdds",
        description="CDDS from the command line: sign in, export, follow runs, download and "
        "decrypt verified files.",
        parents=[gateway_options(suppress=False)],
    )
    parser.add_argument("--version", action="version", version=f"cdds {version('cdds-client')}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = gateway_options(suppress=True)
    for group in GROUPS:
        group.register(commands, common)
    decrypt.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version or a usage error, printed by argparse
        return exc.code if isinstance(exc.code, int) else 2
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except Failure as exc:
        print(f"cdds: {exc}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        print("cdds: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
