"""Expire one artifact (docs/retention.md §2): delete its object, mark it deleted, audit, announce.

Safe to repeat and safe with several janitors: the object delete is idempotent (S3 deletes a
missing key happily), the mark is conditional on ``available`` so exactly one caller wins, and only
the winner audits (insert-once by a deterministic id) and publishes ``ArtifactExpired``. A janitor
that dies between the mark and the announcement leaves ``expiry_announced`` false; whoever finds
such an artifact after ``EXPIRY_LEASE`` (a redelivered ``ArtifactDue``, any sweep) finishes it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from cdds_shared.audit import AuditEvent, AuditLog
from cdds_shared.errors import ConflictError
from cdds_shared.logging import get_logger
from cdds_shared.messaging.messages import ArtifactDue, ArtifactExpired
from cdds_shared.ports.objects import ObjectStore
from cdds_shared.runs.lifecycle import Publish
from cdds_shared.runs.model import Artifact, utcnow
from cdds_shared.runs.store import RunStore

__all__ = [
    "EARLY_TOLERANCE",
    "EXPIRY_LEASE",
    "Expiry",
    "Outcome",
    "RetentionPorts",
    "Trigger",
    "audit_id",
    "expire_artifact",
    "expire_due",
    "finish_expiry",
]

log = get_logger("cdds.retention")

EXPIRY_LEASE = timedelta(seconds=60)
"""An expiry marked this long ago and still unannounced was abandoned by a dead janitor."""
EARLY_TOLERANCE = timedelta(seconds=5)
"""A timer this close to due (clock skew between hosts) waits for it; an earlier one (the
artifact's ``expires_at`` moved) is left to the sweep."""

Trigger = Literal["event", "sweep"]
Outcome = Literal["expired", "finished", "lost", "not_due", "already_deleted", "unknown"]


@dataclass(frozen=True)
class Expiry:
    """What one attempt did. ``lag_seconds`` (deletion - ``expires_at``) when it deleted."""

    artifact_id: str
    outcome: Outcome
    trigger: Trigger
    lag_seconds: float | None = None

    @property
    def deleted(self) -> bool:
        return self.outcome in ("expired", "finished")


@dataclass
class RetentionPorts:
    runs: RunStore
    objects: ObjectStore
    audit: AuditLog
    publish: Publish
    clock: Callable[[], datetime] = field(default=utcnow)


def audit_id(artifact_id: str) -> str:
    """The expiry's audit event id: one per artifact, whoever writes it and however often."""
    return f"artifact.expire:{artifact_id}"


async def expire_due(ports: RetentionPorts, message: ArtifactDue) -> Expiry:
    """Handle a retention timer. The recorded artifact is the truth, not the message: its
    ``object_key`` is deleted, never one a message names."""
    aid = message.artifact_id
    artifact = await ports.runs.find_artifact(aid)
    if artifact is None:
        log.warning("retention timer of an unknown artifact ignored", artifact_id=aid)
        return Expiry(aid, "unknown", "event")
    if artifact.status != "available":
        cutoff = ports.clock() - EXPIRY_LEASE
        abandoned = await ports.runs.unannounced_expiries(cutoff, 1, artifact_id=aid)
        if abandoned:
            return await finish_expiry(ports, *abandoned[0], "event")
        return Expiry(aid, "already_deleted", "event")
    early = artifact.expires_at - ports.clock()
    if early > EARLY_TOLERANCE:
        log.info(
            "retention timer arrived before the artifact is due; the sweep deletes it when due",
            artifact_id=aid,
            run_id=artifact.run_id,
            expires_at=artifact.expires_at.isoformat(),
        )
        return Expiry(aid, "not_due", "event")
    if early > timedelta(0):
        await asyncio.sleep(early.total_seconds())
    return await expire_artifact(ports, artifact, "event")


async def expire_artifact(ports: RetentionPorts, artifact: Artifact, trigger: Trigger) -> Expiry:
    """Delete a due artifact's object, then mark it deleted; the winner of the mark audits and
    announces. Raises ``DependencyUnavailable`` (transient) when MinIO or MongoDB is down."""
    await ports.objects.delete(artifact.object_key)
    deleted_at = ports.clock()
    if await ports.runs.mark_artifact_deleted(artifact.id, deleted_at) is None:
        return Expiry(artifact.id, "lost", trigger)  # another janitor, or its owner, was first
    expiry = await _announce(ports, artifact, deleted_at, trigger)
    log.info(
        "artifact expired",
        artifact_id=artifact.id,
        run_id=artifact.run_id,
        trigger=trigger,
        lag_seconds=expiry.lag_seconds,
    )
    return expiry


async def finish_expiry(
    ports: RetentionPorts, artifact: Artifact, deleted_at: datetime, trigger: Trigger
) -> Expiry:
    """Complete an expiry a dead janitor marked but did not announce (the object too: a deleted
    artifact's object must be gone, and deleting it again costs nothing)."""
    await ports.objects.delete(artifact.object_key)
    expiry = await _announce(ports, artifact, deleted_at, trigger, outcome="finished")
    log.info("abandoned expiry finished", artifact_id=artifact.id, run_id=artifact.run_id)
    return expiry


async def _announce(
    ports: RetentionPorts,
    artifact: Artifact,
    deleted_at: datetime,
    trigger: Trigger,
    outcome: Outcome = "expired",
) -> Expiry:
    lag = max(0.0, (deleted_at - artifact.expires_at).total_seconds())
    event = AuditEvent(
        id=audit_id(artifact.id),
        at=deleted_at,
        tenant=artifact.tenant,
        actor="janitor",
        action="artifact.expire",
        target=artifact.id,
        detail={
            "run_id": artifact.run_id,
            "owner": artifact.owner,
            "name": artifact.name,
            "size": artifact.size,
            "expires_at": artifact.expires_at.isoformat(),
            "deleted_at": deleted_at.isoformat(),
            "lag_seconds": round(lag, 3),
            "trigger": trigger,
        },
    )
    with contextlib.suppress(ConflictError):  # an earlier attempt recorded it, then died
        await ports.audit.record(event)
    await ports.publish(
        ArtifactExpired(
            correlation_id=artifact.run_id,
            artifact_id=artifact.id,
            run_id=artifact.run_id,
            deleted_at=deleted_at,
        )
    )
    await ports.runs.mark_expiry_announced(artifact.id)
    return Expiry(artifact.id, outcome, trigger, lag)
