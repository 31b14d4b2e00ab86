"""Retention — the 30-day promise: timers, expiry, sweep and backstop.

See ``docs/retention.md`` for the guarantee, its bound and how to operate it.
"""

from cdds_shared.retention.backstop import (
    STAGING_DAYS,
    STAGING_RULE_ID,
    ensure_backstop,
    lifecycle_days,
)
from cdds_shared.retention.expiry import (
    EARLY_TOLERANCE,
    EXPIRY_LEASE,
    Expiry,
    Outcome,
    RetentionPorts,
    Trigger,
    audit_id,
    expire_artifact,
    expire_due,
    finish_expiry,
)
from cdds_shared.retention.sweep import (
    ORPHAN_GRACE,
    SWEEP_BATCH,
    SweepReport,
    remove_orphans,
    sweep,
)
from cdds_shared.retention.timer import ExpiryTimer, HoldQueueRefused

__all__ = [
    "EARLY_TOLERANCE",
    "EXPIRY_LEASE",
    "ORPHAN_GRACE",
    "STAGING_DAYS",
    "STAGING_RULE_ID",
    "SWEEP_BATCH",
    "Expiry",
    "ExpiryTimer",
    "HoldQueueRefused",
    "Outcome",
    "RetentionPorts",
    "SweepReport",
    "Trigger",
    "audit_id",
    "ensure_backstop",
    "expire_artifact",
    "expire_due",
    "finish_expiry",
    "lifecycle_days",
    "remove_orphans",
    "sweep",
]
