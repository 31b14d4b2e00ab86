"""``cdds download RUN_OR_ARTIFACT… --out DIR [--key KEY.pem --decrypt [--unzip]]``: every
available file of each run (or the named files), resumable and verified against the run's
manifest (:mod:`cdds_client.transfer`); ``--decrypt`` then opens each verified file with
``cdds decrypt``'s code. One failed file does not stop the others; any failure is exit 1."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from cdds_client import decrypt
from cdds_client.api import Api, ApiFailure
from cdds_client.context import argument, connect
from cdds_client.errors import Failure, UsageError
from cdds_client.output import say
from cdds_client.parsing import parse_size
from cdds_client.progress import bytes_progress
from cdds_client.transfer import Wanted, fetch

__all__ = ["register"]

ARTIFACT_ID = re.compile(r"^[0-9a-f]{24}-\d+-\d+$")
PAGE = 500


def register(subparsers: argparse._SubParsersAction[Any], common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "download",
        parents=[common],
        help="download files, verified and resumable",
        description="Download every available file of each RUN (or the named files) into DIR. "
        "An interrupted download resumes from DIR/<name>.part; each file's SHA-256 is checked "
        "against the run's manifest before it gets its name.",
    )
    parser.add_argument("targets", nargs="+", metavar="RUN_OR_ARTIFACT")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR")
    parser.add_argument("--key", type=Path, metavar="KEY.pem", help="your RSA private key")
    parser.add_argument(
        "--decrypt", action="store_true", help="decrypt each verified file (needs --key)"
    )
    parser.add_argument(
        "--unzip", action="store_true", help="also extract each ZIP (with --decrypt)"
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace existing decrypted results (only after a successful decryption)",
    )
    parser.add_argument(
        "--passphrase-env", metavar="VAR", help="read the key's passphrase from this variable"
    )
    parser.add_argument(
        "--limit-rate",
        type=argument(parse_size),
        metavar="SIZE",
        help="at most SIZE bytes per second (e.g. 1MiB)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.decrypt and args.key is None:
        raise UsageError("--decrypt needs --key KEY.pem")
    if (args.key is not None or args.unzip or args.force) and not args.decrypt:
        raise UsageError("--key, --unzip and --force go with --decrypt")
    key = _key(args) if args.decrypt else None
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise Failure(f"cannot create {args.out}: {exc.strerror}") from None
    failed = 0
    with connect(args) as api:
        wanted = _resolve(api, args.targets)
        progress = bytes_progress()
        try:
            for item in wanted:
                try:
                    path, skipped = fetch(api, item, args.out, progress, rate_limit=args.limit_rate)
                    print(path)
                    if key is not None:
                        _decrypt(path, key, args, skipped=skipped)
                except Failure as exc:
                    print(f"cdds: {exc}", file=sys.stderr)
                    failed += 1
        finally:
            progress.close()
    if failed:
        raise Failure(f"{failed} of {len(wanted)} files failed")
    return 0


def _key(args: argparse.Namespace) -> RSAPrivateKey:
    try:
        return decrypt.load_private_key(args.key, args.passphrase_env)
    except decrypt.Failed as exc:
        raise Failure(str(exc)) from None


def _resolve(api: Api, targets: list[str]) -> list[Wanted]:
    """The files to fetch, in order, each described by its run's manifest."""
    manifests: dict[str, dict[str, dict[str, Any]]] = {}
    wanted: list[Wanted] = []
    for target in dict.fromkeys(targets):
        if ARTIFACT_ID.match(target):
            view = api.json("GET", f"/artifacts/{target}", what=f"file {target}")
            if view.get("status") != "available":
                raise Failure(f"file {target} is {view.get('status')}: it can no longer be fetched")
            parts = _manifest(api, view["run_id"], manifests)
            if target not in parts:
                raise Failure(f"file {target} is not in the manifest of run {view['run_id']}")
            wanted.append(_wanted(parts[target]))
            continue
        parts = _manifest(api, target, manifests)
        available = _available(api, target)
        for artifact_id, part in parts.items():
            if artifact_id in available:
                wanted.append(_wanted(part))
            else:
                say(f"{part['name']}: expired or deleted, skipped")
        if not parts:
            say(f"run {target}: no files (no data matched)")
    return list(dict.fromkeys(wanted))


def _manifest(
    api: Api, run_id: str, cache: dict[str, dict[str, dict[str, Any]]]
) -> dict[str, dict[str, Any]]:
    if run_id not in cache:
        try:
            manifest = api.json("GET", f"/runs/{run_id}/manifest", what=f"run {run_id}")
        except ApiFailure as exc:
            if exc.code == "not_finished":
                raise Failure(
                    f"run {run_id} has not completed: follow it with cdds run watch {run_id}"
                ) from None
            raise
        cache[run_id] = {p["artifact_id"]: p for p in manifest.get("parts") or []}
    return cache[run_id]


def _available(api: Api, run_id: str) -> set[str]:
    ids: set[str] = set()
    offset = 0
    while True:
        params = {"run_id": run_id, "limit": PAGE, "offset": offset}
        page = api.json("GET", "/artifacts", params=params)
        ids |= {a["id"] for a in page["items"]}
        offset += PAGE
        if offset >= page["total"] or not page["items"]:
            return ids


def _wanted(part: dict[str, Any]) -> Wanted:
    return Wanted(part["artifact_id"], part["name"], int(part["size"]), part["sha256"])


def _decrypt(sealed: Path, key: RSAPrivateKey, args: argparse.Namespace, *, skipped: bool) -> None:
    archive = args.out / decrypt.output_name(sealed.name)
    if skipped and archive.exists() and not args.force:
        say(f"{archive.name}: already decrypted")
        return
    try:
        decrypt.decrypt_file(sealed, key, args.out, force=args.force, unzip=args.unzip)
        print(archive)
        if args.unzip:
            print(decrypt.extract(sealed, archive, force=args.force))
    except decrypt.Failed as exc:
        raise Failure(str(exc)) from None
