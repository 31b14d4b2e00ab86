"""The plaintext scan of ``make chaos`` finds the canary as stored and inside gzip, zlib and ZIP
streams embedded anywhere in a file, skips excluded folders, and stays quiet on clean data."""

from __future__ import annotations

import gzip
import io
import os
import zipfile
import zlib
from pathlib import Path

from cdds_tools.chaos.scan import scan

CANARY = b"cddschaoscanary0123456789abcdef"


def _record() -> bytes:
    # Incompressible filler around the canary, so a stream must really be inflated to find it.
    return os.urandom(3000).hex().encode() + b'{"subject": "Re: ' + CANARY + b'"}' + b"x" * 500


def _zip(data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("Interaction-r.jsonl", data)
    return buffer.getvalue()


def test_finds_the_canary_stored_or_compressed_inside_other_bytes(tmp_path: Path) -> None:
    noise = os.urandom(70_000)
    files = {
        "plain.log": b"line\n" + _record(),
        "segment.gz": noise + gzip.compress(_record()) + noise,
        "queue.wal": noise + zlib.compress(_record()) + noise,
        "object.part": noise + _zip(_record()),
    }
    for name, data in files.items():
        (tmp_path / "data" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "data" / name).write_bytes(data)

    result = scan([tmp_path], CANARY, exclude=[])

    found = {Path(entry.split(" ")[0]).name for entry in result.found}
    assert found == set(files)
    assert result.files == len(files)


def test_clean_data_and_excluded_folders_find_nothing(tmp_path: Path) -> None:
    (tmp_path / "minio").mkdir()
    (tmp_path / "minio" / "part.1").write_bytes(os.urandom(200_000) + zlib.compress(b"a" * 9000))
    (tmp_path / "postgres").mkdir()
    (tmp_path / "postgres" / "16384").write_bytes(_record())  # the source: plaintext by design

    result = scan([tmp_path], CANARY, exclude=[tmp_path / "postgres"])

    assert result.found == []
    assert result.files == 1
    assert result.streams >= 1  # the zlib stream was inflated and searched
