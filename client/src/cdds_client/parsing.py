"""The command line's small languages: ``--schedule`` phrases, sizes (``512MiB``) and moments,
turned into what the API takes (docs/api.md § Jobs). Each parser raises ``ValueError`` with a
message that says what is accepted; argparse reports it as a usage error (exit 2)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

__all__ = ["WEEKDAYS", "parse_moment", "parse_schedule", "parse_size", "rfc3339"]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # the API's 0 = Monday … 6
_DAYS = {name: day for day, name in enumerate(WEEKDAYS)} | {
    name: day
    for day, name in enumerate(
        ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    )
}
_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "m": 1000**2,
    "mb": 1000**2,
    "g": 1000**3,
    "gb": 1000**3,
    "t": 1000**4,
    "tb": 1000**4,
    "kib": 1 << 10,
    "mib": 1 << 20,
    "gib": 1 << 30,
    "tib": 1 << 40,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$", re.IGNORECASE)
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_SCHEDULES = 'use "once 2026-12-24T02:00Z", "every 6h", "daily 02:00" or "weekly mon 02:00" (UTC)'


def parse_size(text: str) -> int:
    """``512MiB``, ``1GiB``, ``1.5GB`` or plain bytes → bytes (KiB, MiB… are powers of 2)."""
    match = _SIZE.match(text)
    unit = match.group(2).lower() if match else ""
    if not match or unit not in _UNITS:
        raise ValueError(f"not a size: {text!r}; use bytes or a unit: 512MiB, 1GiB, 200MB")
    size = float(match.group(1)) * _UNITS[unit]
    if size != int(size) or size < 1:
        raise ValueError(f"not a whole number of bytes: {text!r}")
    return int(size)


def parse_moment(text: str) -> datetime:
    """An ISO 8601 moment; without an offset it is UTC (as the API reads it)."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"not an ISO 8601 moment: {text!r}; e.g. 2026-01-01, 2026-12-24T02:00Z"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def rfc3339(moment: datetime) -> str:
    """What the API reads: ``2026-12-24T02:00:00Z``."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_schedule(text: str) -> dict[str, Any]:
    """``once MOMENT`` | ``every Nh`` | ``daily HH:MM`` | ``weekly DAY HH:MM`` | ``now`` → the
    API's ``schedule`` object."""
    words = text.split()
    kind = words[0].lower() if words else ""
    if kind == "now" and len(words) == 1:
        return {"kind": "now"}
    if kind == "once" and len(words) == 2:
        return {"kind": "once", "at": rfc3339(parse_moment(words[1]))}
    if kind == "every" and len(words) == 2:
        hours = re.fullmatch(r"(\d+)\s*h(ours?)?", words[1].lower())
        if hours and 1 <= int(hours.group(1)) <= 24:
            return {"kind": "every_hours", "hours": int(hours.group(1))}
        raise ValueError(f"not an interval: {words[1]!r}; use 1h to 24h, e.g. every 6h")
    if kind == "daily" and len(words) == 2:
        return {"kind": "daily", "time": _time(words[1])}
    if kind == "weekly" and len(words) == 3:
        day = _DAYS.get(words[1].lower())
        if day is None:
            raise ValueError(f"not a weekday: {words[1]!r}; use mon, tue, wed, thu, fri, sat, sun")
        return {"kind": "weekly", "weekday": day, "time": _time(words[2])}
    raise ValueError(f"not a schedule: {text!r}; {_SCHEDULES}")


def _time(text: str) -> str:
    if not _TIME.match(text):
        raise ValueError(f"not a time of day: {text!r}; use HH:MM in UTC, e.g. 02:00")
    return text
