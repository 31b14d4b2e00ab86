"""A run's manifest: its parts with sizes, record counts and SHA-256 of each sealed file, so a
user can verify every download (docs/export-format.md; schema: docs/schemas/manifest.schema.json).
It never contains record contents."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from cdds_shared.runs.model import Artifact, Run

__all__ = ["MANIFEST_VERSION", "RECORD_SCHEMAS", "build_manifest"]

MANIFEST_VERSION = 1
RECORD_SCHEMAS = {
    "interaction": "cdds.interaction/1",
    "contact": "cdds.contact/1",
    "attachment": "cdds.attachment/1",
}


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def build_manifest(run: Run, artifacts: Sequence[Artifact]) -> dict[str, Any]:
    """The manifest of a finished run (``completed`` or ``no_data``), as JSON-ready data."""
    if run.status not in ("completed", "no_data"):
        raise ValueError(f"run {run.id} is {run.status}: a manifest describes a finished run")
    parts = [
        {
            "artifact_id": a.id,
            "name": a.name,
            "partition": a.partition,
            "part": a.part,
            "size": a.size,
            "sha256": a.sha256,
            "seal": a.seal,
            "records": a.records,
            "created_at": _iso(a.created_at),
            "expires_at": _iso(a.expires_at),
        }
        for a in sorted(artifacts, key=lambda a: (a.partition, a.part))
    ]
    timeframe = run.timeframe
    return {
        "manifest_version": MANIFEST_VERSION,
        "run_id": run.id,
        "tenant": run.tenant,
        "record_type": run.record_type,
        "status": run.status,
        "requested_at": _iso(run.requested_at),
        "completed_at": _iso(run.finished_at),
        "filters": {
            "media_types": run.media_types,
            # An open end means "up to when the run was planned": the data stops there.
            "timeframe": {
                "start": _iso(timeframe.start),
                "end": _iso(run.plan.end if run.plan else timeframe.end),
            },
        },
        "parts": parts,
        "totals": {
            "parts": len(parts),
            "records": sum(sum(a.records.values()) for a in artifacts),
            "bytes": sum(a.size for a in artifacts),
        },
        "schemas": RECORD_SCHEMAS,
    }
