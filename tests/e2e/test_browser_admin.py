"""Administration → Users in a real browser (headless Chromium driven by Selenium) against the
real gateway: an administrator adds a user and grants them CDDS access; the new user signs in
with the one-time password and must choose their own before any other page; the administrator
disables them, and their next sign-in is refused. Screenshots in
``.local/screenshots/browser/`` (as ``test_browser.py``), named ``users-…``."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as ec

from cdds_shared.identity import IdentityStore
from tests.e2e.pipeline import Pipeline
from tests.e2e.test_browser import PASSWORD, _shot, _wait, browser, downloads

pytestmark = [pytest.mark.integration, pytest.mark.slow]
__all__ = ["browser", "downloads"]

INTERACTIONS, CONTACTS = 50, 10
"""The pipeline fixture seeds UCS; these pages read none of it."""
ADMIN, NEWCOMER = "ada", "eli"
CHOSEN = "eli's own long password"


@pytest.fixture(scope="module")
async def site(pipeline: Pipeline) -> str:
    """The gateway as a real process; a tenant whose one administrator is ``ada``."""
    gateway = pipeline.worker("gateway")
    identity = IdentityStore(pipeline.documents)
    tenant = await identity.create_tenant("acme-admin", pipeline.tenant_id)
    await identity.create_user(ADMIN, tenant.name, ["exporter", "admin"], PASSWORD)
    return f"http://127.0.0.1:{gateway.bound_port}"


def sign_in(driver: WebDriver, site: str, username: str, password: str) -> None:
    driver.get(f"{site}/login")
    _wait(driver).until(ec.presence_of_element_located((By.ID, "username"))).send_keys(username)
    driver.find_element(By.ID, "next").click()
    _wait(driver).until(ec.presence_of_element_located((By.ID, "password"))).send_keys(password)
    driver.find_element(By.ID, "sign-in").click()


def sign_out(driver: WebDriver) -> None:
    driver.find_element(By.ID, "user-menu").click()
    _wait(driver).until(ec.element_to_be_clickable((By.ID, "logout"))).click()
    _wait(driver).until(ec.url_contains("/login"))


def row(driver: WebDriver, username: str) -> WebElement:
    return _wait(driver).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, f"#users tr[data-username='{username}']"))
    )


def act(driver: WebDriver, username: str, action: str) -> str:
    """Press a row's button; the confirmation on the page the form's post answers with (not a
    flash still on the page the button was on)."""
    page = driver.find_element(By.TAG_NAME, "html")
    row(driver, username).find_element(By.CSS_SELECTOR, f"button[data-action='{action}']").click()
    _wait(driver).until(ec.staleness_of(page))
    flash = _wait(driver).until(ec.presence_of_element_located((By.CSS_SELECTOR, ".flash.ok")))
    return flash.text


def test_an_admin_adds_a_user_who_chooses_a_password_and_is_then_disabled(
    browser: WebDriver, site: str
) -> None:
    # Given the administrator on Administration → Users
    sign_in(browser, site, ADMIN, PASSWORD)
    _wait(browser).until(ec.url_contains("/jobs"))
    browser.find_element(By.ID, "menu-administration").click()
    _wait(browser).until(ec.element_to_be_clickable((By.ID, "nav-users"))).click()
    _wait(browser).until(ec.url_contains("/users"))
    assert "(you)" in row(browser, ADMIN).text
    _shot(browser, "users-01-list")

    # When they add a user without any role, the one-time password is shown once
    browser.find_element(By.ID, "new-username").send_keys(NEWCOMER)
    exporter_box = browser.find_element(By.ID, "new-role-exporter")
    if exporter_box.is_selected():
        exporter_box.click()
    browser.find_element(By.ID, "add-user-submit").click()
    issued = _wait(browser).until(ec.presence_of_element_located((By.ID, "issued-password")))
    one_time = issued.text
    assert len(one_time) >= 12 and NEWCOMER in browser.find_element(By.ID, "one-time-password").text
    assert "must choose a new password" in row(browser, NEWCOMER).text
    _shot(browser, "users-02-added-with-one-time-password")

    # And grant them CDDS access; the password is not shown again
    assert act(browser, NEWCOMER, "grant-exporter") == f"{NEWCOMER} can now use CDDS."
    assert "exporter" in row(browser, NEWCOMER).find_element(By.CSS_SELECTOR, ".roles").text
    assert one_time not in browser.page_source
    _shot(browser, "users-03-exporter-granted")
    sign_out(browser)

    # Then the new user, signed in with it, must choose a password before any other page
    sign_in(browser, site, NEWCOMER, one_time)
    _wait(browser).until(ec.presence_of_element_located((By.ID, "password-required")))
    _shot(browser, "users-04-choose-a-new-password")
    browser.get(f"{site}/jobs")
    _wait(browser).until(ec.presence_of_element_located((By.ID, "password-required")))
    assert browser.current_url.endswith("/password")
    browser.find_element(By.ID, "current_password").send_keys(one_time)
    browser.find_element(By.ID, "new_password").send_keys(CHOSEN)
    browser.find_element(By.ID, "confirm_password").send_keys(CHOSEN)
    browser.find_element(By.ID, "save-password").click()
    _wait(browser).until(
        ec.text_to_be_present_in_element((By.CSS_SELECTOR, ".flash.ok"), "Password changed.")
    )
    assert "/jobs" in browser.current_url
    assert not browser.find_elements(By.ID, "nav-users")  # not an administrator
    _shot(browser, "users-05-password-changed")
    sign_out(browser)

    # When the administrator disables them
    sign_in(browser, site, ADMIN, PASSWORD)
    _wait(browser).until(ec.url_contains("/jobs"))
    browser.get(f"{site}/users")
    assert act(browser, NEWCOMER, "disable") == f"{NEWCOMER} is disabled: their sessions ended."
    assert "Disabled" in row(browser, NEWCOMER).find_element(By.CSS_SELECTOR, ".state").text
    _shot(browser, "users-06-disabled")
    sign_out(browser)

    # Then their sign-in is refused
    sign_in(browser, site, NEWCOMER, CHOSEN)
    error = _wait(browser).until(ec.presence_of_element_located((By.ID, "login-error")))
    assert error.text == "Wrong username, tenant or password."
    assert browser.get_cookie("cdds_session") is None
    _shot(browser, "users-07-disabled-user-refused")
