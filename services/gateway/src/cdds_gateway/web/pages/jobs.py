"""Jobs (docs/web.md § Jobs): the list with each job's latest run, the job form (new, edit), and
a job's actions (run now, clone, delete). A refused form comes back with its fields and the
reason (422); a refused action goes back to the list with it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cdds_gateway.deps import Deps, GatewayDeps
from cdds_gateway.errors import ApiError
from cdds_gateway.principal import Principal
from cdds_gateway.security import client_address
from cdds_gateway.usecases import jobs as job_cases
from cdds_gateway.web.access import back_with, exporter
from cdds_gateway.web.formatting import job_row, live, refusal
from cdds_gateway.web.forms import (
    MEDIA,
    NEW_JOB,
    Text,
    csrf,
    job_form_data,
    job_form_values,
    read_form,
)
from cdds_gateway.web.render import page, redirect
from cdds_shared.errors import CddsError, NotFoundError

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


def _saved(title: str, *, started: bool) -> Response:
    if started:
        return redirect("/history", flash=("ok", f"Job “{title}” saved and started."))
    return redirect("/jobs", flash=("ok", f"Job “{title}” saved."))


def _job_form(
    request: Request,
    principal: Principal,
    form: dict[str, Any],
    job_id: str | None,
    **extra: Any,
) -> Response:
    """The job form (``job_id`` None: a new job), with ``extra`` context (a refusal)."""
    return page(
        request,
        "job_form.html",
        principal,
        form=form,
        media_choices=MEDIA,
        job_id=job_id,
        **extra,
    )


def _refused(
    request: Request, principal: Principal, form: dict[str, Any], job_id: str | None, exc: Exception
) -> Response:
    """The form again, as it was sent, with the reason."""
    return _job_form(request, principal, form, job_id, error=refusal(exc), status_code=422)


@router.get("/jobs")
async def jobs_page(request: Request, deps: Deps) -> Response:
    principal = await exporter(request)
    listed = await job_cases.list_jobs(deps, principal)
    rows = [job_row(job) for job in listed.items]
    every = live([r["latest_run"] for r in rows])
    return page(request, "jobs.html", principal, jobs=rows, live=every)


@router.get("/jobs/new")
async def new_job_page(request: Request) -> Response:
    principal = await exporter(request)
    return _job_form(request, principal, dict(NEW_JOB), None)


@router.post("/jobs/new")
async def create_job(request: Request, deps: Deps) -> Response:
    principal = await exporter(request)
    form = await read_form(request)
    csrf(request, principal, form.get("csrf_token"))
    data = job_form_data(form)
    try:
        body = job_cases.JobCreate.model_validate({**data, "run_now": form.get("run") == "now"})
        job = await job_cases.create_job(deps, principal, body, client=client_address(request))
    except (CddsError, ValueError) as exc:
        return _refused(request, principal, form, None, exc)
    return _saved(job.title, started=bool(job.run_id))


@router.get("/jobs/{job_id}")
async def edit_job_page(request: Request, deps: Deps, job_id: str) -> Response:
    principal = await exporter(request)
    job = await job_cases.get_job(deps, principal, job_id)
    return _job_form(request, principal, job_form_values(job), job.id)


@router.post("/jobs/{job_id}")
async def update_job(request: Request, deps: Deps, job_id: str) -> Response:
    principal = await exporter(request)
    form = await read_form(request)
    csrf(request, principal, form.get("csrf_token"))
    try:
        return await _update(deps, principal, job_id, form, client_address(request))
    except NotFoundError:
        raise
    except (CddsError, ValueError) as exc:
        return _refused(request, principal, form, job_id, exc)


async def _update(
    deps: GatewayDeps, principal: Principal, job_id: str, form: dict[str, Any], client: str | None
) -> Response:
    """Save the form's fields on the job; "run now" starts it too."""
    patch = job_cases.JobPatch.model_validate(job_form_data(form))
    job = await job_cases.update_job(deps, principal, job_id, patch, client=client)
    started = form.get("run") == "now"
    if started:
        await job_cases.run_job(deps, principal, job.id, client=client)
    return _saved(job.title, started=started)


async def _run(
    deps: GatewayDeps, principal: Principal, job_id: str, client: str | None
) -> Response:
    await job_cases.run_job(deps, principal, job_id, client=client)
    return redirect("/history", flash=("ok", "Export started."))


async def _clone(
    deps: GatewayDeps, principal: Principal, job_id: str, client: str | None
) -> Response:
    clone = await job_cases.clone_job(deps, principal, job_id, client=client)
    return redirect(f"/jobs/{clone.id}", flash=("ok", "Job cloned: adjust and save."))


async def _delete(
    deps: GatewayDeps, principal: Principal, job_id: str, client: str | None
) -> Response:
    await job_cases.delete_job(deps, principal, job_id, client=client)
    return redirect("/jobs", flash=("ok", "Job deleted."))


JobAction = Callable[[GatewayDeps, Principal, str, str | None], Awaitable[Response]]
JOB_ACTIONS: dict[str, JobAction] = {"run": _run, "clone": _clone, "delete": _delete}


@router.post("/jobs/{job_id}/{action}")
async def job_action(
    request: Request, deps: Deps, job_id: str, action: str, csrf_token: Text = ""
) -> Response:
    principal = await exporter(request)
    csrf(request, principal, csrf_token)
    act = JOB_ACTIONS.get(action)
    if act is None:
        raise ApiError(404, "not_found", f"no action {action}")
    try:
        return await act(deps, principal, job_id, client_address(request))
    except CddsError as exc:
        return back_with(exc, "/jobs")
