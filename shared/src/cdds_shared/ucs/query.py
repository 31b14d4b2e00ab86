"""What to read from UCS: one tenant, one record type, a timeframe and an optional key range."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from cdds_shared.errors import ValidationFailed

__all__ = ["RECORD_TYPES", "RecordType", "UcsQuery"]

RecordType = Literal["interaction", "contact"]
RECORD_TYPES: tuple[RecordType, ...] = ("interaction", "contact")


@dataclass(frozen=True, slots=True)
class UcsQuery:
    """A selection of UCS records.

    Attributes:
        tenant_id: only this tenant's rows, always.
        record_type: ``interaction`` or ``contact``.
        media_types: interactions of these media types only (``None`` = all); not for contacts.
        start: inclusive lower bound of ``start_date`` (interactions) / ``created_date``
            (contacts); ``None`` = open. Must be timezone-aware.
        end: exclusive upper bound of the same column; ``None`` = open.
        after_id: exclusive lower bound of the record id (key order is byte order).
        until_id: inclusive upper bound of the record id.
    """

    tenant_id: int
    record_type: RecordType = "interaction"
    media_types: tuple[str, ...] | None = None
    start: datetime | None = None
    end: datetime | None = None
    after_id: str | None = None
    until_id: str | None = None

    def __post_init__(self) -> None:
        if self.record_type not in RECORD_TYPES:
            raise ValidationFailed(f"record_type must be one of {RECORD_TYPES}")
        if self.media_types is not None and self.record_type != "interaction":
            raise ValidationFailed("media_types only apply to interactions")
        if self.media_types is not None and not isinstance(self.media_types, tuple):
            object.__setattr__(self, "media_types", tuple(self.media_types))
        for bound in (self.start, self.end):
            if bound is not None and bound.utcoffset() is None:
                raise ValidationFailed("start and end must be timezone-aware")
        if self.start and self.end and self.start >= self.end:
            raise ValidationFailed("start must be before end")
        after, until = self.after_id, self.until_id
        if after is not None and until is not None and after.encode() >= until.encode():
            raise ValidationFailed("after_id must be below until_id")

    def with_range(self, after_id: str | None, until_id: str | None) -> UcsQuery:
        """The same query restricted to the key range ``(after_id, until_id]``."""
        return dataclasses.replace(self, after_id=after_id, until_id=until_id)

    def partition(self, keys: Sequence[str]) -> list[UcsQuery]:
        """Split into ``len(keys) + 1`` queries at ascending ``keys`` (from ``split_keys``).

        Part *i* covers ``(keys[i-1], keys[i]]``; the first starts at ``after_id`` and the last
        ends at ``until_id``, so the parts cover the query's rows exactly once, in key order.
        """
        bounds = [self.after_id, *keys, self.until_id]
        return [self.with_range(lo, hi) for lo, hi in itertools.pairwise(bounds)]
