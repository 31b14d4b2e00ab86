"""The pages' forms: reading a posted form, the CSRF check of a form post, and the job form's
fields to and from what the use cases take (``JobCreate`` / ``JobPatch``, as the REST API)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Form, Request

from cdds_gateway.principal import Principal
from cdds_gateway.security import check_csrf
from cdds_gateway.usecases.views import JobView
from cdds_shared.identity import SealMode

__all__ = [
    "MEDIA",
    "NEW_JOB",
    "Text",
    "csrf",
    "job_form_data",
    "job_form_values",
    "read_form",
    "seal_mode_of",
    "ticked",
]

Text = Annotated[str, Form()]
MEDIA = ("voice", "chat", "email", "sms", "callback", "workitem")
NEW_JOB: dict[str, Any] = {"run": "now", "enabled": True}
"""The job form's fields for a new job."""
LOCAL_MINUTE = "%Y-%m-%dT%H:%M"  # what an <input type="datetime-local"> shows


def csrf(request: Request, principal: Principal, token: str | None) -> None:
    """Refuse (403) a cookie-authenticated form post without the session's CSRF token."""
    check_csrf(request, principal, form_token=token)


def ticked(value: str | None) -> bool:
    """A checkbox's value: ticked is "on" (a browser), "true" or "1" (a script)."""
    return value in ("on", "true", "1")


def seal_mode_of(value: str) -> SealMode:
    """Anything but ``legacy-cbc`` is the default, ``gcm``."""
    return "legacy-cbc" if value == "legacy-cbc" else "gcm"


async def read_form(request: Request, lists: tuple[str, ...] = ("media_types",)) -> dict[str, Any]:
    """The posted form's text fields; the fields of ``lists`` as lists (every value sent)."""
    raw = await request.form()
    data: dict[str, Any] = {k: v for k, v in raw.items() if isinstance(v, str)}
    for name in lists:
        data[name] = [v for v in raw.getlist(name) if isinstance(v, str)]
    return data


def job_form_data(form: dict[str, Any]) -> dict[str, Any]:
    """The JSON of ``JobCreate`` from the form's fields (what the REST API takes)."""
    media = form.get("media_types") or None
    return {
        "title": (form.get("title") or "").strip(),
        "description": form.get("description") or "",
        "type": form.get("type") or "interaction",
        "media_types": media if form.get("type", "interaction") == "interaction" else None,
        "schedule": _schedule(form),
        "timeframe": _timeframe(form),
        "split_size_bytes": int(float(form.get("split_mib") or 1024) * (1 << 20)),
        "enabled": ticked(form.get("enabled")),
    }


def _schedule(form: dict[str, Any]) -> dict[str, Any]:
    run = form.get("run", "now")
    schedule: dict[str, Any] = {"kind": "now" if run in ("now", "manual") else run}
    if run == "once":
        schedule["at"] = form.get("at") or None
    elif run == "every_hours":
        schedule["hours"] = int(form.get("hours") or 6)
    elif run in ("daily", "weekly"):
        schedule["time"] = form.get("time") or "02:00"
        if run == "weekly":
            schedule["weekday"] = int(form.get("weekday") or 0)
    return schedule


def _timeframe(form: dict[str, Any]) -> dict[str, Any]:
    timeframe: dict[str, Any] = {"kind": form.get("timeframe") or "all"}
    if timeframe["kind"] in ("fixed", "since_previous") and form.get("start"):
        timeframe["start"] = form["start"]
    if timeframe["kind"] == "fixed" and form.get("end"):
        timeframe["end"] = form["end"]
    return timeframe


def job_form_values(job: JobView) -> dict[str, Any]:
    """The job form's fields for editing ``job`` ("manual" is how the form says on demand)."""
    s, t = job.schedule, job.timeframe
    return {
        "title": job.title,
        "description": job.description,
        "type": job.type,
        "media_types": job.media_types or [],
        "run": "manual" if s.kind == "now" else s.kind,
        "at": s.at.strftime(LOCAL_MINUTE) if s.at else "",
        "hours": s.hours,
        "time": s.time,
        "weekday": s.weekday,
        "timeframe": t.kind,
        "start": t.start.strftime(LOCAL_MINUTE) if t.start else "",
        "end": t.end.strftime(LOCAL_MINUTE) if t.end else "",
        "split_mib": job.split_size_bytes // (1 << 20),
        "enabled": job.enabled,
    }
