"""One file from the gateway into a directory, resumable and verified (docs/cli.md § Files).

Bytes go to ``DIR/<name>.part``; a later call resumes it with ``Range: bytes=N-`` (and
``If-Range`` with the file's ETag, so a changed file is sent whole). The SHA-256 of the whole
file must equal the run's manifest before ``.part`` is renamed to ``<name>``; otherwise the
``.part`` is removed (the next call starts over) and the file fails. A file already under its
final name is verified and skipped.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

from cdds_client.api import Api
from cdds_client.errors import Failure
from cdds_client.progress import BytesProgress

__all__ = ["CHUNK", "Wanted", "fetch", "sha256_of"]

CHUNK = 1 << 16


@dataclass(frozen=True)
class Wanted:
    """A file of a run, as its manifest describes it."""

    artifact_id: str
    name: str
    size: int
    sha256: str


def sha256_of(path: Path, digest: hashlib._Hash | None = None) -> hashlib._Hash:
    digest = digest or hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest


def fetch(
    api: Api,
    wanted: Wanted,
    out: Path,
    progress: BytesProgress,
    *,
    rate_limit: int | None = None,
) -> tuple[Path, bool]:
    """Download, resume or skip ``wanted`` into ``out``: (its path, whether it was skipped)."""
    if Path(wanted.name).name != wanted.name or wanted.name in ("", ".", ".."):
        raise Failure(f"refusing the file name {wanted.name!r} of {wanted.artifact_id}")
    final, part = out / wanted.name, out / f"{wanted.name}.part"
    if final.exists():
        if sha256_of(final).hexdigest() != wanted.sha256:
            raise Failure(
                f"{final} exists and differs from the run's manifest: move it away and run again"
            )
        progress.start(wanted.name, wanted.size, wanted.size)
        progress.done("already downloaded and verified")
        return final, True
    offset = part.stat().st_size if part.exists() else 0
    if offset > wanted.size:
        part.unlink()
        raise Failure(f"{part} is larger than the file: removed it; run the same command again")
    digest = sha256_of(part) if offset else hashlib.sha256()
    progress.start(wanted.name, wanted.size, offset)
    if offset < wanted.size:
        digest = _receive(api, wanted, part, offset, digest, progress, rate_limit)
    if part.stat().st_size != wanted.size or digest.hexdigest() != wanted.sha256:
        part.unlink()
        raise Failure(
            f"{wanted.name}: the SHA-256 differs from the run's manifest (damaged or altered "
            "download): removed the .part; run the same command again"
        )
    try:
        os.link(part, final)  # never replaces a file that appeared meanwhile
    except FileExistsError:
        raise Failure(f"{final} appeared meanwhile: move it away and run again") from None
    except OSError:  # no hard links on this filesystem
        os.rename(part, final)
    part.unlink(missing_ok=True)
    progress.done("verified")
    return final, False


def _receive(
    api: Api,
    wanted: Wanted,
    part: Path,
    offset: int,
    digest: hashlib._Hash,
    progress: BytesProgress,
    rate_limit: int | None,
) -> hashlib._Hash:
    headers = {"If-Range": f'"{wanted.sha256}"'}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    path = f"/artifacts/{wanted.artifact_id}/content"
    with api.stream(path, headers=headers, what=f"file {wanted.artifact_id}") as response:
        if response.status_code == 206:
            if not response.headers.get("Content-Range", "").startswith(f"bytes {offset}-"):
                raise Failure(f"{wanted.name}: the gateway sent another range than asked for")
            mode = "ab"
        else:  # the whole file: the range was ignored, or the file changed (If-Range)
            offset, digest, mode = 0, hashlib.sha256(), "wb"
        chunk_size = min(CHUNK, rate_limit) if rate_limit else CHUNK
        started, received = time.monotonic(), 0
        with part.open(mode) as sink:
            for chunk in response.iter_bytes(chunk_size):
                sink.write(chunk)
                digest.update(chunk)
                progress.advance(len(chunk))
                received += len(chunk)
                if rate_limit:  # --limit-rate: sleep until the average is back under it
                    ahead = received / rate_limit - (time.monotonic() - started)
                    if ahead > 0:
                        time.sleep(ahead)
            sink.flush()
            os.fsync(sink.fileno())
    return digest
