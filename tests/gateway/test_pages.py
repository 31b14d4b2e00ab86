"""The web pages' server side (the browser tests in tests/e2e drive them in Chromium): sign-in
required, Access Denied, CSRF on every form, and the forms that reach the same use cases as
the API."""

from __future__ import annotations

import html
import re
import uuid
from datetime import timedelta
from urllib.parse import unquote

import httpx
import pytest

from cdds_shared.identity import Tenant
from cdds_shared.runs import Run, utcnow
from tests.gateway.conftest import Gateway, new_user, sign_in

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("path", ["/jobs", "/history", "/artifacts", "/preferences", "/jobs/new"])
async def test_pages_send_strangers_to_sign_in(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"


async def test_a_user_without_the_role_is_shown_access_denied(
    client: httpx.AsyncClient, gateway: Gateway, tenant: Tenant
) -> None:
    account = await new_user(gateway, tenant, roles=())
    response = await client.post(
        "/login",
        data={
            "step": "password",
            "username": account.username,
            "tenant": tenant.name,
            "password": account.password,
        },
    )
    assert response.status_code == 403
    assert "Access Denied" in response.text and "administrator" in response.text
    assert "cdds_session" not in response.cookies


async def test_the_two_steps_of_sign_in(
    client: httpx.AsyncClient, gateway: Gateway, tenant: Tenant
) -> None:
    account = await new_user(gateway, tenant)
    step1 = await client.post("/login", data={"step": "username", "username": account.username})
    assert step1.status_code == 200 and 'id="password"' in step1.text
    wrong = await client.post(
        "/login", data={"step": "password", "username": account.username, "password": "nope"}
    )
    assert wrong.status_code == 401 and "Wrong username, tenant or password" in wrong.text
    right = await client.post(
        "/login",
        data={
            "step": "password",
            "username": account.username,
            "password": account.password,
            "remember_me": "on",
        },
        follow_redirects=False,
    )
    assert right.status_code == 303 and right.headers["location"] == "/jobs"
    cookie = right.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "max-age=" in cookie


async def test_forms_refuse_a_missing_csrf_token(
    client: httpx.AsyncClient, gateway: Gateway, tenant: Tenant
) -> None:
    signed = await sign_in(client, await new_user(gateway, tenant), keep_cookie=True)
    refused = await client.post("/preferences/seal-mode", data={"seal_mode": "legacy-cbc"})
    assert refused.status_code == 403 and refused.json()["error"] == "csrf"
    accepted = await client.post(
        "/preferences/seal-mode",
        data={"seal_mode": "legacy-cbc", "csrf_token": signed.csrf_token},
        follow_redirects=False,
    )
    assert accepted.status_code == 303
    preferences = await client.get("/api/v1/me/preferences")
    assert preferences.json()["seal_mode"] == "legacy-cbc"


async def test_the_job_form_saves_a_disabled_job_without_starting_it(
    client: httpx.AsyncClient, gateway: Gateway, tenant: Tenant
) -> None:
    signed = await sign_in(client, await new_user(gateway, tenant), keep_cookie=True)
    saved = await client.post(
        "/jobs/new",
        data={
            "csrf_token": signed.csrf_token,
            "title": "Nightly",
            "type": "contact",
            "run": "daily",
            "time": "02:30",
            "timeframe": "since_previous",
            "split_mib": "64",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    [job] = (await client.get("/api/v1/jobs")).json()["items"]
    assert (job["title"], job["enabled"], job["last_run_id"]) == ("Nightly", False, None)
    assert job["schedule"] == {
        "kind": "daily",
        "at": None,
        "hours": None,
        "time": "02:30",
        "weekday": None,
    }
    assert job["split_size_bytes"] == 64 << 20
    page = await client.get("/jobs")
    assert "Nightly" in page.text and "Daily at 02:30 UTC" in page.text


async def test_history_pages_through_many_runs(
    client: httpx.AsyncClient, gateway: Gateway, tenant: Tenant
) -> None:
    account = await new_user(gateway, tenant)
    await sign_in(client, account, keep_cookie=True)
    for i in range(55):
        await gateway.deps.runs.insert(
            Run(
                id=f"{uuid.uuid4().hex[:20]}{i:04d}",
                tenant=tenant.name,
                ucs_tenant_id=tenant.ucs_tenant_id,
                owner=account.user.id,
                record_type="contact",
                split_size_bytes=1 << 20,
                status="no_data",
                requested_at=utcnow() - timedelta(minutes=i),
            )
        )
    first = await client.get("/history")
    assert "1\u201350 of 55" in first.text and first.text.count('data-run="') == 50
    older = re.search(r'href="([^"]+)" id="page-next"', first.text)
    assert older is not None
    second = await client.get(html.unescape(older.group(1)))
    assert "51\u201355 of 55" in second.text and second.text.count('data-run="') == 5
    assert 'id="page-next"' not in second.text and 'id="page-previous"' in second.text


def _flash(response: httpx.Response) -> str:
    """The one-time message a redirect leaves for the next page ("kind:text")."""
    return unquote(response.cookies["cdds_flash"])


async def test_the_job_pages_edit_clone_and_delete_a_job(
    client: httpx.AsyncClient, gateway: Gateway, tenant: Tenant
) -> None:
    signed = await sign_in(client, await new_user(gateway, tenant), keep_cookie=True)
    form = {"csrf_token": signed.csrf_token, "title": "Nightly", "run": "daily", "time": "02:30"}
    assert (await client.post("/jobs/new", data=form, follow_redirects=False)).status_code == 303
    [job] = (await client.get("/api/v1/jobs")).json()["items"]
    edit = await client.get(f"/jobs/{job['id']}")
    assert (
        edit.status_code == 200 and 'value="Nightly"' in edit.text and 'value="02:30"' in edit.text
    )

    saved = await client.post(
        f"/jobs/{job['id']}",
        data={**form, "title": "Renamed", "time": "03:00"},
        follow_redirects=False,
    )
    assert (saved.status_code, saved.headers["location"]) == (303, "/jobs")
    assert _flash(saved) == "ok:Job \u201cRenamed\u201d saved."
    renamed = (await client.get(f"/api/v1/jobs/{job['id']}")).json()
    assert (renamed["title"], renamed["schedule"]["time"]) == ("Renamed", "03:00")

    action = {"csrf_token": signed.csrf_token}
    cloned = await client.post(f"/jobs/{job['id']}/clone", data=action, follow_redirects=False)
    assert cloned.status_code == 303 and _flash(cloned) == "ok:Job cloned: adjust and save."
    clone_id = cloned.headers["location"].removeprefix("/jobs/")
    assert (await client.get(f"/api/v1/jobs/{clone_id}")).json()["title"] == "Copy of Renamed"
    unknown = await client.post(f"/jobs/{job['id']}/explode", data=action)
    assert unknown.status_code == 404
    deleted = await client.post(f"/jobs/{job['id']}/delete", data=action, follow_redirects=False)
    assert (deleted.status_code, deleted.headers["location"]) == (303, "/jobs")
    assert [j["id"] for j in (await client.get("/api/v1/jobs")).json()["items"]] == [clone_id]
    gone = await client.post(f"/jobs/{job['id']}/delete", data=action)
    assert gone.status_code == 404  # an unknown id stays a 404, not a flash


async def test_refusals_and_run_actions_on_the_pages(
    client: httpx.AsyncClient, gateway: Gateway, tenant: Tenant
) -> None:
    account = await new_user(gateway, tenant)
    signed = await sign_in(client, account, keep_cookie=True)
    action = {"csrf_token": signed.csrf_token}
    refused = await client.post("/jobs/new", data={**action, "title": "Too early", "run": "now"})
    assert refused.status_code == 422 and 'id="form-error"' in refused.text
    assert "certificate" in refused.text.lower() and 'href="/preferences"' in refused.text
    assert (await client.get("/api/v1/jobs")).json()["items"] == []  # nothing half-created

    empty = await client.post("/artifacts/bulk", data=action, follow_redirects=False)
    assert empty.headers["location"] == "/artifacts"
    assert _flash(empty) == "warn:Select at least one file."

    run = Run(
        id=uuid.uuid4().hex,
        tenant=tenant.name,
        ucs_tenant_id=tenant.ucs_tenant_id,
        owner=account.user.id,
        record_type="contact",
        split_size_bytes=1 << 20,
        status="no_data",
        requested_at=utcnow(),
    )
    await gateway.deps.runs.insert(run)
    assert (await client.post(f"/history/{run.id}/explode", data=action)).status_code == 404
    deleted = await client.post(f"/history/{run.id}/delete", data=action, follow_redirects=False)
    assert (deleted.status_code, deleted.headers["location"]) == (303, "/history")
    assert _flash(deleted) == "ok:Run and its files deleted."
    assert (await client.get(f"/api/v1/runs/{run.id}")).status_code == 404


async def test_a_live_run_is_watched_in_place_with_a_refresh_link_for_no_javascript(
    client: httpx.AsyncClient, gateway: Gateway, tenant: Tenant
) -> None:
    # No page reloads itself (axe's meta-refresh rule): cdds.js polls while a run is live, and
    # a <noscript> Refresh link to the same page stands in for it (docs/web.md § Live progress)
    account = await new_user(gateway, tenant)
    await sign_in(client, account, keep_cookie=True)
    run = Run(
        id=uuid.uuid4().hex,
        tenant=tenant.name,
        ucs_tenant_id=tenant.ucs_tenant_id,
        owner=account.user.id,
        record_type="contact",
        split_size_bytes=1 << 20,
        requested_at=utcnow(),
    )
    await gateway.deps.runs.insert(run)
    live = (await client.get("/history?type=contact")).text
    assert "http-equiv" not in live
    assert 'id="live" class="visually-hidden" role="status" aria-live="polite"' in live
    fallback = re.search(r"<noscript>.*?</noscript>", live, re.S)
    assert fallback is not None
    assert 'href="/history?type=contact" id="refresh">Refresh</a>' in fallback.group(0)
    assert f'data-run-id="{run.id}" data-status="queued"' in live

    await gateway.deps.runs.transition(run.id, ("queued",), "no_data", finished_at=utcnow())
    ended = (await client.get("/history")).text
    assert f'data-run-id="{run.id}" data-status="no_data"' in ended
    assert 'id="live"' not in ended and "<noscript>" not in ended and "http-equiv" not in ended
