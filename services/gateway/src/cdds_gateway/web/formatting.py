"""What the pages show, as text: dates, durations, sizes, schedules, refusals, and the rows and
links of the lists. Formatting only: nothing here reads a store or a form."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from fastapi import Request

from cdds_gateway.errors import public_detail
from cdds_gateway.usecases.me import CertificateDetails
from cdds_gateway.usecases.views import ArtifactView, JobView, RunView
from cdds_shared.errors import CddsError

__all__ = [
    "PAGE_SIZE",
    "WEEKDAYS",
    "active",
    "artifact_row",
    "certificate_view",
    "eta",
    "job_row",
    "live",
    "paging",
    "refusal",
    "retention_days",
    "run_row",
    "schedule_text",
    "size",
    "sort_links",
    "when",
]

PAGE_SIZE = 50
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
ARTIFACT_SORT_KEYS = ("name", "created", "size", "expires")
# How often a page polls the API for its live runs (static/cdds.js).
POLL_SECONDS = 3


def when(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min {secs} s"


def size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return str(n)


def retention_days(seconds: float) -> int:
    """The retention period as the Artifacts page states it: whole days, at least one."""
    return max(1, round(seconds / 86_400))


def schedule_text(job: JobView) -> str:
    s = job.schedule
    texts: dict[str, str] = {
        "now": "On demand",
        "once": f"Once at {when(s.at)}",
        "every_hours": f"Every {s.hours} h",
        "daily": f"Daily at {s.time} UTC",
        "weekly": f"Weekly ({WEEKDAYS[s.weekday or 0]}) at {s.time} UTC",
    }
    return texts.get(s.kind, str(s.kind))


def run_row(run: RunView) -> dict[str, Any]:
    return {
        "id": run.id,
        "status": run.status,
        "type": run.type,
        "percent": run.progress.percent,
        "eta_text": eta(run.progress.eta_seconds),
        "queue_position": run.queue_position,
        "error": run.error,
        "started_at": when(run.started_at),
        "requested_at": when(run.requested_at),
        "files": run.files,
        "job_title": run.job_title,
    }


def job_row(job: JobView) -> dict[str, Any]:
    return {
        "id": job.id,
        "title": job.title,
        "type": job.type,
        "enabled": job.enabled,
        "schedule_text": schedule_text(job),
        "last_run_at": when(job.last_run_at),
        "latest_run": run_row(job.latest_run) if job.latest_run else None,
        "last_error": job.last_error,
    }


def artifact_row(artifact: ArtifactView) -> dict[str, Any]:
    return {
        "id": artifact.id,
        "name": artifact.name,
        "type": artifact.type,
        "created_at": when(artifact.created_at),
        "size_text": size(artifact.size),
        "sha256": artifact.sha256,
        "remaining_days": artifact.remaining_days,
    }


def certificate_view(details: CertificateDetails | None) -> dict[str, Any] | None:
    if details is None:
        return None
    return {**details.model_dump(), "not_after": when(details.not_after)}


def active(rows: Sequence[dict[str, Any] | None]) -> bool:
    return any(r and r["status"] in ("queued", "running") for r in rows)


def live(rows: Sequence[dict[str, Any] | None]) -> int | None:
    """Seconds between the page's polls of its runs' progress, while one it shows is still going
    (``None``: nothing to watch). The page updates in place: no reload (docs/web.md)."""
    return POLL_SECONDS if active(rows) else None


def refusal(exc: Exception) -> str:
    """A refused job form's reason, with the link the error offers (e.g. to User preferences)."""
    if isinstance(exc, CddsError):
        text = public_detail(exc)
        return f'{text} <a href="{exc.link}">Go to User preferences</a>' if exc.link else text
    return str(exc)


def paging(request: Request, total: int, offset: int) -> dict[str, Any]:
    """Links to the previous and next page, keeping the other query parameters."""

    def at(where: int) -> str:
        return str(request.url.include_query_params(offset=max(0, where)))

    offset = max(0, offset)
    return {
        "total": total,
        "first": offset + 1 if total else 0,
        "last": min(total, offset + PAGE_SIZE),
        "previous": at(offset - PAGE_SIZE) if offset > 0 else None,
        "next": at(offset + PAGE_SIZE) if offset + PAGE_SIZE < total else None,
    }


def sort_links(request: Request, sort: str, order: str) -> dict[str, str]:
    """Each column's sort link: descending first, the other way round when already so."""

    def link(key: str) -> str:
        flip = "asc" if (sort, order) == (key, "desc") else "desc"
        return str(request.url.include_query_params(sort=key, order=flip, offset=0))

    return {key: link(key) for key in ARTIFACT_SORT_KEYS}
