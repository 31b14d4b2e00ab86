"""Export jobs: what to export, when, and the schedule arithmetic (stored by ``jobs_store``).

A job is a saved export request of one user: source, record type, media types, timeframe, file
split size and a schedule (``now`` = on demand, ``once`` at a moment, or recurring: every N hours
anchored at 00:00 UTC, daily or weekly at ``HH:MM`` UTC). All moments are UTC; there is no DST.

Only the gateway uses them (its use cases and scheduler).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    field_validator,
    model_validator,
)

from cdds_gateway.moments import Moment
from cdds_shared.messaging.messages import RecordType, Timeframe
from cdds_shared.runs.model import Run, to_millis

__all__ = [
    "COLLECTION",
    "DEFAULT_SPLIT_SIZE",
    "MAX_SPLIT_SIZE",
    "MEDIA_NAME",
    "MIN_SPLIT_SIZE",
    "NOT_BLANK",
    "RECURRING",
    "WINDOW_TAKEN",
    "Job",
    "JobSpec",
    "JobTimeframe",
    "Schedule",
    "as_utc",
    "next_run_at",
    "planned_end",
    "run_timeframe",
]

COLLECTION = "jobs"
DEFAULT_SPLIT_SIZE = 1 << 30
MIN_SPLIT_SIZE = 1 << 20
MAX_SPLIT_SIZE = 1 << 40
ScheduleKind = Literal["now", "once", "every_hours", "daily", "weekly"]
RECURRING: tuple[ScheduleKind, ...] = ("every_hours", "daily", "weekly")
_FIELDS_OF: dict[ScheduleKind, frozenset[str]] = {
    "now": frozenset(),
    "once": frozenset({"at"}),
    "every_hours": frozenset({"hours"}),
    "daily": frozenset({"time"}),
    "weekly": frozenset({"time", "weekday"}),
}
# Runs whose window counts as exported: a failed or cancelled run's window is exported again.
WINDOW_TAKEN = ("queued", "running", "completed", "no_data")
MEDIA_NAME = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$"
"""A media type as given (compared in lower case): voice, chat, email …"""
NOT_BLANK = r"\S"


def _kind_schemas(
    fields: Mapping[ScheduleKind, frozenset[str]], optional: str
) -> list[dict[str, Any]]:
    """JSON Schema ``anyOf`` branches: per kind, its fields given (not null), the others null
    or absent; ``kind`` may be left out for ``optional``."""
    every = set().union(*fields.values())
    branches = []
    for kind, wanted in fields.items():
        properties: dict[str, Any] = {"kind": {"const": kind}}
        properties |= {f: {"not": {"type": "null"}} for f in wanted}
        properties |= {f: {"type": "null"} for f in every - wanted}
        required = sorted(wanted) + ([] if kind == optional else ["kind"])
        branches.append({"properties": properties, "required": required})
    return branches


def _schedule_schema(schema: dict[str, Any]) -> None:
    schema["anyOf"] = _kind_schemas(_FIELDS_OF, optional="now")


def _timeframe_schema(schema: dict[str, Any]) -> None:
    # Without kind (or null): inferred, any bounds. start < end is checked, not said (422).
    kind = schema["properties"]["kind"]
    schema["properties"]["kind"] = {"anyOf": [{"enum": kind["enum"]}, {"type": "null"}]} | {
        k: v for k, v in kind.items() if k not in ("enum", "type")
    }
    bounded = [{"properties": {b: {"type": "string"}}, "required": [b]} for b in ("start", "end")]
    schema["anyOf"] = [
        {"properties": {"kind": {"type": "null"}}},
        {
            "properties": {
                "kind": {"const": "all"},
                "start": {"type": "null"},
                "end": {"type": "null"},
            }
        },
        {"properties": {"kind": {"const": "fixed"}}, "required": ["kind"], "anyOf": bounded},
        {"properties": {"kind": {"const": "since_previous"}, "end": {"type": "null"}}},
    ]


def _spec_schema(schema: dict[str, Any]) -> None:
    schema["anyOf"] = [
        {"properties": {"type": {"const": "interaction"}}},
        {"properties": {"media_types": {"type": "null"}}},
    ]


def as_utc(moment: datetime | None) -> datetime | None:
    """Aware UTC with millisecond precision (what BSON keeps); a naive moment is taken as UTC."""
    if moment is None:
        return None
    try:
        aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("the moment is out of range in UTC") from None
    return to_millis(aware)


class Schedule(BaseModel):
    """When a job runs. Only the fields of its ``kind`` may be set."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra=_schedule_schema)

    kind: ScheduleKind = Field(
        "now",
        description="now: on demand (run_now, or POST /jobs/{id}/runs); once: at `at`; "
        "every_hours: every `hours` hours from 00:00 UTC each day; daily: at `time` UTC; "
        "weekly: on `weekday` at `time` UTC",
    )
    at: Moment | None = Field(None, description="once: the moment (UTC; naive means UTC)")
    hours: StrictInt | None = Field(
        None,
        ge=1,
        le=24,
        description="every_hours: N, runs at 00:00, N:00, 2N:00 … each day",
    )
    time: str | None = Field(
        None, pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="daily/weekly: HH:MM in UTC"
    )
    weekday: StrictInt | None = Field(
        None, ge=0, le=6, description="weekly: 0 = Monday … 6 = Sunday"
    )

    @field_validator("at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return as_utc(value)

    @model_validator(mode="after")
    def _fields_of_kind(self) -> Schedule:
        wanted = _FIELDS_OF[self.kind]
        given = {n for n in ("at", "hours", "time", "weekday") if getattr(self, n) is not None}
        if missing := sorted(wanted - given):
            raise ValueError(f"a {self.kind} schedule needs {', '.join(missing)}")
        if extra := sorted(given - wanted):
            raise ValueError(f"{', '.join(extra)} do(es) not apply to a {self.kind} schedule")
        return self

    @property
    def recurring(self) -> bool:
        return self.kind in RECURRING


class JobTimeframe(BaseModel):
    """Which records: all, a fixed interval, or (each run) the window since the previous run.
    Without ``kind``: ``fixed`` when ``start`` or ``end`` is given, else ``all``."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra=_timeframe_schema)

    kind: Literal["all", "fixed", "since_previous"] = Field(
        "all",
        description="all data; a fixed interval [start, end); or since_previous: from the end "
        "of the job's previous run (the first run: from `start`, or the beginning) to the run",
    )
    start: Moment | None = Field(None, description="inclusive (UTC)")
    end: Moment | None = Field(None, description="exclusive (UTC); fixed only; after start")

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return as_utc(value)

    @model_validator(mode="before")
    @classmethod
    def _infer_kind(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and data.get("kind") is None:
            bounded = data.get("start") is not None or data.get("end") is not None
            return {**data, "kind": "fixed" if bounded else "all"}
        return data

    @model_validator(mode="after")
    def _bounds(self) -> JobTimeframe:
        if self.kind == "all" and (self.start or self.end):
            raise ValueError("an 'all' timeframe has no start or end")
        if self.kind == "fixed" and self.start is None and self.end is None:
            raise ValueError("a fixed timeframe needs start, end or both")
        if self.kind == "since_previous" and self.end is not None:
            raise ValueError("a since_previous timeframe ends at each run: no end")
        if self.start and self.end and self.start >= self.end:
            raise ValueError("start must be before end")
        return self


class JobSpec(BaseModel):
    """What a user edits: everything but ownership and state."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_spec_schema)

    title: str = Field(
        min_length=1, max_length=200, pattern=NOT_BLANK, description="shown in the lists"
    )
    description: str = Field("", max_length=2000)
    source: Literal["contact_history"] = Field("contact_history", description="UCS contact history")
    type: RecordType = Field(description="interaction or contact records")
    media_types: list[str] | None = Field(
        None,
        min_length=1,
        max_length=50,
        description="interactions of these media types only (voice, chat, email …); null = all",
        json_schema_extra={"items": {"type": "string", "pattern": MEDIA_NAME}},
    )
    schedule: Schedule = Field(default_factory=Schedule)
    timeframe: JobTimeframe = Field(default_factory=JobTimeframe)
    split_size_bytes: int = Field(
        DEFAULT_SPLIT_SIZE,
        ge=MIN_SPLIT_SIZE,
        le=MAX_SPLIT_SIZE,
        strict=True,
        description="largest sealed file; larger exports are split into parts (min 1 MiB)",
    )
    enabled: bool = Field(True, strict=True, description="false: the scheduler does not start it")

    @field_validator("title")
    @classmethod
    def _title(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("title must not be blank")
        return value.strip()

    @field_validator("media_types")
    @classmethod
    def _media(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if any(not re.fullmatch(MEDIA_NAME, v) for v in value):
            raise ValueError("media types are names like voice, chat, email (letters, digits, -_)")
        return sorted({v.lower() for v in value})

    @model_validator(mode="after")
    def _media_for_interactions(self) -> JobSpec:
        if self.media_types is not None and self.type != "interaction":
            raise ValueError("media_types apply to interaction exports only")
        return self


class Job(JobSpec):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    id: str = Field(alias="_id")
    tenant: str
    owner: str = Field(description="user id: whose certificate seals the files")
    owner_name: str = Field(description="username of the owner")
    created_at: datetime
    updated_at: datetime
    last_run_id: str | None = None
    last_run_at: datetime | None = None
    next_run_at: datetime | None = None
    last_error: str | None = Field(None, description="why the last scheduled start was skipped")
    claimed_at: datetime | None = None
    claimed_by: str | None = None

    def document(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, mode="python")

    def spec(self) -> JobSpec:
        return JobSpec.model_validate(self.model_dump(include=set(JobSpec.model_fields)))


# -- schedule arithmetic (pure) -----------------------------------------------------------------


def _at_time(day: datetime, hhmm: str) -> datetime:
    hours, minutes = (int(x) for x in hhmm.split(":"))
    return day.replace(hour=hours, minute=minutes, second=0, microsecond=0)


def next_run_at(schedule: Schedule, after: datetime) -> datetime | None:
    """The first occurrence strictly after ``after`` (UTC), or ``None`` (on demand, or a ``once``
    moment that has passed)."""
    after = after.astimezone(UTC)
    midnight = after.replace(hour=0, minute=0, second=0, microsecond=0)
    if schedule.kind == "now":
        return None
    if schedule.kind == "once":
        assert schedule.at is not None
        return schedule.at if schedule.at > after else None
    if schedule.kind == "every_hours":
        assert schedule.hours is not None
        # Anchored at 00:00 each day: with N not dividing 24 the day's last interval is shorter.
        for offset in range(0, 24, schedule.hours):
            candidate = midnight + timedelta(hours=offset)
            if candidate > after:
                return candidate
        return midnight + timedelta(days=1)
    assert schedule.time is not None
    candidate = _at_time(midnight, schedule.time)
    if schedule.kind == "daily":
        return candidate if candidate > after else candidate + timedelta(days=1)
    assert schedule.weekday is not None
    candidate += timedelta(days=(schedule.weekday - candidate.weekday()) % 7)
    return candidate if candidate > after else candidate + timedelta(days=7)


def planned_end(run: Run) -> datetime:
    """Where a run's data stops: the end frozen at planning, else the requested end, else (not
    planned yet, open end) its request time."""
    if run.plan is not None:
        return run.plan.end
    return run.timeframe.end or run.requested_at


def run_timeframe(
    timeframe: JobTimeframe, *, end: datetime, previous_end: datetime | None
) -> Timeframe:
    """The timeframe of one run of a job started for the moment ``end`` (a scheduled occurrence,
    or now). ``since_previous`` starts where the job's previous run stopped (``previous_end``),
    so consecutive windows neither overlap nor leave gaps."""
    if timeframe.kind == "all":
        return Timeframe()
    if timeframe.kind == "fixed":
        return Timeframe(start=timeframe.start, end=timeframe.end)
    return Timeframe(start=previous_end or timeframe.start, end=end)


# -- storage -------------------------------------------------------------------------------------
