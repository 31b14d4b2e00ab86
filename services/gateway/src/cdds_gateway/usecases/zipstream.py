"""Many files as one ZIP stream, for the multi-select download: members are *stored* (the sealed
files do not compress), written as they are read, with data descriptors and ZIP64 as needed, so
nothing is held but one chunk (Python's ``zipfile`` on a write-only sink)."""

from __future__ import annotations

import zipfile
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import IO, cast

__all__ = ["ZipEntry", "zip_stream"]

FLUSH_BYTES = 1 << 20


@dataclass(frozen=True)
class ZipEntry:
    name: str
    size: int
    modified: datetime
    open: Callable[[], AsyncIterator[bytes]]


class _Sink:
    """Write-only and not seekable (``tell`` without ``seek``): ``zipfile`` then writes data
    descriptors after each member instead of seeking back to its header."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._offset = 0

    def write(self, data: bytes) -> int:
        self._buffer += data
        self._offset += len(data)
        return len(data)

    def tell(self) -> int:
        return self._offset

    def flush(self) -> None:
        return None

    def pending(self) -> int:
        return len(self._buffer)

    def take(self) -> bytes:
        out = bytes(self._buffer)
        self._buffer.clear()
        return out


async def zip_stream(entries: Sequence[ZipEntry]) -> AsyncIterator[bytes]:
    sink = _Sink()
    with zipfile.ZipFile(
        cast(IO[bytes], sink), "w", zipfile.ZIP_STORED, allowZip64=True
    ) as archive:
        for entry in entries:
            info = zipfile.ZipInfo(entry.name, date_time=entry.modified.timetuple()[:6])
            info.compress_type = zipfile.ZIP_STORED
            info.file_size = entry.size  # decides ZIP64; the sizes go in the data descriptor
            with archive.open(info, "w") as member:
                async for chunk in entry.open():
                    member.write(chunk)
                    if sink.pending() >= FLUSH_BYTES:
                        yield sink.take()
            yield sink.take()
    yield sink.take()
