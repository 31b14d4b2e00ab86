"""The run model: runs, their plan and progress, and the artifacts they leave (docs/pipeline.md §9).

Documents are written so that no update needs a transaction (the MongoDB-wire server here has
none): a run's status only changes through conditional ``find_one_and_update`` (``status`` in the
filter, so exactly one writer wins a transition); everything a worker produces is an insert-once
document with a deterministic id (checkpoints, artifacts), or a per-partition document that only
that partition's exporter writes. Progress is derived from those on read, so a redelivered message
can never count twice.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from cdds_shared.messaging.messages import RecordType, RunRequested, Timeframe

__all__ = [
    "ACTIVE",
    "FINISHED",
    "GATEWAY",
    "Artifact",
    "MemberCount",
    "PartitionPlan",
    "Plan",
    "Progress",
    "Run",
    "RunStatus",
    "artifact_id",
    "entity_type",
    "member_names",
    "to_millis",
    "utcnow",
]

RunStatus = Literal["queued", "running", "completed", "no_data", "failed", "cancelled"]
ACTIVE: tuple[RunStatus, ...] = ("queued", "running")
FINISHED: tuple[RunStatus, ...] = ("completed", "no_data", "failed", "cancelled")
SealMode = Literal["gcm", "legacy-cbc"]
GATEWAY = "gateway"
"""``Run.created_by`` of a run the gateway created: the only runs an exporter works for."""


def to_millis(moment: datetime) -> datetime:
    """BSON dates keep milliseconds; truncating makes a value read back equal to the one kept."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def utcnow() -> datetime:
    return to_millis(datetime.now(UTC))


def entity_type(record_type: RecordType) -> str:
    return "Interaction" if record_type == "interaction" else "Contact"


def member_names(record_type: RecordType, run_id: str) -> tuple[str, ...]:
    """ZIP member names of a part (docs/export-format.md): records first, then their attachments."""
    kind = entity_type(record_type)
    if record_type == "interaction":
        return (f"{kind}-{run_id}.jsonl", f"{kind}-Attachment-{run_id}.jsonl")
    return (f"{kind}-{run_id}.jsonl",)


def artifact_id(run_id: str, partition: int, part: int) -> str:
    return f"{run_id}-{partition:03d}-{part:03d}"


class _Doc(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class PartitionPlan(_Doc):
    after_id: str | None = Field(description="exclusive lower key bound")
    until_id: str | None = Field(description="inclusive upper key bound")


class Plan(_Doc):
    """Frozen at planning so that a partition redone after a crash cuts identical parts."""

    planned_at: datetime
    estimate: int = Field(description="records counted at planning")
    end: datetime = Field(description="timeframe end frozen at planning (open end = planning)")
    partitions: list[PartitionPlan]
    compression_level: int
    deflate: str = Field(
        "zlib",
        description="deflate library and version that cut the parts, e.g. 'zlib-ng 2.3.3' (plans "
        "made before it was recorded: 'zlib'); a partition is only ever cut with the same",
    )
    zip_limit: int = Field(description="maximum ZIP bytes per part, so the sealed file fits")
    seal_mode: SealMode = "gcm"


class Run(_Doc):
    id: str = Field(alias="_id")
    tenant: str
    ucs_tenant_id: int
    owner: str
    record_type: RecordType
    media_types: list[str] | None = None
    timeframe: Timeframe = Timeframe()
    split_size_bytes: int
    status: RunStatus = "queued"
    requested_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None
    plan: Plan | None = None
    job_id: str | None = None
    request_id: str | None = Field(
        None, description="an integration's idempotency key for the request that started it"
    )
    created_by: str | None = Field(
        None,
        description="who created the document: 'gateway' (GATEWAY); a run without it (made from "
        "a message by an older release) is never started",
    )
    completion_published: bool = False
    trace_context: dict[str, str] | None = Field(
        None,
        description="W3C trace context (traceparent) of the request that created it, when traces"
        " are on: the messages of the run join that trace (cdds_shared.telemetry)",
    )
    announcement_claimed_at: datetime | None = None

    def document(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, mode="python")

    def request(self) -> RunRequested:
        """The ``RunRequested`` that starts this run: it repeats what the exporter checks
        against this document (``cdds_exporter.trust``)."""
        return RunRequested(
            correlation_id=self.id,
            occurred_at=self.requested_at,
            run_id=self.id,
            tenant=self.tenant,
            ucs_tenant_id=self.ucs_tenant_id,
            owner=self.owner,
            record_type=self.record_type,
            media_types=self.media_types,
            timeframe=self.timeframe,
            split_size_bytes=self.split_size_bytes,
        )


class MemberCount(_Doc):
    name: str
    records: int


class Artifact(_Doc):
    id: str = Field(alias="_id")
    run_id: str
    tenant: str
    owner: str
    record_type: RecordType
    partition: int
    part: int
    last_in_partition: bool
    name: str = Field(description="file name the user downloads")
    object_key: str
    size: int
    sha256: str
    members: list[MemberCount] = Field(description="records per ZIP member, in member order")
    seal: str
    certificate_sha256: str
    created_at: datetime
    expires_at: datetime
    status: Literal["available", "deleted"] = "available"
    announced: bool = Field(False, description="PartSealed was published")

    @property
    def records(self) -> dict[str, int]:
        """Records per member name (member names contain dots, which MongoDB keys may not)."""
        return {m.name: m.records for m in self.members}

    @property
    def main_records(self) -> int:
        """Records of the run's type, attachments not counted."""
        return self.members[0].records if self.members else 0

    def document(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, mode="python")


class Progress(BaseModel):
    records_exported: int = Field(description="records read from UCS and staged")
    records_sealed: int = Field(description="records in sealed artifacts")
    estimated_total: int
    bytes: int = Field(description="bytes of sealed artifacts")
    parts: int
    percent: float
    eta_seconds: float | None = Field(description="estimated time left, while running")
    last_activity_at: datetime | None
