"""What every command that talks to the gateway shares: the ``--token`` / ``--url`` options (they
work before or after the command's name) and the signed-in API client they lead to."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeVar

from cdds_client.api import Api
from cdds_client.credentials import TOKEN_VARIABLE, URL_VARIABLE, resolve

__all__ = ["add_json", "argument", "connect", "gateway_options"]

T = TypeVar("T")


def gateway_options(*, suppress: bool) -> argparse.ArgumentParser:
    """A parent parser; with ``suppress`` an option left out does not overwrite one given
    before the command's name."""
    parent = argparse.ArgumentParser(add_help=False)
    default = argparse.SUPPRESS if suppress else None
    group = parent.add_argument_group("gateway")
    group.add_argument(
        "--token",
        default=default,
        help=f"a session or integration token (default: ${TOKEN_VARIABLE}, then cdds login's)",
    )
    group.add_argument(
        "--url",
        default=default,
        help=f"the gateway's URL (default: ${URL_VARIABLE}, then cdds login's)",
    )
    return parent


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the API's JSON answer")


def connect(args: argparse.Namespace) -> Api:
    return Api.of(resolve(getattr(args, "token", None), getattr(args, "url", None)))


def argument(parse: Callable[[str], T]) -> Callable[[str], T]:
    """``parse`` as an argparse ``type=``: its ``ValueError`` message is the usage error shown
    (argparse would otherwise print only "invalid value")."""

    def convert(text: str) -> T:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = parse.__name__
    return convert
