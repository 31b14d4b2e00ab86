"""The web pages users of the original service know (docs/web.md): two-step sign-in, Access Denied,
User preferences, Jobs, History, Artifacts. Server-rendered; every form post carries the CSRF
token; every action goes through the same use cases as the REST API."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response, StreamingResponse

from cdds_gateway.api.me import (
    certificate_details,
    read_upload,
    store_certificate,
    store_seal_mode,
)
from cdds_gateway.deps import Deps
from cdds_gateway.errors import ApiError
from cdds_gateway.principal import Principal
from cdds_gateway.security import (
    check_csrf,
    check_same_origin,
    clear_session_cookie,
    client_address,
    login_policy,
    presented_token,
    principal_or_none,
    retry_after,
    set_session_cookie,
)
from cdds_gateway.usecases import artifacts as artifact_cases
from cdds_gateway.usecases import jobs as job_cases
from cdds_gateway.usecases import runs as run_cases
from cdds_gateway.usecases.clones import RunClone, clone_run
from cdds_gateway.web.render import page, redirect
from cdds_shared.errors import CddsError, ValidationFailed
from cdds_shared.identity import (
    AccessDenied,
    AccountLocked,
    ClientThrottled,
    InvalidCredentials,
    SealMode,
    SignInAttempt,
    TenantRequired,
    sign_in,
    sign_out,
)

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
MEDIA = ("voice", "chat", "email", "sms", "callback", "workitem")
WRONG = "Wrong username, tenant or password."
AMBIGUOUS = "This username exists in several tenants: enter your tenant."
Text = Annotated[str, Form()]


class _Redirect(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


async def _exporter(request: Request) -> Principal:
    """The signed-in exporter, or a redirect to sign-in / the Access Denied page."""
    principal = await principal_or_none(request)
    if principal is None:
        raise _Redirect(redirect("/login"))
    if not principal.has("exporter"):
        raise _Redirect(redirect("/access-denied"))
    return principal


def _csrf(request: Request, principal: Principal, token: str | None) -> None:
    check_csrf(request, principal, form_token=token)


def _when(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min {secs} s"


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return str(n)


def _run_row(run: Any) -> dict[str, Any]:
    return {
        "id": run.id,
        "status": run.status,
        "type": run.type,
        "percent": run.progress.percent,
        "eta_text": _eta(run.progress.eta_seconds),
        "queue_position": run.queue_position,
        "error": run.error,
        "started_at": _when(run.started_at),
        "requested_at": _when(run.requested_at),
        "files": run.files,
        "job_title": run.job_title,
    }


def _active(rows: Sequence[dict[str, Any] | None]) -> bool:
    return any(r and r["status"] in ("queued", "running") for r in rows)


# -- sign-in ---------------------------------------------------------------------------------


@router.get("/")
async def home(request: Request) -> Response:
    principal = await principal_or_none(request)
    return redirect("/jobs" if principal else "/login")


@router.get("/login")
async def login_page(request: Request) -> Response:
    return page(request, "login.html", None, step="username")


@router.post("/login")
async def login(
    request: Request,
    deps: Deps,
    username: Text,
    step: Annotated[str, Form()] = "username",
    tenant: Annotated[str, Form()] = "",
    remember_me: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
) -> Response:
    check_same_origin(request, deps.settings)  # both steps: no session, so no CSRF token yet
    name, where = username.strip(), tenant.strip() or None
    remember = remember_me in ("on", "true", "1")
    ctx: dict[str, Any] = {"username": name, "tenant": where, "remember_me": remember}
    if step != "password":
        if await deps.identity.tenant_required(name, where):
            return page(
                request,
                "login.html",
                None,
                step="username",
                tenant_required=True,
                error=AMBIGUOUS,
                **ctx,
            )
        return page(request, "login.html", None, step="password", **ctx)
    presented = presented_token(request)
    attempt = SignInAttempt(
        username=name,
        password=password,
        tenant=where,
        remember_me=remember,
        client=client_address(request),
        replaces=presented[0] if presented else None,
    )
    policy = login_policy(deps.settings)
    try:
        token, _ = await sign_in(deps.identity, deps.audit, attempt, policy=policy)
    except InvalidCredentials:
        return page(
            request, "login.html", None, step="password", error=WRONG, status_code=401, **ctx
        )
    except TenantRequired:
        return page(
            request,
            "login.html",
            None,
            step="username",
            tenant_required=True,
            error=AMBIGUOUS,
            status_code=409,
            **ctx,
        )
    except AccessDenied:
        return page(request, "access_denied.html", None, username=ctx["username"], status_code=403)
    except (AccountLocked, ClientThrottled) as exc:
        refused = page(
            request, "login.html", None, step="password", error=str(exc), status_code=429, **ctx
        )
        refused.headers.update(retry_after(exc.until))
        return refused
    response = redirect("/jobs")
    max_age = int(policy.remember_me_lifetime.total_seconds()) if remember else None
    set_session_cookie(response, request, deps.settings, token, max_age=max_age)
    return response


@router.get("/access-denied")
async def access_denied(request: Request) -> Response:
    principal = await principal_or_none(request)
    name = principal.username if principal else None
    return page(request, "access_denied.html", None, username=name, status_code=403)


@router.post("/logout")
async def logout(request: Request, deps: Deps, csrf_token: Annotated[str, Form()] = "") -> Response:
    principal = await principal_or_none(request)
    response = redirect("/login")
    if principal is not None:
        _csrf(request, principal, csrf_token)
        await sign_out(
            deps.identity,
            deps.audit,
            session_id=principal.session_id,
            user_id=principal.user_id,
            username=principal.username,
            tenant=principal.tenant,
            client=client_address(request),
        )
    clear_session_cookie(response, request, deps.settings)
    return response


# -- preferences -----------------------------------------------------------------------------


@router.get("/preferences")
async def preferences(request: Request, deps: Deps) -> Response:
    principal = await _exporter(request)
    record = await deps.certificates.get(principal.user_id)
    details = certificate_details(record) if record else None
    view = None
    if details is not None:
        view = {**details.model_dump(), "not_after": _when(details.not_after)}
    return page(request, "preferences.html", principal, certificate=view)


@router.post("/preferences/seal-mode")
async def change_seal_mode(
    request: Request,
    deps: Deps,
    seal_mode: Annotated[str, Form()] = "gcm",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    principal = await _exporter(request)
    _csrf(request, principal, csrf_token)
    mode: SealMode = "legacy-cbc" if seal_mode == "legacy-cbc" else "gcm"
    await store_seal_mode(deps, principal, mode, client=client_address(request))
    return redirect("/preferences", flash=("ok", "Sealing preference saved."))


@router.post("/preferences/certificate")
async def upload_certificate(request: Request, deps: Deps) -> Response:
    principal = await _exporter(request)
    try:
        upload = await read_upload(request, deps.settings.gateway.certificate_max_bytes)
        _csrf(request, principal, upload.fields.get("csrf_token"))
        await store_certificate(deps, principal, upload.data, client=client_address(request))
    except ValidationFailed as exc:
        return redirect("/preferences", flash=("error", f"Certificate refused: {exc}"))
    return redirect("/preferences", flash=("ok", "Certificate saved."))


# -- jobs -----------------------------------------------------------------------------------


WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _schedule_text(job: Any) -> str:
    s = job.schedule
    texts: dict[str, str] = {
        "now": "On demand",
        "once": f"Once at {_when(s.at)}",
        "every_hours": f"Every {s.hours} h",
        "daily": f"Daily at {s.time} UTC",
        "weekly": f"Weekly ({WEEKDAYS[s.weekday or 0]}) at {s.time} UTC",
    }
    return texts.get(s.kind, str(s.kind))


@router.get("/jobs")
async def jobs_page(request: Request, deps: Deps) -> Response:
    principal = await _exporter(request)
    listed = await job_cases.list_jobs(deps, principal)
    rows: list[dict[str, Any]] = []
    for job in listed.items:
        rows.append(
            {
                "id": job.id,
                "title": job.title,
                "type": job.type,
                "enabled": job.enabled,
                "schedule_text": _schedule_text(job),
                "last_run_at": _when(job.last_run_at),
                "latest_run": _run_row(job.latest_run) if job.latest_run else None,
                "last_error": job.last_error,
            }
        )
    refresh = 3 if _active([r["latest_run"] for r in rows]) else None
    return page(request, "jobs.html", principal, jobs=rows, refresh=refresh)


def _job_form_data(form: dict[str, Any]) -> dict[str, Any]:
    """The JSON of ``JobCreate`` from the form's fields (what the REST API takes)."""
    run = form.get("run", "now")
    schedule: dict[str, Any] = {"kind": "now" if run in ("now", "manual") else run}
    if run == "once":
        schedule["at"] = form.get("at") or None
    elif run == "every_hours":
        schedule["hours"] = int(form.get("hours") or 6)
    elif run in ("daily", "weekly"):
        schedule["time"] = form.get("time") or "02:00"
        if run == "weekly":
            schedule["weekday"] = int(form.get("weekday") or 0)
    timeframe: dict[str, Any] = {"kind": form.get("timeframe") or "all"}
    if timeframe["kind"] in ("fixed", "since_previous") and form.get("start"):
        timeframe["start"] = form["start"]
    if timeframe["kind"] == "fixed" and form.get("end"):
        timeframe["end"] = form["end"]
    media = form.get("media_types") or None
    return {
        "title": (form.get("title") or "").strip(),
        "description": form.get("description") or "",
        "type": form.get("type") or "interaction",
        "media_types": media if form.get("type", "interaction") == "interaction" else None,
        "schedule": schedule,
        "timeframe": timeframe,
        "split_size_bytes": int(float(form.get("split_mib") or 1024) * (1 << 20)),
        "enabled": form.get("enabled") in ("on", "true", "1"),
    }


async def _form(request: Request) -> dict[str, Any]:
    raw = await request.form()
    data: dict[str, Any] = {k: v for k, v in raw.items() if isinstance(v, str)}
    data["media_types"] = [v for v in raw.getlist("media_types") if isinstance(v, str)]
    return data


def _back_with(exc: ApiError, url: str) -> Response:
    """A refused action goes back to its page with the reason; an unknown id stays a 404."""
    if exc.status == 404:
        raise exc
    return redirect(url, flash=("error", exc.detail or exc.code))


def _refusal(exc: Exception) -> str:
    if isinstance(exc, ApiError):
        link = exc.extra.get("link")
        text = exc.detail or exc.code
        return f'{text} <a href="{link}">Go to User preferences</a>' if link else text
    return str(exc)


@router.get("/jobs/new")
async def new_job_page(request: Request) -> Response:
    principal = await _exporter(request)
    return page(
        request,
        "job_form.html",
        principal,
        form={"run": "now", "enabled": True},
        media_choices=MEDIA,
        job_id=None,
    )


@router.post("/jobs/new")
async def create_job(request: Request, deps: Deps) -> Response:
    principal = await _exporter(request)
    form = await _form(request)
    _csrf(request, principal, form.get("csrf_token"))
    data = _job_form_data(form)
    try:
        body = job_cases.JobCreate.model_validate({**data, "run_now": form.get("run") == "now"})
        job = await job_cases.create_job(deps, principal, body, client=client_address(request))
    except (ApiError, CddsError, ValueError) as exc:
        return page(
            request,
            "job_form.html",
            principal,
            form=form,
            media_choices=MEDIA,
            job_id=None,
            error=_refusal(exc),
            status_code=422,
        )
    if job.run_id:
        return redirect("/history", flash=("ok", f"Job “{job.title}” saved and started."))
    return redirect("/jobs", flash=("ok", f"Job “{job.title}” saved."))


@router.get("/jobs/{job_id}")
async def edit_job_page(request: Request, deps: Deps, job_id: str) -> Response:
    principal = await _exporter(request)
    job = await job_cases.get_job(deps, principal, job_id)
    s, t = job.schedule, job.timeframe
    form = {
        "title": job.title,
        "description": job.description,
        "type": job.type,
        "media_types": job.media_types or [],
        "run": "manual" if s.kind == "now" else s.kind,
        "at": s.at.strftime("%Y-%m-%dT%H:%M") if s.at else "",
        "hours": s.hours,
        "time": s.time,
        "weekday": s.weekday,
        "timeframe": t.kind,
        "start": t.start.strftime("%Y-%m-%dT%H:%M") if t.start else "",
        "end": t.end.strftime("%Y-%m-%dT%H:%M") if t.end else "",
        "split_mib": job.split_size_bytes // (1 << 20),
        "enabled": job.enabled,
    }
    return page(request, "job_form.html", principal, form=form, media_choices=MEDIA, job_id=job.id)


@router.post("/jobs/{job_id}")
async def update_job(request: Request, deps: Deps, job_id: str) -> Response:
    principal = await _exporter(request)
    form = await _form(request)
    _csrf(request, principal, form.get("csrf_token"))
    try:
        patch = job_cases.JobPatch.model_validate(_job_form_data(form))
        job = await job_cases.update_job(
            deps, principal, job_id, patch, client=client_address(request)
        )
        if form.get("run") == "now":
            await job_cases.run_job(deps, principal, job.id, client=client_address(request))
            return redirect("/history", flash=("ok", f"Job “{job.title}” saved and started."))
    except (ApiError, CddsError, ValueError) as exc:
        if isinstance(exc, ApiError) and exc.status == 404:
            raise
        return page(
            request,
            "job_form.html",
            principal,
            form=form,
            media_choices=MEDIA,
            job_id=job_id,
            error=_refusal(exc),
            status_code=422,
        )
    return redirect("/jobs", flash=("ok", f"Job “{job.title}” saved."))


@router.post("/jobs/{job_id}/{action}")
async def job_action(
    request: Request,
    deps: Deps,
    job_id: str,
    action: str,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    principal = await _exporter(request)
    _csrf(request, principal, csrf_token)
    client = client_address(request)
    try:
        if action == "run":
            await job_cases.run_job(deps, principal, job_id, client=client)
            return redirect("/history", flash=("ok", "Export started."))
        if action == "clone":
            clone = await job_cases.clone_job(deps, principal, job_id, client=client)
            return redirect(f"/jobs/{clone.id}", flash=("ok", "Job cloned: adjust and save."))
        if action == "delete":
            await job_cases.delete_job(deps, principal, job_id, client=client)
            return redirect("/jobs", flash=("ok", "Job deleted."))
    except ApiError as exc:
        return _back_with(exc, "/jobs")
    raise ApiError(404, "not_found", f"no action {action}")


# -- history ---------------------------------------------------------------------------------


@router.get("/history")
async def history_page(
    request: Request,
    deps: Deps,
    status: str = "",
    type: str = "",
    sort: str = "requested_at",
    offset: int = 0,
) -> Response:
    principal = await _exporter(request)
    listed = await run_cases.list_runs(
        deps,
        principal,
        status=[status] if status else (),  # type: ignore[list-item]
        type=type if type in ("interaction", "contact") else None,  # type: ignore[arg-type]
        sort=sort if sort in ("requested_at", "started_at") else "requested_at",
        limit=PAGE_SIZE,
        offset=max(0, offset),
    )
    rows = [_run_row(r) for r in listed.items]
    return page(
        request,
        "history.html",
        principal,
        runs=rows,
        refresh=3 if _active(rows) else None,
        filters={"status": status, "type": type, "sort": sort},
        paging=_paging(request, listed.total, offset),
    )


def _paging(request: Request, total: int, offset: int) -> dict[str, Any]:
    """Links to the previous and next page, keeping the other query parameters."""

    def at(where: int) -> str:
        return str(request.url.include_query_params(offset=max(0, where)))

    offset = max(0, offset)
    return {
        "total": total,
        "first": offset + 1 if total else 0,
        "last": min(total, offset + PAGE_SIZE),
        "previous": at(offset - PAGE_SIZE) if offset > 0 else None,
        "next": at(offset + PAGE_SIZE) if offset + PAGE_SIZE < total else None,
    }


@router.post("/history/{run_id}/{action}")
async def run_action(
    request: Request,
    deps: Deps,
    run_id: str,
    action: str,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    principal = await _exporter(request)
    _csrf(request, principal, csrf_token)
    client = client_address(request)
    try:
        if action == "delete":
            await run_cases.delete_run(deps, principal, run_id, client=client)
            return redirect("/history", flash=("ok", "Run and its files deleted."))
        if action == "clone":
            await clone_run(deps, principal, run_id, RunClone(target="run"), client=client)
            return redirect("/history", flash=("ok", "Export started again."))
    except ApiError as exc:
        return _back_with(exc, "/history")
    raise ApiError(404, "not_found", f"no action {action}")


# -- artifacts -------------------------------------------------------------------------------


@router.get("/artifacts")
async def artifacts_page(
    request: Request,
    deps: Deps,
    run_id: str = "",
    sort: str = "created",
    order: str = "desc",
    offset: int = 0,
) -> Response:
    principal = await _exporter(request)
    listed = await artifact_cases.list_artifacts(
        deps,
        principal,
        run_id=run_id or None,
        sort=sort if sort in artifact_cases.ARTIFACT_SORTS else "created",
        order="asc" if order == "asc" else "desc",
        limit=PAGE_SIZE,
        offset=max(0, offset),
    )
    rows = [
        {
            "id": a.id,
            "name": a.name,
            "type": a.type,
            "created_at": _when(a.created_at),
            "size_text": _size(a.size),
            "sha256": a.sha256,
            "remaining_days": a.remaining_days,
        }
        for a in listed.items
    ]
    days = max(1, round(deps.settings.retention.seconds / 86_400))

    def sort_link(key: str) -> str:
        flip = "asc" if (sort, order) == (key, "desc") else "desc"
        return str(request.url.include_query_params(sort=key, order=flip, offset=0))

    return page(
        request,
        "artifacts.html",
        principal,
        artifacts=rows,
        retention_days=days,
        paging=_paging(request, listed.total, offset),
        sort_links={k: sort_link(k) for k in ("name", "created", "size", "expires")},
    )


@router.post("/artifacts/bulk")
async def artifacts_bulk(request: Request, deps: Deps) -> Response:
    principal = await _exporter(request)
    raw = await request.form()
    _csrf(request, principal, str(raw.get("csrf_token") or ""))
    ids = [v for v in raw.getlist("ids") if isinstance(v, str)]
    if not ids:
        return redirect("/artifacts", flash=("warn", "Select at least one file."))
    client = client_address(request)
    try:
        if raw.get("action") == "delete":
            count = await artifact_cases.delete_artifacts(deps, principal, ids, client=client)
            return redirect("/artifacts", flash=("ok", f"{count} file(s) deleted."))
        download = await artifact_cases.open_zip(deps, principal, ids, client=client)
    except ApiError as exc:
        return redirect("/artifacts", flash=("error", exc.detail or exc.code))
    return StreamingResponse(
        download.body or _empty(), status_code=download.status, headers=download.headers
    )


async def _empty() -> Any:
    if False:  # pragma: no cover - an empty async generator
        yield b""


def install(app: Any) -> None:
    """Turn the pages' redirects into responses (sign-in / Access Denied)."""

    async def redirected(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, _Redirect)
        return exc.response

    app.add_exception_handler(_Redirect, redirected)
