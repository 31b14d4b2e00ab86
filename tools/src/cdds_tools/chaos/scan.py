"""Look for plaintext record content at rest: every file under the given folders, raw and with
each compressed stream found in it inflated (gzip, zlib, the deflate members of ZIP archives),
searched for a canary string that the harness wrote into every seeded UCS row of its tenant."""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ScanResult", "scan"]

CHUNK = 8 << 20
INFLATE_LIMIT = 64 << 20  # bytes inflated per stream: enough to reach any record's text
# Where a compressed stream may begin: gzip's magic, a ZIP local file header, zlib headers.
STARTS = re.compile(rb"\x1f\x8b\x08|PK\x03\x04|\x78[\x01\x5e\x9c\xda]")


@dataclass
class ScanResult:
    files: int = 0
    bytes: int = 0
    streams: int = 0  # compressed streams inflated
    found: list[str] = field(default_factory=list)  # "<path> (how)"


def _inflate(data: bytes, start: int, wbits: int) -> Iterator[bytes]:
    inflater = zlib.decompressobj(wbits)
    out = 0
    view = memoryview(data)[start:]
    step = 1 << 16
    for offset in range(0, len(view), step):
        try:
            chunk = inflater.decompress(view[offset : offset + step], INFLATE_LIMIT - out)
        except zlib.error:
            return
        if chunk:
            out += len(chunk)
            yield chunk
        if inflater.eof or out >= INFLATE_LIMIT:
            return


def _streams(data: bytes) -> Iterator[tuple[str, int, int]]:
    """(kind, start of the compressed data, wbits) for each plausible stream in ``data``."""
    for match in STARTS.finditer(data):
        at, head = match.start(), match.group()
        if head.startswith(b"\x1f\x8b"):
            yield "gzip", at, 16 + zlib.MAX_WBITS
        elif head.startswith(b"PK"):
            if at + 30 <= len(data):
                (method,) = struct.unpack_from("<H", data, at + 8)
                name_len, extra_len = struct.unpack_from("<HH", data, at + 26)
                if method == 8:
                    yield "zip", at + 30 + name_len + extra_len, -zlib.MAX_WBITS
        elif (head[0] << 8 | head[1]) % 31 == 0:
            yield "zlib", at, zlib.MAX_WBITS


def _contains(chunks: Iterator[bytes], needle: bytes) -> bool:
    tail = b""
    for chunk in chunks:
        if needle in tail + chunk[: len(needle)] or needle in chunk:
            return True
        tail = chunk[-len(needle) :]
    return False


def scan(folders: list[Path], needle: bytes, exclude: list[Path]) -> ScanResult:
    """Every regular file under ``folders`` except those under ``exclude``."""
    result = ScanResult()
    skipped = [p.resolve() for p in exclude]
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            resolved = path.resolve()
            if not path.is_file() or path.is_symlink():
                continue
            if any(resolved.is_relative_to(s) for s in skipped):
                continue
            try:
                data = path.read_bytes()
            except OSError:
                continue  # a file removed while we walked (a server's temporary file)
            result.files += 1
            result.bytes += len(data)
            if needle in data:
                result.found.append(f"{path} (as stored)")
                continue
            for kind, start, wbits in _streams(data):
                inflated = _inflate(data, start, wbits)
                first = next(inflated, None)
                if first is None:
                    continue
                result.streams += 1
                if _contains(iter([first, *inflated]), needle):
                    result.found.append(f"{path} ({kind} stream at byte {start})")
                    break
    return result
