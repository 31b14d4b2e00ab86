"""The web UI in a real browser (headless Chromium driven by Selenium) against the real services:
two-step sign-in with Remember me, Access Denied, certificate upload, a job created and watched to
completion, a download decrypted with OpenSSL, log-out. Screenshots of each page are saved in
``.local/screenshots/browser/``."""

from __future__ import annotations

import shutil
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

from cdds_shared.identity import IdentityStore
from cdds_tools.identity import make_identity
from tests.e2e.pipeline import Pipeline, Worker, openssl_decrypt

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / ".local" / "screenshots" / "browser"
INTERACTIONS, CONTACTS = 1500, 100
PASSWORD = "correct horse battery staple"


def _binary(name: str, *fallbacks: str) -> str:
    for candidate in (name, *fallbacks):
        found = shutil.which(candidate)
        if found:
            return found
    pytest.fail(
        f"{name} is not installed: run `make bootstrap` (Debian packages chromium, "
        "chromium-driver)",
        pytrace=False,
    )


@pytest.fixture(scope="module")
def downloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(downloads: Path) -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = _binary("chromium", "chromium-browser")
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1366,900",
        "--lang=en-GB",
    ):
        options.add_argument(arg)
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    driver = webdriver.Chrome(service=Service(_binary("chromedriver")), options=options)
    driver.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    driver.implicitly_wait(0)
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
async def site(pipeline: Pipeline) -> str:
    """The gateway, exporter and encryptor as real processes; a tenant with two users."""
    for name in ("exporter", "encryptor"):
        pipeline.worker(name)
    gateway: Worker = pipeline.worker("gateway")
    identity = IdentityStore(pipeline.documents)
    tenant = await identity.create_tenant("acme-browser", pipeline.tenant_id)
    await identity.create_user("ana", tenant.name, ["exporter"], PASSWORD)
    await identity.create_user("bob", tenant.name, [], PASSWORD)
    return f"http://127.0.0.1:{gateway.bound_port}"


def _shot(driver: WebDriver, name: str) -> None:
    driver.save_screenshot(str(SHOTS / f"{name}.png"))


def _wait(driver: WebDriver, seconds: float = 20) -> WebDriverWait[WebDriver]:
    return WebDriverWait(driver, seconds)


def _sign_in(
    driver: WebDriver, site: str, username: str, *, remember: bool, shots: str = ""
) -> None:
    driver.get(f"{site}/login")
    _wait(driver).until(ec.presence_of_element_located((By.ID, "username")))
    driver.find_element(By.ID, "username").send_keys(username)
    if remember:
        driver.find_element(By.ID, "remember_me").click()
    if shots:
        _shot(driver, f"{shots}-1-sign-in-username")
    driver.find_element(By.ID, "next").click()
    _wait(driver).until(ec.presence_of_element_located((By.ID, "password")))
    assert driver.find_element(By.ID, "who").text == username
    if shots:
        _shot(driver, f"{shots}-2-sign-in-password")
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "sign-in").click()


def test_a_user_without_cdds_access_sees_access_denied(browser: WebDriver, site: str) -> None:
    _sign_in(browser, site, "bob", remember=False)
    heading = _wait(browser).until(ec.presence_of_element_located((By.ID, "access-denied")))
    assert "Access Denied" in heading.text and "administrator" in heading.text
    _shot(browser, "00-access-denied")
    assert browser.get_cookie("cdds_session") is None


def test_export_from_sign_in_to_download(
    browser: WebDriver, site: str, pipeline: Pipeline, downloads: Path
) -> None:
    # Two-step sign-in with Remember me: a persistent, HttpOnly session cookie
    _sign_in(browser, site, "ana", remember=True, shots="01")
    _wait(browser).until(ec.url_contains("/jobs"))
    cookie = browser.get_cookie("cdds_session")
    assert cookie is not None and cookie["httpOnly"] and cookie.get("sameSite") == "Lax"
    assert "expiry" in cookie  # Remember me: it outlives the browser session
    _shot(browser, "02-jobs-empty")

    # Exporting is refused without a certificate, with a link to User preferences
    browser.get(f"{site}/jobs/new")
    browser.find_element(By.ID, "title").send_keys("Too early")
    browser.find_element(By.ID, "save-job").click()
    error = _wait(browser).until(ec.presence_of_element_located((By.ID, "form-error")))
    assert "certificate" in error.text.lower()
    assert error.find_element(By.TAG_NAME, "a").get_attribute("href").endswith("/preferences")
    _shot(browser, "03-job-refused-without-certificate")

    # User preferences: upload the certificate (PEM), see its details
    browser.find_element(By.ID, "user-menu").click()
    _wait(browser).until(ec.element_to_be_clickable((By.ID, "nav-preferences"))).click()
    _wait(browser).until(ec.presence_of_element_located((By.ID, "no-cert")))
    _shot(browser, "04-preferences-no-certificate")
    cert, key_path, cert_path = make_identity(pipeline.workdir, name="ana")
    browser.find_element(By.ID, "file").send_keys(str(cert_path))
    browser.find_element(By.ID, "upload").click()
    details = _wait(browser).until(ec.presence_of_element_located((By.ID, "cert-details")))
    assert "CN=ana" in browser.find_element(By.ID, "cert-subject").text
    fingerprint = cert.fingerprint(hashes.SHA256())
    assert browser.find_element(By.ID, "cert-sha256").text == fingerprint.hex()
    assert details.is_displayed()
    _shot(browser, "05-preferences-certificate")

    # Jobs: add a job that runs now; History shows its progress bar until it completes
    browser.find_element(By.ID, "menu-administration").click()
    _wait(browser).until(ec.element_to_be_clickable((By.ID, "nav-jobs"))).click()
    browser.find_element(By.ID, "add-job").click()
    browser.find_element(By.ID, "title").send_keys("Interactions, all media")
    browser.find_element(By.ID, "description").send_keys("browser test")
    Select(browser.find_element(By.ID, "type")).select_by_value("interaction")
    Select(browser.find_element(By.ID, "run")).select_by_value("now")
    split = browser.find_element(By.ID, "split_mib")
    split.clear()
    split.send_keys("1")
    _shot(browser, "06-job-form")
    browser.find_element(By.ID, "save-job").click()
    _wait(browser).until(ec.presence_of_element_located((By.TAG_NAME, "h1")))
    errors = browser.find_elements(By.ID, "form-error")
    assert not errors, errors[0].text
    _wait(browser).until(ec.url_contains("/history"))
    _shot(browser, "07-history-started")
    row = _wait(browser, 180).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, "#runs .status.completed"))
    )
    assert row.text == "completed"
    _shot(browser, "08-history-completed")

    # Artifacts: download a file and open it with stock OpenSSL and the user's key
    browser.find_element(By.CSS_SELECTOR, "#runs .show-artifacts").click()
    _wait(browser).until(ec.presence_of_element_located((By.CSS_SELECTOR, "#artifacts .download")))
    remaining = browser.find_element(By.CSS_SELECTOR, "#artifacts .remaining").text
    assert remaining == "30"
    _shot(browser, "09-artifacts")
    link = browser.find_element(By.CSS_SELECTOR, "#artifacts a.download")
    name = link.text
    link.click()
    sealed = downloads / name
    deadline = time.monotonic() + 60
    while not sealed.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sealed.exists(), f"{name} was not downloaded: {list(downloads.iterdir())}"
    opened = openssl_decrypt(sealed, key_path)
    with zipfile.ZipFile(opened) as archive:
        assert any(n.startswith("Interaction-") for n in archive.namelist())
        assert archive.testzip() is None

    # Log out from the drop-down under the user's name
    browser.find_element(By.ID, "user-menu").click()
    _wait(browser).until(ec.element_to_be_clickable((By.ID, "logout"))).click()
    _wait(browser).until(ec.presence_of_element_located((By.ID, "username")))
    _shot(browser, "10-signed-out")
    assert browser.get_cookie("cdds_session") is None
    browser.get(f"{site}/jobs")
    _wait(browser).until(ec.url_contains("/login"))
