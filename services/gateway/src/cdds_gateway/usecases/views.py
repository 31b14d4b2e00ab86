"""What the use cases return to the REST API and the web pages. The field descriptions feed the
OpenAPI document."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, Field

from cdds_gateway.jobs_store import Job, JobTimeframe, Schedule
from cdds_shared.audit import AuditEvent
from cdds_shared.messaging.messages import RecordType
from cdds_shared.runs.model import Artifact, Progress, Run, RunStatus

__all__ = [
    "ArtifactView",
    "AuditView",
    "CloneResult",
    "JobView",
    "Page",
    "ProgressView",
    "RunView",
    "TimeframeView",
    "artifact_state",
    "remaining_days",
]

T = TypeVar("T")
ArtifactState = Literal["available", "expired", "deleted"]
SECONDS_PER_DAY = 86_400


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int = Field(description="matching items in all pages")
    limit: int
    offset: int


class ProgressView(BaseModel):
    percent: float = Field(description="sealed records / estimate (100 once finished)")
    records: int = Field(description="records in sealed files (attachments not counted)")
    records_exported: int = Field(description="records read from UCS so far")
    estimated_total: int = Field(description="records counted when the run was planned")
    bytes: int = Field(description="bytes of the sealed files")
    parts: int = Field(description="sealed files")
    eta_seconds: float | None = Field(description="estimated time left, while running")
    last_activity_at: datetime | None

    @classmethod
    def of(cls, p: Progress) -> ProgressView:
        return cls(
            percent=p.percent,
            records=p.records_sealed,
            records_exported=p.records_exported,
            estimated_total=p.estimated_total,
            bytes=p.bytes,
            parts=p.parts,
            eta_seconds=p.eta_seconds,
            last_activity_at=p.last_activity_at,
        )


class TimeframeView(BaseModel):
    start: datetime | None = Field(description="inclusive; null = from the beginning")
    end: datetime | None = Field(description="exclusive; the end frozen at planning once planned")


class RunView(BaseModel):
    id: str
    job_id: str | None = Field(description="the job it ran for (null: started by an integration)")
    job_title: str | None = Field(description="the job's title (null when the job was deleted)")
    owner: str = Field(description="user id whose certificate seals the files")
    source: Literal["contact_history"] = "contact_history"
    type: RecordType
    media_types: list[str] | None = Field(description="null = all")
    timeframe: TimeframeView
    split_size_bytes: int
    status: RunStatus = Field(
        description="queued → running → completed | no_data | failed; cancelled when deleted"
        " while it ran"
    )
    requested_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None = Field(description="why it failed")
    queue_position: int | None = Field(
        None,
        description="while queued behind its user's or tenant's limit of concurrent runs: its "
        "place in the tenant's queue (1 = next to start); null otherwise",
    )
    progress: ProgressView
    files: int = Field(description="its files still available")
    artifact_ids: list[str] = Field(description="ids of its files still available")

    @classmethod
    def of(
        cls,
        run: Run,
        progress: Progress,
        artifacts: list[Artifact],
        job_title: str | None,
        queue_position: int | None = None,
    ) -> RunView:
        available = [a.id for a in artifacts if a.status == "available"]
        return cls(
            id=run.id,
            job_id=run.job_id,
            job_title=job_title,
            owner=run.owner,
            type=run.record_type,
            media_types=run.media_types,
            timeframe=TimeframeView(
                start=run.timeframe.start,
                end=run.plan.end if run.plan else run.timeframe.end,
            ),
            split_size_bytes=run.split_size_bytes,
            status=run.status,
            requested_at=run.requested_at,
            started_at=run.started_at,
            finished_at=run.finished_at,
            error=run.error,
            queue_position=queue_position,
            progress=ProgressView.of(progress),
            files=len(available),
            artifact_ids=available,
        )


class JobView(BaseModel):
    id: str
    title: str
    description: str
    source: Literal["contact_history"]
    type: RecordType
    media_types: list[str] | None = Field(description="null = all")
    schedule: Schedule
    timeframe: JobTimeframe
    split_size_bytes: int
    enabled: bool
    owner: str = Field(description="user id of the owner")
    owner_name: str
    created_at: datetime
    updated_at: datetime
    next_run_at: datetime | None = Field(description="when the scheduler starts it next")
    last_run_at: datetime | None
    last_run_id: str | None
    last_error: str | None = Field(description="why the last scheduled start was skipped")
    latest_run: RunView | None = Field(None, description="the latest run: status and progress")
    run_id: str | None = Field(None, description="the run this request started, if any")

    @classmethod
    def of(cls, job: Job, latest: RunView | None = None, run_id: str | None = None) -> JobView:
        fields = job.model_dump(exclude={"claimed_at", "claimed_by", "tenant"})
        return cls(**fields, latest_run=latest, run_id=run_id)


def remaining_days(expires_at: datetime, now: datetime) -> int:
    """Whole days left, rounded up: 30 just after sealing, 0 once expired."""
    return max(0, math.ceil((expires_at - now).total_seconds() / SECONDS_PER_DAY))


def artifact_state(artifact: Artifact, now: datetime) -> ArtifactState:
    if artifact.status == "deleted":
        return "deleted"
    return "expired" if artifact.expires_at <= now else "available"


class ArtifactView(BaseModel):
    id: str
    run_id: str
    owner: str = Field(description="user id whose certificate sealed it")
    type: RecordType
    name: str = Field(description="file name (CMS, DER: <Type>-<run>-<partition>-<part>.zip.p7m)")
    size: int = Field(description="bytes")
    sha256: str = Field(description="hex SHA-256 of the file, also its ETag")
    seal: str = Field(description="CMS content encryption")
    records: dict[str, int] = Field(description="records per ZIP member")
    created_at: datetime
    expires_at: datetime
    remaining_days: int = Field(description="days until it is deleted (0: gone)")
    status: ArtifactState
    content_url: str = Field(description="where to download it")

    @classmethod
    def of(cls, a: Artifact, now: datetime) -> ArtifactView:
        return cls(
            id=a.id,
            run_id=a.run_id,
            owner=a.owner,
            type=a.record_type,
            name=a.name,
            size=a.size,
            sha256=a.sha256,
            seal=a.seal,
            records=a.records,
            created_at=a.created_at,
            expires_at=a.expires_at,
            remaining_days=remaining_days(a.expires_at, now),
            status=artifact_state(a, now),
            content_url=f"/api/v1/artifacts/{a.id}/content",
        )


class CloneResult(BaseModel):
    job: JobView | None = Field(None, description="the new job (target job)")
    run: RunView | None = Field(None, description="the run started (target run, or run_now)")


class AuditView(BaseModel):
    id: str
    at: datetime
    tenant: str | None
    actor: str = Field(description="username, or 'scheduler'")
    action: str = Field(description="e.g. job.create, run.start, artifact.download")
    target: str | None = Field(description="id of what was acted on")
    outcome: Literal["success", "failure"]
    detail: dict[str, Any]
    client: str | None = Field(description="client address")
    request_id: str | None = Field(None, description="the id of the HTTP request (X-Request-ID)")

    @classmethod
    def of(cls, event: AuditEvent) -> AuditView:
        return cls(**event.model_dump())
