"""Internal runs, artifacts and events translated into the public events (docs/integration.md).

Pure functions: whoever announces on ``cdds.integration.events`` builds the event here, so no
internal field (staging keys, wrapped keys, object keys, partitions) can leak into the contract.
Each event's ``message_id`` is derived from what it announces, so an announcement sent again (a
repeated request, a watchdog's re-send) carries the same id and integrators can deduplicate on it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Literal
from urllib.parse import quote

from cdds_shared.messaging.messages import ArtifactExpired, RunFailed
from cdds_shared.messaging.public import (
    PublicArtifactExpired,
    PublicEvent,
    PublicFile,
    PublicRunAccepted,
    PublicRunCompleted,
    PublicRunFailed,
)
from cdds_shared.runs.model import Artifact, Run, utcnow

__all__ = [
    "content_url",
    "public_artifact_expired",
    "public_message_id",
    "public_run_accepted",
    "public_run_completed",
    "public_run_failed",
]

_NAMESPACE = uuid.UUID("6b1d1f0e-8f43-5a8e-9c1e-5d0c2a7f4e11")


def public_message_id(event: type[PublicEvent], subject: str) -> uuid.UUID:
    """The same event about the same run or file always has the same id."""
    return uuid.uuid5(_NAMESPACE, f"{event.EVENT}:{subject}")


def content_url(gateway_url: str, artifact_id: str) -> str:
    """The download route (``GET /api/v1/artifacts/{id}/content``) under the gateway's public
    base URL (``CDDS_GATEWAY__URL``)."""
    return f"{gateway_url.rstrip('/')}/api/v1/artifacts/{quote(artifact_id, safe='')}/content"


def public_run_accepted(run: Run, request_id: str) -> PublicRunAccepted:
    return PublicRunAccepted(
        message_id=public_message_id(PublicRunAccepted, run.id),
        occurred_at=run.requested_at,
        tenant=run.tenant,
        request_id=request_id,
        run_id=run.id,
    )


def _file(artifact: Artifact, gateway_url: str) -> PublicFile:
    return PublicFile(
        id=artifact.id,
        name=artifact.name,
        size=artifact.size,
        sha256=artifact.sha256,
        records=artifact.records,
        content_url=content_url(gateway_url, artifact.id),
        expires_at=artifact.expires_at,
    )


def public_run_completed(
    run: Run, artifacts: Iterable[Artifact], *, gateway_url: str, request_id: str | None
) -> PublicRunCompleted:
    """Every available file of a finished run, in part order; a deleted one is left out (its
    download would answer 410)."""
    if run.status not in ("completed", "no_data"):
        raise ValueError(f"run {run.id} is {run.status}, not completed")
    status: Literal["completed", "no_data"] = (
        "completed" if run.status == "completed" else "no_data"
    )
    mine = [a for a in artifacts if a.run_id == run.id and a.status == "available"]
    mine.sort(key=lambda a: (a.partition, a.part))
    return PublicRunCompleted(
        message_id=public_message_id(PublicRunCompleted, run.id),
        occurred_at=run.finished_at or utcnow(),
        tenant=run.tenant,
        run_id=run.id,
        request_id=request_id,
        status=status,
        files=[_file(a, gateway_url) for a in mine],
    )


def public_run_failed(event: RunFailed, *, tenant: str, request_id: str | None) -> PublicRunFailed:
    return PublicRunFailed(
        message_id=public_message_id(PublicRunFailed, event.run_id),
        occurred_at=event.occurred_at,
        tenant=tenant,
        run_id=event.run_id,
        request_id=request_id,
        reason=event.reason,
    )


def public_artifact_expired(event: ArtifactExpired, *, tenant: str) -> PublicArtifactExpired:
    return PublicArtifactExpired(
        message_id=public_message_id(PublicArtifactExpired, event.artifact_id),
        occurred_at=event.occurred_at,
        tenant=tenant,
        artifact_id=event.artifact_id,
        run_id=event.run_id,
        expired_at=event.deleted_at,
    )
