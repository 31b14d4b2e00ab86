"""A streaming ZIP64 writer for export parts that never exceed a byte limit.

Every member is raw deflate with a data descriptor and forced ZIP64 fields, so parts over 4 GiB
read the same in every tool. Record layouts follow PKWARE APPNOTE 6.3.10: local header §4.3.7,
data descriptor §4.3.9, central directory header §4.3.12, ZIP64 end records §4.3.14-4.3.16,
ZIP64 extra field §4.5.3.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from datetime import datetime
from types import ModuleType
from typing import Protocol, cast

from zlib_ng import zlib_ng

__all__ = [
    "DEFLATERS",
    "ZLIB",
    "ZLIB_NG",
    "Deflate",
    "MemberDeflater",
    "UnknownDeflate",
    "ZipPartWriter",
    "deflate_bound",
    "deflate_named",
]

_VERSION = 45  # 4.5: ZIP64 (APPNOTE §4.4.3.2)
_MADE_BY = 3 << 8 | _VERSION  # Unix, so the external attributes hold a file mode
_FILE_MODE = 0o100644 << 16  # regular file, rw-r--r--
_FLAGS = 0x0808  # bit 3: sizes follow in a data descriptor; bit 11: UTF-8 name
_DEFLATED = 8
_SATURATED16 = 0xFFFF
_SATURATED32 = 0xFFFFFFFF  # "look in the ZIP64 record"
_MEM_LEVEL = 8  # zlib's default; deflate_bound() holds for it (and window bits 15) only

_LOCAL = struct.Struct("<IHHHHHIIIHH")
_LOCAL_ZIP64 = struct.Struct("<HHQQ")  # sizes, zero here: the data descriptor has them
_DESCRIPTOR = struct.Struct("<IIQQ")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_CENTRAL_ZIP64 = struct.Struct("<HHQQQ")  # uncompressed size, compressed size, header offset
_END64 = struct.Struct("<IQHHIIQQQQ")
_LOCATOR = struct.Struct("<IIQI")
_END = struct.Struct("<IHHHHIIH")
_END_SIZE = _END64.size + _LOCATOR.size + _END.size

# Input deflate may still hold from before the call that last produced output: the lookahead
# (MIN_LOOKAHEAD = 262 bytes) plus one literal awaiting a lazy match.
_HELD_BEFORE = 512


class _Compressor(Protocol):
    """What zlib's and zlib-ng's ``compressobj()`` return."""

    def compress(self, data: bytes | memoryview, /) -> bytes: ...
    def flush(self, mode: int = ..., /) -> bytes: ...
    def copy(self) -> _Compressor: ...


@dataclass(frozen=True)
class Deflate:
    """A deflate library: zlib's interface (``compressobj`` with ``copy()``, ``crc32``).

    The same library at the same version and level always gives the same bytes, which is what
    makes a part redone after a crash the part that may already have been sealed; so a run's plan
    records ``label`` and its partitions are only ever cut with that (``deflate_named``)."""

    name: str
    version: str
    module: ModuleType

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}"


class UnknownDeflate(ValueError):
    """A plan names a deflate library (or version) this process does not have."""


ZLIB = Deflate("zlib", zlib.ZLIB_RUNTIME_VERSION, zlib)
# zlib-ng: the same format and ratio (within 0.5 %) in about half the CPU (docs/benchmarks.md).
ZLIB_NG = Deflate("zlib-ng", str(zlib_ng.ZLIBNG_VERSION), zlib_ng)  # typed int, is "2.3.3"
DEFLATERS = {d.name: d for d in (ZLIB_NG, ZLIB)}


def deflate_named(label: str) -> Deflate:
    """The library a plan names (``"zlib-ng 2.3.3"``); a bare ``"zlib"`` (plans made before
    libraries were recorded) is the standard library's, whatever its version."""
    name, _, version = label.partition(" ")
    found = DEFLATERS.get(name)
    if found is not None and version in ("", found.version):
        return found
    have = ", ".join(d.label for d in DEFLATERS.values())
    raise UnknownDeflate(f"the run was planned with deflate {label!r}; this exporter has {have}")


def deflate_bound(size: int, level: int = 6, deflate: Deflate = ZLIB_NG) -> int:
    """Worst-case raw deflate size of ``size`` bytes at ``level`` with ``deflate``.

    zlib's deflateBound() "tight bound", valid for window bits 15 and memLevel 8 with no wrapper
    (zlib 1.2.x-1.3.x deflate.c): 5 bytes of stored-block header per 16 KiB at most, plus a final
    block and bit padding. zlib-ng's level 1 (deflate_quick) never falls back to stored blocks: it
    codes every byte with the fixed Huffman code, 9 bits at most for a literal, so an eighth more.
    """
    tight = size + (size >> 12) + (size >> 14) + (size >> 25) + 7
    if deflate.name == "zlib-ng" and level == 1:
        return tight + ((size + 7) >> 3) + 16
    return tight


class MemberDeflater:
    """The raw deflate stream of one member, able to price its own finish.

    Input reaches the library in fixed blocks of ``_BLOCK`` bytes counted from the member's start,
    whatever the callers' chunks: zlib-ng's output (unlike zlib's) depends on how its input is cut
    into calls, and a part must come out the same whether its records arrived in whole batches or
    one by one (exact cuts, a partition redone after a crash)."""

    def __init__(self, level: int, deflate: Deflate = ZLIB_NG) -> None:
        self._module = module = deflate.module
        self._compressor = cast(
            _Compressor, module.compressobj(level, module.DEFLATED, -15, _MEM_LEVEL)
        )
        self._pending = b""  # input not yet handed to the library: less than one block
        self.crc = 0
        self.size = 0
        self.compressed = 0
        # Input handed to the library since (and including) the last call that produced output:
        # everything not yet emitted lies in it or in ``_pending``, except at most _HELD_BEFORE.
        self._held = 0

    def rest_bound(self, data: bytes) -> int:
        """Upper bound on the compressed bytes still to come if ``data`` is fed and finished.

        Cheap and conservative: deflate picks the cheapest of stored, fixed and dynamic blocks,
        so each block costs at most its fixed-Huffman size (9 bits a byte at worst) plus framing,
        and only the input counted in ``_held`` and ``_pending`` can still be waiting to be coded.
        """
        return self.rest_bound_size(len(data))

    def rest_bound_size(self, size: int) -> int:
        """``rest_bound`` for ``size`` bytes of data."""
        unsent = self._held + len(self._pending) + size + _HELD_BEFORE
        return unsent + (unsent >> 3) + (unsent >> 12) + 16

    def rest_exact(self, data: bytes) -> int:
        """The compressed bytes still to come if ``data`` is fed and the stream finished."""
        return self._trial(data)[1]

    def feed(self, data: bytes) -> bytes:
        """Compress ``data``; returns the output deflate released."""
        state = _blocks(self._compressor, self._pending, data, self._held)
        return self._adopt(data, state)

    def feed_within(self, data: bytes, room: int) -> bytes | None:
        """Feed ``data`` only if the stream, finished after it, adds at most ``room`` bytes.

        Returns the released output, or None (and changes nothing) if it would not fit.
        """
        if self.rest_bound(data) <= room:
            return self.feed(data)
        state, rest = self._trial(data)
        if rest > room:
            return None
        return self._adopt(data, state)

    def finish(self) -> bytes:
        """End the stream; returns its last bytes."""
        out = self._compressor.compress(self._pending) + self._compressor.flush(
            self._module.Z_FINISH
        )
        self._pending = b""
        self.compressed += len(out)
        return out

    def _trial(self, data: bytes) -> tuple[_Blocks, int]:
        # deflate is deterministic, so a copy fed the same blocks and finished yields exactly
        # the bytes the real stream will; Z_SYNC_FLUSH/Z_FULL_FLUSH would change the stream.
        state = _blocks(self._compressor.copy(), self._pending, data, self._held)
        compressor, out, pending, _ = state
        finisher = compressor.copy()
        tail = finisher.compress(pending) + finisher.flush(self._module.Z_FINISH)
        return state, len(out) + len(tail)

    def _adopt(self, data: bytes, state: _Blocks) -> bytes:
        self._compressor, out, self._pending, self._held = state
        self.crc = cast(int, self._module.crc32(data, self.crc))
        self.size += len(data)
        self.compressed += len(out)
        return out


_BLOCK = 64 << 10
_Blocks = tuple[_Compressor, bytes, bytes, int]  # compressor, output, pending input, held input


def _blocks(compressor: _Compressor, pending: bytes, data: bytes, held: int) -> _Blocks:
    """Hand ``pending + data`` to ``compressor`` in whole ``_BLOCK``s; keep the remainder.
    (Only the first block is copied together; the rest are views of ``data``.)"""
    if len(pending) + len(data) < _BLOCK:
        return compressor, b"", pending + data, held
    view = memoryview(data)
    first = _BLOCK - len(pending)
    blocks: list[bytes | memoryview] = [pending + view[:first]] if pending else []
    start = first if pending else 0
    whole = start + (len(data) - start) // _BLOCK * _BLOCK
    blocks += [view[i : i + _BLOCK] for i in range(start, whole, _BLOCK)]
    outs: list[bytes] = []
    for block in blocks:
        out = compressor.compress(block)
        if out:
            outs.append(out)
            held = _BLOCK
        else:
            held += _BLOCK
    return compressor, b"".join(outs), bytes(view[whole:]), held


@dataclass
class _OpenMember:
    name: str
    encoded: bytes
    offset: int
    deflater: MemberDeflater


class ZipPartWriter:
    """One ZIP64 part being written. Output accumulates in an internal buffer the caller drains.

    Args:
        limit: Most bytes the finished archive may have; None for no limit.
        level: Deflate level, 0-9.
        deflate: The deflate library (zlib-ng unless a plan says otherwise).
        modified: Timestamp of every member (wall-clock fields as given; pass UTC). Fixed so
            that the same input always gives the same bytes.
    """

    def __init__(
        self, *, limit: int | None, level: int = 6, deflate: Deflate = ZLIB_NG, modified: datetime
    ) -> None:
        if not 0 <= level <= 9:
            raise ValueError(f"deflate level must be 0-9, not {level}")
        if limit is not None and limit < _END_SIZE:
            raise ValueError(f"limit {limit} is below the size of an empty archive ({_END_SIZE})")
        if not 1980 <= modified.year <= 2107:
            raise ValueError("ZIP timestamps cover the years 1980-2107")
        self._limit = limit
        self._level = level
        self._deflate = deflate
        self._time = modified.hour << 11 | modified.minute << 5 | modified.second // 2
        self._date = (modified.year - 1980) << 9 | modified.month << 5 | modified.day
        self._out = bytearray()
        self._central: list[bytes] = []
        self._central_size = 0  # includes the open member's future entry
        self._member: _OpenMember | None = None
        self._closed = False
        self.emitted = 0
        self.members: dict[str, int] = {}

    def member_bound(self, name: str, size: int) -> int:
        """Worst-case bytes a complete member of ``size`` uncompressed bytes adds to an archive
        written with this writer's level and library."""
        encoded = len(name.encode())
        return _entry_overhead(encoded) + deflate_bound(size, self._level, self._deflate)

    @staticmethod
    def empty_size() -> int:
        """Size of an archive with no members (end records only)."""
        return _END_SIZE

    def begin(self, name: str) -> None:
        """Start member ``name``; the previous one must have ended."""
        if self._closed or self._member is not None:
            raise RuntimeError("begin() needs a writer with no open member and not closed")
        encoded = name.encode()
        if not encoded or len(encoded) > _SATURATED16:
            raise ValueError("member names must be 1-65535 bytes of UTF-8")
        if name in self.members:
            raise ValueError(f"duplicate member name {name!r}")
        deflater = MemberDeflater(self._level, self._deflate)
        self._member = _OpenMember(name, encoded, self.emitted, deflater)
        self.members[name] = 0
        self._central_size += _CENTRAL.size + len(encoded) + _CENTRAL_ZIP64.size
        header = _LOCAL.pack(
            0x04034B50, _VERSION, _FLAGS, _DEFLATED, self._time, self._date,
            0, _SATURATED32, _SATURATED32, len(encoded), _LOCAL_ZIP64.size,
        )  # fmt: skip
        self._emit(header + encoded + _LOCAL_ZIP64.pack(1, 16, 0, 0))

    def try_write(self, data: bytes, *, reserve: int = 0) -> bool:
        """Append ``data`` only if the archive, finished right after it, fits the limit.

        "Finished" means: this member ended, ``reserve`` further bytes, the central directory
        and the end records. Exact, not merely conservative. Returns False and changes nothing
        if it would not fit; always True without a limit.
        """
        member = self._open()
        if self._limit is None:
            self._emit(member.deflater.feed(data))
        else:
            out = member.deflater.feed_within(data, self._limit - self._finished(reserve))
            if out is None:
                return False
            self._emit(out)
        self.members[member.name] = member.deflater.size
        return True

    def surely_fits(self, size: int, *, reserve: int = 0) -> bool:
        """Cheap and conservative: True means ``size`` more bytes certainly fit (``try_write``
        would accept them without an exact trial); False means "perhaps not"."""
        if self._limit is None:
            return True
        room = self._limit - self._finished(reserve)
        return self._open().deflater.rest_bound_size(size) <= room

    def write(self, data: bytes) -> None:
        """Append ``data`` to the current member whatever the limit."""
        member = self._open()
        self._emit(member.deflater.feed(data))
        self.members[member.name] = member.deflater.size

    def fits(self, reserve: int = 0) -> bool:
        """Whether the archive, finished now plus ``reserve`` further bytes, is within the limit."""
        if self._limit is None:
            return True
        room = self._limit - self._finished(reserve)
        if self._member is None:
            return room >= 0
        deflater = self._member.deflater
        return deflater.rest_bound(b"") <= room or deflater.rest_exact(b"") <= room

    def end(self) -> None:
        """End the current member with its data descriptor."""
        member = self._open()
        deflater = member.deflater
        self._emit(deflater.finish())
        self._emit(_DESCRIPTOR.pack(0x08074B50, deflater.crc, deflater.compressed, deflater.size))
        entry = _CENTRAL.pack(
            0x02014B50, _MADE_BY, _VERSION, _FLAGS, _DEFLATED, self._time, self._date,
            deflater.crc, _SATURATED32, _SATURATED32, len(member.encoded), _CENTRAL_ZIP64.size,
            0, 0, 0, _FILE_MODE, _SATURATED32,
        )  # fmt: skip
        zip64 = _CENTRAL_ZIP64.pack(1, 24, deflater.size, deflater.compressed, member.offset)
        self._central.append(entry + member.encoded + zip64)
        self._member = None

    def close(self) -> None:
        """Write the central directory and the ZIP64 end records; no writes after this."""
        if self._closed or self._member is not None:
            raise RuntimeError("close() needs a writer with no open member and not closed")
        start, count = self.emitted, len(self._central)
        self._emit(b"".join(self._central))
        self._central.clear()
        end64 = self.emitted
        self._emit(
            _END64.pack(
                0x06064B50, _END64.size - 12, _MADE_BY, _VERSION, 0, 0,
                count, count, self._central_size, start,
            )
            + _LOCATOR.pack(0x07064B50, 0, end64, 1)
            # Saturated on purpose, whatever the size: every reader takes the ZIP64 record.
            + _END.pack(
                0x06054B50, 0, 0, _SATURATED16, _SATURATED16, _SATURATED32, _SATURATED32, 0,
            )
        )  # fmt: skip
        self._closed = True

    def drain(self) -> bytes:
        """Take the bytes produced so far (may be empty)."""
        if not self._out:
            return b""
        out = bytes(self._out)
        self._out.clear()
        return out

    def _open(self) -> _OpenMember:
        if self._member is None:
            raise RuntimeError("no open member: call begin() first")
        return self._member

    def _finished(self, reserve: int) -> int:
        """Archive size if finished now, without the open member's remaining deflate output."""
        descriptor = _DESCRIPTOR.size if self._member is not None else 0
        return self.emitted + descriptor + self._central_size + _END_SIZE + reserve

    def _emit(self, data: bytes) -> None:
        if data:  # deflate mostly holds its output back; skip the empty appends
            self._out += data
            self.emitted += len(data)


def _entry_overhead(name_size: int) -> int:
    """Bytes of a member besides its deflate data: local header, descriptor, central entry."""
    local = _LOCAL.size + name_size + _LOCAL_ZIP64.size
    return local + _DESCRIPTOR.size + _CENTRAL.size + name_size + _CENTRAL_ZIP64.size
