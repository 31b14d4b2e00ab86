"""Runs, their progress and artifacts (the run model)."""

from cdds_shared.runs.manifest import build_manifest
from cdds_shared.runs.model import (
    ACTIVE,
    FINISHED,
    Artifact,
    MemberCount,
    PartitionPlan,
    Plan,
    Progress,
    Run,
    RunStatus,
    artifact_id,
    entity_type,
    member_names,
    utcnow,
)
from cdds_shared.runs.store import Checkpoint, RunStore

__all__ = [
    "ACTIVE",
    "FINISHED",
    "Artifact",
    "Checkpoint",
    "MemberCount",
    "PartitionPlan",
    "Plan",
    "Progress",
    "Run",
    "RunStatus",
    "RunStore",
    "artifact_id",
    "build_manifest",
    "entity_type",
    "member_names",
    "utcnow",
]
