"""Moments as requests give them: RFC 3339 text (``2026-03-02T06:00:00Z``; seconds and offset
may be left out, a moment without an offset is UTC), never a number of seconds (which pydantic
would otherwise read as a Unix time, and the OpenAPI document's ``date-time`` refuses)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import BeforeValidator

__all__ = ["Moment"]

_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _text_or_datetime(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise ValueError("an RFC 3339 date and time, e.g. 2026-03-02T06:00:00Z")
    return value


Moment = Annotated[datetime, BeforeValidator(_text_or_datetime)]
"""A ``datetime`` read from RFC 3339 text (or given as a ``datetime`` by Python callers)."""
