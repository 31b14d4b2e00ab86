"""Conditional and partial GETs of a file (RFC 9110 §13, §14): ``Range`` (one range), ``If-Range``,
``If-None-Match``."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ByteRange", "Unsatisfiable", "etag_matches", "if_range_allows", "parse_range"]


class Unsatisfiable(Exception):
    """The range starts beyond the file (answered 416)."""


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int
    """inclusive"""

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end}/{size}"


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The one range of ``bytes=a-b``, ``bytes=a-`` or ``bytes=-n`` within a file of ``size``
    bytes; ``None`` to send the whole file (no header, a malformed one, another unit, or several
    ranges — RFC 9110 §14.2 lets a server ignore those). Raises ``Unsatisfiable``."""
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    first, last = first.strip(), last.strip()
    if not dash or not (first.isdigit() or first == "") or not (last.isdigit() or last == ""):
        return None
    if first == "":
        if last == "":
            return None
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise Unsatisfiable
        return ByteRange(max(0, size - suffix), size - 1)
    start = int(first)
    if last and int(last) < start:
        return None  # invalid: ignored
    if start >= size:
        raise Unsatisfiable
    return ByteRange(start, min(int(last), size - 1) if last else size - 1)


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """``If-None-Match`` holds the file's ETag (weak comparison) or ``*``."""
    if if_none_match is None:
        return False
    tags = [t.strip() for t in if_none_match.split(",")]
    return "*" in tags or any(t.removeprefix("W/") == etag for t in tags)


def if_range_allows(if_range: str | None, etag: str) -> bool:
    """Honour ``Range`` only if ``If-Range`` is absent or names this ETag (strong comparison;
    a date never matches: no ``Last-Modified`` is sent)."""
    return if_range is None or if_range.strip() == etag
