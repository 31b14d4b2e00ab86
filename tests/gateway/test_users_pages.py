"""The Users page and *Choose a new password*, server side (the browser test in
tests/e2e/test_browser_admin.py drives them in Chromium): admins only, CSRF on every form, the
one-time password shown once and not cached, another tenant's user a 404, and a user with a
one-time password held on Choose a new password until they chose one."""

from __future__ import annotations

import html
import re
from urllib.parse import unquote

import httpx
import pytest

from cdds_shared.identity import Tenant
from tests.gateway.conftest import Gateway, SignedInUser, new_tenant, new_user, sign_in

pytestmark = pytest.mark.integration

CHOSEN = "a password of my own"


@pytest.fixture
async def admin(gateway: Gateway, client: httpx.AsyncClient, tenant: Tenant) -> SignedInUser:
    account = await new_user(gateway, tenant, roles=("exporter", "admin"))
    return await sign_in(client, account, keep_cookie=True)


def flash(response: httpx.Response) -> str:
    return unquote(response.cookies.get("cdds_flash", ""))


async def test_only_administrators_see_the_page_and_its_menu_item(
    client: httpx.AsyncClient, gateway: Gateway, tenant: Tenant
) -> None:
    stranger = await client.get("/users", follow_redirects=False)
    assert (stranger.status_code, stranger.headers["location"]) == (303, "/login")
    await sign_in(client, await new_user(gateway, tenant), keep_cookie=True)
    refused = await client.get("/users", follow_redirects=False)
    assert (refused.status_code, refused.headers["location"]) == (303, "/access-denied")
    assert 'id="nav-users"' not in (await client.get("/jobs")).text


async def test_add_a_user_grant_and_the_first_sign_in(
    client: httpx.AsyncClient, gateway: Gateway, admin: SignedInUser
) -> None:
    page = await client.get("/users")
    assert page.status_code == 200 and admin.username in page.text
    assert 'id="nav-users"' in page.text
    no_token = await client.post("/users", data={"username": "fay", "roles": ["exporter"]})
    assert (no_token.status_code, no_token.json()["error"]) == (403, "csrf")

    # The one-time password is on the answer to the form, once, not cached
    added = await client.post("/users", data={"username": "fay", "csrf_token": admin.csrf_token})
    assert added.status_code == 200 and added.headers["cache-control"] == "no-store"
    found = re.search(r'id="issued-password">([^<]+)<', added.text)
    assert found, added.text
    once = html.unescape(found.group(1))
    assert once not in (await client.get("/users")).text
    fay = await gateway.identity.find_user("fay", admin.tenant.name)
    assert fay is not None and fay.roles == [] and fay.must_change_password

    granted = await client.post(
        f"/users/{fay.id}/grant-exporter",
        data={"csrf_token": admin.csrf_token},
        follow_redirects=False,
    )
    assert granted.status_code == 303 and flash(granted) == "ok:fay can now use CDDS."

    # Fay signs in: Choose a new password first, every page leads there until it is done
    client.cookies.clear()
    signed = await client.post(
        "/login",
        data={"step": "password", "username": "fay", "tenant": admin.tenant.name,
              "password": once},
        follow_redirects=False,
    )  # fmt: skip
    assert (signed.status_code, signed.headers["location"]) == (303, "/password")
    for path in ("/jobs", "/preferences", "/"):
        held = await client.get(path, follow_redirects=True)
        assert held.url.path == "/password" and 'id="password-required"' in held.text, path
    token = re.search(r'name="csrf_token" value="([^"]+)"', held.text)
    assert token
    form = {"current_password": once, "new_password": CHOSEN, "csrf_token": token.group(1)}
    differ = await client.post("/password", data={**form, "confirm_password": "other"})
    assert differ.status_code == 422 and "differ" in differ.text
    done = await client.post(
        "/password", data={**form, "confirm_password": CHOSEN}, follow_redirects=False
    )
    assert (done.status_code, done.headers["location"]) == (303, "/jobs")
    assert (await client.get("/jobs", follow_redirects=False)).status_code == 200


async def test_refusals_come_back_to_the_page_and_strangers_are_not_found(
    client: httpx.AsyncClient, gateway: Gateway, admin: SignedInUser
) -> None:
    last = await client.post(
        f"/users/{admin.user.id}/disable",
        data={"csrf_token": admin.csrf_token},
        follow_redirects=False,
    )
    assert last.status_code == 303 and "last administrator" in flash(last)
    taken = await client.post(
        "/users", data={"username": admin.username, "csrf_token": admin.csrf_token}
    )
    assert taken.status_code == 422 and "already exists" in html.unescape(taken.text)

    stranger = await new_user(gateway, await new_tenant(gateway))
    for action in ("disable", "grant-admin", "unlock", "password"):
        response = await client.post(
            f"/users/{stranger.user.id}/{action}", data={"csrf_token": admin.csrf_token}
        )
        assert response.status_code == 404, action
    assert not (await gateway.identity.get_user(stranger.user.id)).disabled
