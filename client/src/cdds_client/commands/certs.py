"""``cdds cert set FILE`` and ``cdds cert show``: the certificate files are sealed for."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from cdds_client.api import ApiFailure
from cdds_client.context import add_json, connect
from cdds_client.errors import Failure
from cdds_client.output import print_json

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[Any], common: argparse.ArgumentParser) -> None:
    cert = subparsers.add_parser("cert", help="your certificate (files are sealed for it)")
    actions = cert.add_subparsers(dest="action", required=True, metavar="ACTION")
    put = actions.add_parser(
        "set", parents=[common], help="upload FILE (PEM or DER); replaces the one on file"
    )
    put.add_argument("file", type=Path, metavar="FILE")
    add_json(put)
    put.set_defaults(handler=run_set)
    show = actions.add_parser("show", parents=[common], help="the certificate on file")
    add_json(show)
    show.set_defaults(handler=run_show)


def run_set(args: argparse.Namespace) -> int:
    try:
        data = args.file.read_bytes()
    except OSError as exc:
        raise Failure(f"cannot read {args.file}: {exc.strerror}") from None
    kind = "application/x-pem-file" if b"-----BEGIN" in data else "application/pkix-cert"
    with connect(args) as api:
        details = api.json("PUT", "/me/certificate", content=data, headers={"Content-Type": kind})
    _show(details, args.json)
    return 0


def run_show(args: argparse.Namespace) -> int:
    with connect(args) as api:
        try:
            details = api.json("GET", "/me/certificate")
        except ApiFailure as exc:
            if exc.code == "no_certificate":
                raise Failure("no certificate on file: run cdds cert set FILE") from None
            raise
    _show(details, args.json)
    return 0


def _show(details: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(details)
        return
    state = "EXPIRED" if details.get("expired") else f"{details.get('expires_in_days')} days left"
    if details.get("expiring_soon"):
        state += ": upload a new one soon"
    for label, key in (("subject", "subject"), ("issuer", "issuer"), ("sha256", "sha256")):
        print(f"{label:9} {details.get(key)}")
    print(f"{'valid':9} {details.get('not_before')} to {details.get('not_after')} ({state})")
    print(f"{'sealing':9} {details.get('seal_mode')}")
