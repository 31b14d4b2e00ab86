"""The public integration contract (v1): what other contact-centre systems exchange with CDDS.

Separate from the internal messages (``messages.py``) on purpose: integrators code against these,
so they change only with a new ``schema_version``, and they never carry an internal field
(staging keys, wrapped data keys, partitions). The class names carry a ``Public`` prefix so they
cannot be mistaken for the internal ``RunCompleted``, ``RunFailed`` and ``ArtifactExpired``; the
JSON (schema titles, field names) uses the contract's own names. Integrators publish
``RequestRun`` to ``cdds.integration.requests`` and read the events from
``cdds.integration.events`` (docs/integration.md). The AsyncAPI document
(docs/asyncapi-integration.yaml) and the JSON Schemas (docs/schemas/integration/) are generated
from these models.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import ClassVar, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from cdds_shared.messaging.messages import RecordType

__all__ = [
    "ALL_PUBLIC_EVENTS",
    "ALL_PUBLIC_MESSAGES",
    "EVENTS_EXCHANGE",
    "MAX_SPLIT_SIZE_BYTES",
    "MEDIA_NAME",
    "MIN_SPLIT_SIZE_BYTES",
    "REQUESTS_EXCHANGE",
    "REQUEST_ID",
    "REQUEST_SUFFIX",
    "PublicArtifactExpired",
    "PublicEvent",
    "PublicFile",
    "PublicRequestRun",
    "PublicRunAccepted",
    "PublicRunCompleted",
    "PublicRunFailed",
    "PublicRunRejected",
    "PublicTimeframe",
    "RejectionCode",
    "events_queue_prefix",
]

REQUESTS_EXCHANGE = "cdds.integration.requests"
"""Topic exchange integrators publish ``RequestRun`` to, routing key ``TENANT.run.request``."""
EVENTS_EXCHANGE = "cdds.integration.events"
"""Topic exchange of the public events, routing keys ``TENANT.<event>``."""
REQUEST_SUFFIX = "run.request"

# The same bounds as a job's (cdds_gateway.jobs_model): a request is launched like a job's run.
MIN_SPLIT_SIZE_BYTES = 1 << 20
MAX_SPLIT_SIZE_BYTES = 1 << 40
MEDIA_NAME = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$"
REQUEST_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
"""A client's idempotency key: a UUID, a ticket number … (it travels in logs and audit events)."""

RejectionCode = Literal[
    "malformed",
    "unsupported_schema_version",
    "invalid",
    "tenant_mismatch",
    "certificate_required",
    "not_permitted",
]


def events_queue_prefix(tenant: str, name: str) -> str:
    """The names an integration may declare and consume: ``cdds.int.TENANT.NAME.*``."""
    return f"cdds.int.{tenant}.{name}."


def _now() -> datetime:
    return datetime.now(UTC)


class PublicTimeframe(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, title="Timeframe")

    start: AwareDatetime | None = Field(
        None, description="inclusive, ISO 8601 with a time zone; null = from the beginning"
    )
    end: AwareDatetime | None = Field(
        None, description="exclusive, ISO 8601 with a time zone; null = up to the run's start"
    )

    @field_validator("end")
    @classmethod
    def _after_start(cls, end: datetime | None, info: ValidationInfo) -> datetime | None:
        start = info.data.get("start")
        if end is not None and start is not None and end <= start:
            raise ValueError("must be after timeframe.start")
        return end


class PublicRequestRun(BaseModel):
    """Start an export run for the publishing integration (it owns the run; its files are sealed
    to its certificate). The same ``request_id`` again is the same run."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, title="RequestRun")
    SCHEMA_VERSION: ClassVar[int] = 1

    schema_version: Literal[1] = Field(description="version of this message's schema: 1")
    request_id: str = Field(
        pattern=REQUEST_ID,
        description="the client's idempotency key: 1-128 of A-Z a-z 0-9 . _ : - (starts with a "
        "letter or digit); the same key again answers the same run",
    )
    tenant: str = Field(min_length=1, description="the integration's own tenant")
    record_type: RecordType = Field(description="interaction or contact records")
    media_types: list[str] | None = Field(
        None,
        min_length=1,
        max_length=50,
        description="interactions of these media types only (voice, chat, email …); null = all",
        json_schema_extra={"items": {"type": "string", "pattern": MEDIA_NAME}},
    )
    timeframe: PublicTimeframe = Field(
        default_factory=PublicTimeframe, description="which records: by their time"
    )
    split_size_bytes: int | None = Field(
        None,
        ge=MIN_SPLIT_SIZE_BYTES,
        le=MAX_SPLIT_SIZE_BYTES,
        description="largest sealed file (min 1 MiB); null = 1 GiB",
    )
    title: str | None = Field(
        None, min_length=1, max_length=200, description="shown in the run history; null = none"
    )

    @property
    def routing_key(self) -> str:
        return f"{self.tenant}.{REQUEST_SUFFIX}"

    @field_validator("media_types")
    @classmethod
    def _media(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        if value is None:
            return None
        if info.data.get("record_type") != "interaction":
            raise ValueError("media_types apply to interaction exports only")
        if any(not re.fullmatch(MEDIA_NAME, v) for v in value):
            raise ValueError("media types are names like voice, chat, email (letters, digits, -_)")
        return value

    @field_validator("title")
    @classmethod
    def _title(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("title must not be blank")
        return value


class PublicEvent(BaseModel):
    """Envelope fields every public event has; its routing key is ``TENANT.<EVENT>``."""

    # Readers ignore fields they do not know: a field may be added within a schema version.
    model_config = ConfigDict(frozen=True, extra="ignore")
    EVENT: ClassVar[str]

    schema_version: Literal[1] = Field(1, description="version of this message's schema: 1")
    message_id: uuid.UUID = Field(
        default_factory=uuid.uuid4,
        description="unique per event; a re-sent announcement keeps its id (deduplicate on it)",
    )
    occurred_at: datetime = Field(default_factory=_now, description="when it happened (UTC)")
    tenant: str = Field(description="the tenant the event belongs to")

    @property
    def routing_key(self) -> str:
        return f"{self.tenant}.{self.EVENT}"


class PublicRunAccepted(PublicEvent):
    """A ``RequestRun`` was accepted: the run exists (sent again for a repeated request)."""

    model_config = ConfigDict(title="RunAccepted")
    EVENT: ClassVar[str] = "run.accepted"
    request_id: str = Field(description="the request's idempotency key")
    run_id: str = Field(description="the run: GET /api/v1/runs/{run_id}")


class PublicRunRejected(PublicEvent):
    """A ``RequestRun`` was refused and nothing runs; the message is dead-lettered."""

    model_config = ConfigDict(title="RunRejected")
    EVENT: ClassVar[str] = "run.rejected"
    request_id: str | None = Field(description="the request's key; null when it was unreadable")
    code: RejectionCode = Field(description="what to fix, for a program")
    reason: str = Field(
        description="``<code>: <detail>`` for a person, e.g. "
        "``invalid: timeframe.end: must be after timeframe.start``"
    )


class PublicFile(BaseModel):
    """One sealed file of a run."""

    model_config = ConfigDict(frozen=True, extra="forbid", title="File")
    id: str = Field(description="artifact id")
    name: str = Field(description="file name, <Type>-<runId>-<ppp>-<kkk>.zip.p7m")
    size: int = Field(ge=0, description="bytes of the sealed file")
    sha256: str = Field(description="hex SHA-256 of the sealed file: verify after download")
    records: dict[str, int] = Field(description="records per ZIP member name")
    content_url: str = Field(description="GET with the REST token (Authorization: Bearer)")
    expires_at: datetime = Field(description="download before: the file is deleted then")


class PublicRunCompleted(PublicEvent):
    """A run ended with every file sealed (``completed``) or with nothing to export
    (``no_data``, no files)."""

    model_config = ConfigDict(title="RunCompleted")
    EVENT: ClassVar[str] = "run.completed"
    run_id: str
    request_id: str | None = Field(description="the request's key; null for web or API runs")
    status: Literal["completed", "no_data"]
    files: list[PublicFile] = Field(description="every file of the run")


class PublicRunFailed(PublicEvent):
    """A run ended without its files (nothing of it can be downloaded)."""

    model_config = ConfigDict(title="RunFailed")
    EVENT: ClassVar[str] = "run.failed"
    run_id: str
    request_id: str | None = Field(description="the request's key; null for web or API runs")
    reason: str = Field(description="why, for a person")


class PublicArtifactExpired(PublicEvent):
    """A file reached the end of its retention and was deleted."""

    model_config = ConfigDict(title="ArtifactExpired")
    EVENT: ClassVar[str] = "artifact.expired"
    artifact_id: str
    run_id: str
    expired_at: datetime = Field(description="when it was deleted")


ALL_PUBLIC_EVENTS: tuple[type[PublicEvent], ...] = (
    PublicRunAccepted,
    PublicRunRejected,
    PublicRunCompleted,
    PublicRunFailed,
    PublicArtifactExpired,
)
ALL_PUBLIC_MESSAGES: tuple[type[BaseModel], ...] = (PublicRequestRun, *ALL_PUBLIC_EVENTS)
