"""``cdds decrypt``: open sealed ``.p7m`` parts with the recipient's RSA private key.

Each file streams through in 1 MiB chunks into a hidden ``.partial`` file (mode 0600) in the
output directory and is renamed into place only once the GCM tag has verified: a failed run
leaves nothing behind and never replaces an existing file (a successful one does with
``--force``). ``--unzip`` extracts the verified ZIP the same way, via a hidden directory.
"""

from __future__ import annotations

import argparse
import getpass
import os
import re
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import (
    load_der_private_key,
    load_pem_private_key,
)

from cdds_cms import IntegrityError, Opener

__all__ = ["CHUNK", "Failed", "decrypt_file", "load_private_key", "output_name", "register"]

CHUNK = 1 << 20


class Failed(Exception):
    """One input (or the key) failed; printed as ``cdds decrypt: SUBJECT: REASON``."""

    def __init__(self, subject: Path, reason: str) -> None:
        super().__init__(f"{subject}: {reason}")


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "decrypt",
        help="decrypt sealed .p7m files",
        description="Decrypt CDDS .p7m files (CMS, as openssl cms -decrypt) and verify them.",
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE.p7m")
    parser.add_argument(
        "--key",
        required=True,
        type=Path,
        metavar="KEY.pem",
        help="your RSA private key, PEM or DER, possibly passphrase-protected",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(),
        metavar="DIR",
        help="directory for the results (default: the current directory)",
    )
    parser.add_argument(
        "--unzip",
        action="store_true",
        help="also extract each ZIP into DIR/<name>/ (the .zip is kept)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace existing results (only after a successful decryption)",
    )
    parser.add_argument(
        "--passphrase-env",
        metavar="VAR",
        help="read the key's passphrase from this environment variable",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Decrypt every file; exit status 1 if any (or the key) failed."""
    try:
        key = load_private_key(args.key, args.passphrase_env)
    except Failed as exc:
        return _report(exc)
    status = 0
    for source in args.files:
        try:
            archive = decrypt_file(source, key, args.out, force=args.force, unzip=args.unzip)
            print(archive)
            if args.unzip:
                print(extract(source, archive, force=args.force))
        except Failed as exc:
            status = _report(exc)
    return status


def _report(exc: Failed) -> int:
    print(f"cdds decrypt: {exc}", file=sys.stderr)
    return 1


def load_private_key(path: Path, passphrase_env: str | None = None) -> RSAPrivateKey:
    """Read an RSA private key; ask for its passphrase only if it is encrypted."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise Failed(path, f"cannot read the key: {exc.strerror}") from None
    load = load_pem_private_key if b"-----BEGIN" in data else load_der_private_key
    try:
        key = load(data, None)
    except TypeError:  # encrypted: cryptography wants a password
        passphrase = _passphrase(path, passphrase_env)
        try:
            key = load(data, passphrase)
        except ValueError:
            raise Failed(path, "cannot read the private key: wrong passphrase") from None
    except (ValueError, UnsupportedAlgorithm):
        raise Failed(path, "cannot read the private key: not a private key in PEM or DER") from None
    if not isinstance(key, RSAPrivateKey):
        raise Failed(path, "not an RSA private key")
    return key


def _passphrase(path: Path, variable: str | None) -> bytes:
    if variable:
        value = os.environ.get(variable)
        if value is None:
            raise Failed(path, f"the key is encrypted and ${variable} is not set")
        return value.encode()
    if sys.stdin is not None and sys.stdin.isatty():
        return getpass.getpass(f"Passphrase for {path}: ").encode()
    raise Failed(path, "the key is encrypted: give --passphrase-env VAR or run in a terminal")


def output_name(name: str) -> str:
    """``part-1.zip.p7m`` → ``part-1.zip``; ``part-1.p7m`` → ``part-1.zip``."""
    stem = (name[:-4] if name.lower().endswith(".p7m") else name) or "decrypted"
    return stem if stem.lower().endswith(".zip") else f"{stem}.zip"


def decrypt_file(
    source: Path, key: RSAPrivateKey, out_dir: Path, *, force: bool = False, unzip: bool = False
) -> Path:
    """Decrypt and verify ``source`` into ``out_dir``; return the path written."""
    target = out_dir / output_name(source.name)
    if target.resolve() == source.resolve():
        raise Failed(source, "the output would replace the input; use --out")
    _refuse_existing(source, [target, _unzip_dir(target)] if unzip else [target], force)
    try:
        stream = source.open("rb")
    except OSError as exc:
        raise Failed(source, exc.strerror or str(exc)) from None
    with stream:
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            fd, partial = tempfile.mkstemp(
                dir=out_dir, prefix=f".{target.name}.", suffix=".partial"
            )
        except OSError as exc:
            raise Failed(source, f"cannot write to {out_dir}: {exc.strerror}") from None
        try:
            with os.fdopen(fd, "wb") as sink:
                opener = Opener(key)
                while chunk := stream.read(CHUNK):
                    sink.write(opener.update(chunk))
                opener.finalize()  # raises unless the tag verified
                sink.flush()
                os.fsync(sink.fileno())
            _publish(source, Path(partial), target, force)
        except IntegrityError as exc:
            raise Failed(source, str(exc)) from None
        except OSError as exc:  # reading the input or writing the output (e.g. disk full)
            raise Failed(source, exc.strerror or str(exc)) from None
        finally:
            Path(partial).unlink(missing_ok=True)  # already renamed on success
    return target


def _refuse_existing(source: Path, targets: list[Path], force: bool) -> None:
    # Checked up front so a long decryption is not wasted; _publish checks again atomically.
    for target in targets:
        if not force and (target.exists() or target.is_symlink()):
            raise Failed(source, f"{target} exists; use --force to replace it")


def _publish(source: Path, partial: Path, target: Path, force: bool) -> None:
    if force:
        os.replace(partial, target)
        return
    try:
        os.link(partial, target)  # atomic create-if-absent: never clobbers a file that appeared
    except FileExistsError:
        raise Failed(source, f"{target} exists; use --force to replace it") from None
    except OSError:  # no hard links on this filesystem
        if target.exists():
            raise Failed(source, f"{target} exists; use --force to replace it") from None
        os.rename(partial, target)


def _unzip_dir(archive: Path) -> Path:
    return archive.with_name(archive.name[: -len(".zip")])


def extract(source: Path, archive: Path, *, force: bool = False) -> Path:
    """Extract the verified ``archive`` into ``<archive without .zip>/``; return that directory.

    Members with absolute paths, drive letters or ``..`` are refused before anything is
    written (zip-slip); extraction goes through a hidden directory renamed into place.
    """
    destination = _unzip_dir(archive)
    staging = Path(
        tempfile.mkdtemp(dir=archive.parent, prefix=f".{destination.name}.", suffix=".partial")
    )
    try:
        with zipfile.ZipFile(archive) as zipped:
            members = [(info, _safe_parts(source, info.filename)) for info in zipped.infolist()]
            for info, parts in members:
                path = staging.joinpath(*parts)
                if info.is_dir():
                    path.mkdir(parents=True, exist_ok=True)
                    continue
                path.parent.mkdir(parents=True, exist_ok=True)
                with zipped.open(info) as member, path.open("xb") as sink:
                    shutil.copyfileobj(member, sink, CHUNK)  # checks each member's CRC
        _replace_dir(source, staging, destination, force)
    except (zipfile.BadZipFile, OSError) as exc:
        raise Failed(source, f"decrypted to {archive}, but cannot unzip it: {exc}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return destination


def _safe_parts(source: Path, name: str) -> list[str]:
    parts = [p for p in re.split(r"[/\\]", name) if p not in ("", ".")]
    absolute = name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) is not None
    if absolute or ".." in parts or not parts:
        raise Failed(source, f"refusing to unzip: unsafe member name {name!r}")
    return parts


def _replace_dir(source: Path, staging: Path, destination: Path, force: bool) -> None:
    if not (destination.exists() or destination.is_symlink()):
        staging.rename(destination)
        return
    if not force:
        raise Failed(source, f"{destination} exists; use --force to replace it")
    retired = Path(tempfile.mkdtemp(dir=destination.parent, prefix=f".{destination.name}.old."))
    old = retired / destination.name
    destination.rename(old)
    staging.rename(destination)
    shutil.rmtree(retired, ignore_errors=True)
