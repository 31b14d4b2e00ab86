"""The last retention backstop (docs/retention.md §4): bucket lifecycle rules expiring what the
janitor missed, even when no janitor runs. Set idempotently by every janitor at start-up."""

from __future__ import annotations

import math

from cdds_shared.ports.objects import RETENTION_RULE_ID, ObjectStore
from cdds_shared.runs.lifecycle import ARTIFACT_PREFIX

__all__ = ["STAGING_DAYS", "STAGING_RULE_ID", "ensure_backstop", "lifecycle_days"]

STAGING_RULE_ID = "cdds-staging-backstop"
STAGING_DAYS = 1
"""Staged parts live seconds to minutes; a day-old one was left by a crash."""


def lifecycle_days(retention_seconds: int) -> int:
    """Days after which the bucket expires an artifact: one whole day after the retention (S3
    lifecycle rules count whole days from the object's creation)."""
    return math.ceil(retention_seconds / 86_400) + 1


async def ensure_backstop(
    objects: ObjectStore, retention_seconds: int, staging_prefix: str
) -> None:
    """Ensure the two rules (each replaced only when it differs; other rules untouched)."""
    days = lifecycle_days(retention_seconds)
    await objects.set_expiry_rule(ARTIFACT_PREFIX, days, rule_id=RETENTION_RULE_ID)
    await objects.set_expiry_rule(staging_prefix, STAGING_DAYS, rule_id=STAGING_RULE_ID)
