"""The hard cap on a user's backlog (docs/pipeline.md, "Fair share").

Runs beyond a user's or tenant's concurrent limit are accepted and wait ``queued`` for their
turn (the exporter's dispatch), so neither a scheduled occurrence nor an integration's request is
lost. Only beyond ``CDDS_EXPORT__MAX_QUEUED_RUNS_PER_USER`` queued runs is a new start refused:
429 ``too_many_runs`` with ``Retry-After``. The scheduler is exempt: it starts at most one run per
job and occurrence, and an occurrence refused would be lost.
"""

from __future__ import annotations

from datetime import timedelta

from cdds_gateway.deps import GatewayDeps
from cdds_gateway.usecases.audit import SCHEDULER
from cdds_shared.errors import TooManyRuns
from cdds_shared.runs.model import Run, utcnow

__all__ = ["RETRY_AFTER_SECONDS", "check_backlog", "too_many_runs"]

RETRY_AFTER_SECONDS = 60
"""A guess, not a promise: about the time a queued run waits for a slot to free."""


def too_many_runs(queued: int) -> TooManyRuns:
    return TooManyRuns(
        f"{queued} of your runs are already waiting to start; try again once some have run",
        retry_at=utcnow() + timedelta(seconds=RETRY_AFTER_SECONDS),
    )


async def check_backlog(deps: GatewayDeps, run: Run, actor: str | None) -> None:
    """``TooManyRuns`` (429) when the run's owner already has the maximum of queued runs."""
    if actor == SCHEDULER:
        return
    cap = deps.settings.export.max_queued_runs_per_user
    queued = await deps.runs.queued_count(run.tenant, run.owner)
    if queued >= cap:
        raise too_many_runs(queued)
