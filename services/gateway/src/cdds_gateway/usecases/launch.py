"""Starting a run: refuse without a usable certificate, then ``request_run``: the run document
marked as the gateway's, ``RunRequested`` with publisher confirms — and if RabbitMQ does not
confirm, the run removed again, so that nothing half-created remains."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime

from cdds_gateway.deps import GatewayDeps
from cdds_gateway.errors import ApiError
from cdds_gateway.principal import Principal
from cdds_gateway.usecases.audit import record
from cdds_gateway.usecases.backlog import check_backlog
from cdds_gateway.usecases.errors import certificate_required, service_unavailable
from cdds_shared.audit import Outcome
from cdds_shared.certificates import CertificateUnusable, usable_certificate
from cdds_shared.logging import get_logger
from cdds_shared.runs.model import Run
from cdds_shared.runs.requesting import PUBLISH_TIMEOUT, RequestNotConfirmed, request_run

__all__ = ["PUBLISH_TIMEOUT", "check_certificate", "launch", "new_run_id", "occurrence_run_id"]

log = get_logger("cdds.gateway.runs")


def new_run_id() -> str:
    return uuid.uuid4().hex[:24]


def occurrence_run_id(job_id: str, due: datetime) -> str:
    """The id of a job's scheduled occurrence: deterministic, so a scheduler replica that
    retries an occurrence another one started cannot start it twice."""
    key = f"{job_id}@{due.isoformat()}".encode()
    return hashlib.blake2b(key, digest_size=12).hexdigest()


async def check_certificate(deps: GatewayDeps, owner: str, owner_name: str) -> None:
    """409 ``certificate_required`` unless ``owner`` has a certificate that can seal now."""
    try:
        await usable_certificate(deps.certificates, owner)
    except CertificateUnusable as exc:
        raise certificate_required(
            str(exc).replace(f"user {owner}", f"user {owner_name}")
        ) from None


async def launch(
    deps: GatewayDeps,
    principal: Principal,
    run: Run,
    *,
    owner_name: str,
    actor: str | None = None,
    client: str | None = None,
) -> Run:
    """Start ``run`` (status ``queued``) for its owner. Raises 409 ``certificate_required``, 429
    ``too_many_runs`` (``backlog.py``), 503 ``service_unavailable`` (nothing remains), or
    ``ConflictError`` when a run of that id exists (a scheduled occurrence already started)."""

    async def audit(outcome: Outcome = "success", **detail: str) -> None:
        await record(
            deps, principal, "run.start", run.id, outcome=outcome, actor=actor, client=client,
            job_id=run.job_id, owner=run.owner, **detail,
        )  # fmt: skip

    try:
        await check_certificate(deps, run.owner, owner_name)
        await check_backlog(deps, run, actor)  # 429 beyond the user's queued-run cap
    except ApiError as exc:
        await audit("failure", reason=exc.detail)
        raise
    try:
        run = await request_run(deps.runs, deps.publish, run, timeout=PUBLISH_TIMEOUT)
    except RequestNotConfirmed as exc:
        error = f"{type(exc.cause).__name__}: {exc.cause}"
        log.warning("run not started: RabbitMQ did not confirm", run_id=run.id, error=error)
        await audit("failure", reason=f"RabbitMQ did not confirm: {type(exc.cause).__name__}")
        raise service_unavailable() from None
    await audit()
    log.info("run requested", run_id=run.id, job_id=run.job_id, owner=run.owner)
    return run
