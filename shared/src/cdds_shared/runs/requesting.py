"""Requesting a run: the run document first, then its ``RunRequested`` (docs/pipeline.md §1).

The exporter works only for a run document the gateway created whose fields the message repeats
(``cdds_exporter.trust``), so whoever starts a run — the gateway's use case, and the tests and
the benchmark that stand in for it — does it here: insert the run marked ``created_by="gateway"``,
publish the request with a publisher confirm, and remove the run again if RabbitMQ does not
confirm, so that nothing half-created remains.
"""

from __future__ import annotations

import asyncio

from cdds_shared.runs.lifecycle import Publish
from cdds_shared.runs.model import GATEWAY, Run
from cdds_shared.runs.store import RunStore
from cdds_shared.telemetry import trace_headers

__all__ = ["PUBLISH_TIMEOUT", "RequestNotConfirmed", "request_run"]

PUBLISH_TIMEOUT = 5.0
"""Seconds to wait for RabbitMQ's confirm before the start is called off."""


class RequestNotConfirmed(Exception):
    """RabbitMQ did not confirm the ``RunRequested``; the run document was removed again."""

    def __init__(self, run_id: str, cause: BaseException) -> None:
        self.run_id = run_id
        self.cause = cause
        super().__init__(f"run {run_id} not started: {type(cause).__name__}: {cause}")


async def request_run(
    runs: RunStore, publish: Publish, run: Run, *, timeout: float = PUBLISH_TIMEOUT
) -> Run:
    """Create ``run`` (``queued``) as the gateway and publish its ``RunRequested``.

    Raises ``ConflictError`` when a run of that id exists, ``RequestNotConfirmed`` when the
    publish failed or timed out (the run is gone again). A confirm lost after delivery, with an
    exporter already at work on the run, counts as started.
    """
    update = {"created_by": GATEWAY, "status": "queued", "trace_context": trace_headers()}
    run = run.model_copy(update=update)
    await runs.insert(run)
    try:
        await asyncio.wait_for(publish(run.request()), timeout)
    except Exception as exc:
        if await runs.delete_queued(run.id):
            raise RequestNotConfirmed(run.id, exc) from exc
    return run
