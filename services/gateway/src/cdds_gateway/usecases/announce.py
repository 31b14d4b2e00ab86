"""What the integrations hear of every run (docs/integration.md, "Events"): the internal
``RunCompleted``, ``RunFailed`` and ``ArtifactExpired`` translated into the public events of the
run's tenant — for runs from the web, the API, a schedule or an integration alike.

Pure of the broker: the subscriber (``cdds_gateway/announcer.py``) publishes what this returns.
Nothing is announced of a run or file whose document is gone (deleted by its user): there is no
tenant to tell and nothing left to download. At least once: a redelivered internal event gives the
same public event with the same ``message_id`` (``runs/public_events.py``), which integrators
deduplicate on.
"""

from __future__ import annotations

from cdds_shared.errors import NotFoundError
from cdds_shared.messaging.messages import ArtifactExpired, RunCompleted, RunFailed
from cdds_shared.messaging.public import PublicEvent
from cdds_shared.runs.model import Run
from cdds_shared.runs.public_events import (
    public_artifact_expired,
    public_run_completed,
    public_run_failed,
)
from cdds_shared.runs.store import RunStore

__all__ = ["public_event_of"]


async def _run(runs: RunStore, run_id: str) -> Run | None:
    try:
        return await runs.get(run_id)
    except NotFoundError:
        return None


async def public_event_of(
    runs: RunStore, event: RunCompleted | RunFailed | ArtifactExpired, *, gateway_url: str
) -> PublicEvent | None:
    """The public event announcing ``event``, or ``None`` when there is nobody to tell."""
    if isinstance(event, ArtifactExpired):
        artifact = await runs.find_artifact(event.artifact_id)
        return None if artifact is None else public_artifact_expired(event, tenant=artifact.tenant)
    run = await _run(runs, event.run_id)
    if run is None:
        return None
    # The run document, not the message, says how the run ended (a stale event is not announced).
    if isinstance(event, RunFailed):
        if run.status != "failed":
            return None
        return public_run_failed(event, tenant=run.tenant, request_id=run.request_id)
    if run.status not in ("completed", "no_data"):
        return None
    artifacts = await runs.artifacts(run.id)
    return public_run_completed(run, artifacts, gateway_url=gateway_url, request_id=run.request_id)
