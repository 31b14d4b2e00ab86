"""The messages CDDS services exchange over RabbitMQ: versioned, typed, described.

Commands are imperative, events past tense (docs/pipeline.md §10). Each has ``schema_version``, a
``message_id`` (idempotency key), a ``correlation_id`` (the run id) and ``occurred_at``. The
routing key of each type is its ``ROUTING_KEY``; the AsyncAPI document is generated from these.
A snapshot test of every JSON schema catches contract drift (tests/shared/messaging).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ALL_MESSAGES",
    "ArtifactDue",
    "ArtifactExpired",
    "ExportPartition",
    "Message",
    "PartSealed",
    "PartStaged",
    "RecordType",
    "RunCompleted",
    "RunFailed",
    "RunRequested",
    "Timeframe",
]

RecordType = Literal["interaction", "contact"]


def _now() -> datetime:
    return datetime.now(UTC)


class Message(BaseModel):
    """Envelope fields every message has."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    ROUTING_KEY: ClassVar[str]
    WORK_ITEM: ClassVar[bool] = False
    """Work items must reach a queue (published ``mandatory``); notifications may have no
    subscriber."""

    schema_version: int = Field(1, description="version of this message's schema")
    message_id: uuid.UUID = Field(default_factory=uuid.uuid4, description="unique per message")
    correlation_id: str = Field(description="the run id this message belongs to")
    occurred_at: datetime = Field(default_factory=_now, description="when it was sent (UTC)")


class Timeframe(BaseModel):
    model_config = ConfigDict(frozen=True)
    start: datetime | None = Field(None, description="inclusive; none = from the beginning")
    end: datetime | None = Field(None, description="exclusive; none = up to now")


class RunRequested(Message):
    """Start an export run (published by the gateway or an integrating system)."""

    ROUTING_KEY: ClassVar[str] = "run.requested"
    WORK_ITEM: ClassVar[bool] = True
    run_id: str = Field(description="id of the run document in MongoDB")
    tenant: str = Field(description="CDDS tenant name")
    ucs_tenant_id: int = Field(description="tenant id in the UCS database")
    owner: str = Field(description="user id whose certificate seals the files")
    record_type: RecordType = Field(description="interaction or contact history")
    media_types: list[str] | None = Field(None, description="none = all media types")
    timeframe: Timeframe = Field(default_factory=Timeframe, description="records to export")
    split_size_bytes: int = Field(1 << 30, gt=0, description="maximum size of one part")


class ExportPartition(Message):
    """Export one planned partition of a run (the exporter fans a run out to its replicas)."""

    ROUTING_KEY: ClassVar[str] = "partition.export"
    WORK_ITEM: ClassVar[bool] = True
    run_id: str
    partition: int = Field(ge=0, description="index into the run's plan")


class PartStaged(Message):
    """A compressed part is in the staging prefix, encrypted for transit (claim check)."""

    ROUTING_KEY: ClassVar[str] = "part.staged"
    WORK_ITEM: ClassVar[bool] = True
    run_id: str
    partition: int = Field(ge=0, description="partition index within the run")
    part: int = Field(ge=0, description="part index within the partition")
    staging_key: str = Field(description="object key of the transit-encrypted part")
    size: int = Field(ge=0, description="bytes of the staged object")
    sha256: str = Field(description="hex SHA-256 of the staged object")
    wrapped_key: str = Field(description="base64 data key wrapped by the transit key")
    records: dict[str, int] = Field(description="record count per member")
    last_in_partition: bool = Field(description="no more parts follow in this partition")


class PartSealed(Message):
    """A part is sealed for its owner and stored as an artifact."""

    ROUTING_KEY: ClassVar[str] = "part.sealed"
    run_id: str
    artifact_id: str
    object_key: str
    size: int = Field(ge=0)
    sha256: str = Field(description="hex SHA-256 of the sealed file")
    expires_at: datetime


class RunCompleted(Message):
    """Every part of a run is sealed (or the run had no data)."""

    ROUTING_KEY: ClassVar[str] = "run.completed"
    run_id: str
    status: Literal["completed", "no_data"]
    artifact_ids: list[str] = Field(default_factory=list)


class RunFailed(Message):
    ROUTING_KEY: ClassVar[str] = "run.failed"
    run_id: str
    reason: str = Field(description="why, for the user and the operator")


class ArtifactDue(Message):
    """Retention timer: leaves the hold queue when the artifact expires (docs/retention.md)."""

    ROUTING_KEY: ClassVar[str] = "artifact.due"
    WORK_ITEM: ClassVar[bool] = True
    artifact_id: str
    object_key: str
    expires_at: datetime


class ArtifactExpired(Message):
    ROUTING_KEY: ClassVar[str] = "artifact.expired"
    artifact_id: str
    run_id: str
    deleted_at: datetime


ALL_MESSAGES: tuple[type[Message], ...] = (
    RunRequested,
    ExportPartition,
    PartStaged,
    PartSealed,
    RunCompleted,
    RunFailed,
    ArtifactDue,
    ArtifactExpired,
)
