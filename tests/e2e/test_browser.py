"""The web UI in a real browser (headless Chromium driven by Selenium) against the real services:
two-step sign-in with Remember me, Access Denied, certificate upload, a job created and watched to
completion, a download decrypted with OpenSSL, log-out; a live run's progress updated in place,
and a Refresh link without JavaScript. Screenshots of each page are saved in
``.local/screenshots/browser/``, and axe-core checks each of them against the WCAG 2 A/AA rules
(``tests/e2e/a11y.py``)."""

from __future__ import annotations

import shutil
import time
import uuid
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

from cdds_gateway.jobs_store import JobStore
from cdds_shared.identity import IdentityStore
from cdds_shared.runs import Artifact, MemberCount, Plan, Run, utcnow
from cdds_shared.runs.model import GATEWAY
from cdds_shared.scope import Scope
from cdds_tools.identity import make_identity
from tests.e2e.a11y import assert_accessible
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


def _shot(driver: WebDriver, name: str, *, axe: bool = True) -> None:
    """Save a screenshot of the page, then fail on any WCAG 2 A/AA violation axe finds on it
    (``axe=False`` only where the page runs no script: axe is a script)."""
    driver.save_screenshot(str(SHOTS / f"{name}.png"))
    if axe:
        assert_accessible(driver, name)


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


def _announced(driver: WebDriver) -> str:
    """What the polite live region says (it is visually hidden: Selenium's .text would be "")."""
    return driver.find_element(By.ID, "live").get_attribute("textContent") or ""


def _live_run(job_id: str | None, tenant: str, owner: str, ucs_tenant_id: int) -> Run:
    """A run the test moves on itself: its ``RunRequested`` is never sent, and a run never
    accepted is never admitted by an exporter (docs/pipeline.md, "Fair share")."""
    return Run(
        id=uuid.uuid4().hex,
        tenant=tenant,
        ucs_tenant_id=ucs_tenant_id,
        owner=owner,
        record_type="interaction",
        split_size_bytes=1 << 20,
        requested_at=utcnow(),
        job_id=job_id,
        created_by=GATEWAY,
    )


def _quarter_sealed(run: Run) -> tuple[Plan, Artifact]:
    """A plan of 4 records (no partition, so nothing is exported) and a sealed file of 1: 25 %."""
    now = utcnow()
    plan = Plan(
        planned_at=now, estimate=4, end=now, partitions=[], compression_level=6, zip_limit=1 << 20
    )
    name = f"Interaction-{run.id}-0-0.zip.p7m"
    artifact = Artifact(
        id=f"{run.id}-0-0",
        run_id=run.id,
        tenant=run.tenant,
        owner=run.owner,
        record_type=run.record_type,
        partition=0,
        part=0,
        last_in_partition=True,
        name=name,
        object_key=f"never-stored/{name}",
        size=1000,
        sha256="0" * 64,
        members=[MemberCount(name="interactions.jsonl", records=1)],
        seal="gcm",
        certificate_sha256="0" * 64,
        created_at=now,
        expires_at=now + timedelta(days=30),
    )
    return plan, artifact


async def test_a_live_run_updates_in_place_and_a_refresh_link_stands_in_without_javascript(
    browser: WebDriver, site: str, pipeline: Pipeline
) -> None:
    # Given ana's job "Live progress", whose latest run is queued, and her run without a job
    _sign_in(browser, site, "ana", remember=False)
    _wait(browser).until(ec.url_contains("/jobs"))
    browser.get(f"{site}/jobs/new")
    browser.find_element(By.ID, "title").send_keys("Live progress")
    Select(browser.find_element(By.ID, "run")).select_by_value("manual")
    browser.find_element(By.ID, "save-job").click()
    link = _wait(browser).until(
        ec.presence_of_element_located((By.LINK_TEXT, "Live progress")), "the job was not saved"
    )
    job_id = link.find_element(By.XPATH, "./ancestor::tr").get_attribute("data-job")
    jobs = JobStore(pipeline.documents)
    job = await jobs.get(str(job_id), Scope("acme-browser"))
    assert job is not None
    run = _live_run(job.id, job.tenant, job.owner, pipeline.tenant_id)
    waiting = _live_run(None, job.tenant, job.owner, pipeline.tenant_id)
    for each in (run, waiting):
        await pipeline.runs.insert(each)
    await jobs.record_run(job.id, job.tenant, run.id, run.requested_at)

    # Jobs shows the live run, with no page reload timer
    browser.get(f"{site}/jobs")
    _wait(browser).until(
        ec.presence_of_element_located(
            (By.CSS_SELECTOR, f"tr[data-job='{job.id}'] .run-state[data-status=queued]")
        )
    )
    assert not browser.find_elements(By.CSS_SELECTOR, "meta[http-equiv=refresh]")
    _shot(browser, "11-jobs-live-run")

    # Without JavaScript, History offers a Refresh link: a plain link to the same page
    browser.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": True})
    try:
        browser.get(f"{site}/history?type=interaction")
        refresh = _wait(browser).until(ec.visibility_of_element_located((By.ID, "refresh")))
        assert refresh.text == "Refresh"
        assert refresh.get_attribute("href") == f"{site}/history?type=interaction"
        _shot(browser, "12-history-without-javascript", axe=False)
        refresh.click()
        _wait(browser).until(ec.staleness_of(refresh))  # a new page: the same one, reloaded
        assert browser.current_url == f"{site}/history?type=interaction"
        _wait(browser).until(ec.visibility_of_element_located((By.ID, "refresh")))
    finally:
        browser.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": False})

    # With JavaScript, the link is inert (<noscript>) and the page watches the run instead
    browser.get(f"{site}/history")
    cell = f"#runs tr[data-run='{run.id}'] .run-state"
    _wait(browser).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, f"{cell}[data-status=queued]"))
    )
    assert not browser.find_elements(By.ID, "refresh")
    fallback = browser.find_element(By.TAG_NAME, "noscript").get_attribute("innerHTML") or ""
    assert 'id="refresh"' in fallback, fallback
    _shot(browser, "13-history-live-queued")
    browser.execute_script("window.cddsSamePage = true; document.getElementById('f-type').focus()")

    # When the run starts and a quarter of it is sealed, its cells show it without a reload
    plan, artifact = _quarter_sealed(run)
    await pipeline.runs.transition(run.id, ("queued",), "running", started_at=utcnow(), plan=plan)
    await pipeline.runs.add_artifact(artifact)
    _wait(browser).until(
        ec.text_to_be_present_in_element((By.CSS_SELECTOR, f"{cell} .eta"), "25.0 %")
    )
    assert browser.find_element(By.CSS_SELECTOR, f"{cell} .status").text == "running"
    bar = browser.find_element(By.CSS_SELECTOR, f"{cell} progress")
    assert bar.get_attribute("value") == "25"
    files = browser.find_element(By.CSS_SELECTOR, f"#runs tr[data-run='{run.id}'] td.files")
    assert files.text == "1"
    _wait(browser).until(lambda d: "running" in _announced(d), "status change not announced")

    # When it fails, the cell shows why, and the change is announced
    await pipeline.runs.transition(
        run.id, ("running",), "failed", finished_at=utcnow(), error="stopped by the browser test"
    )
    _wait(browser).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, f"{cell}[data-status=failed]"))
    )
    assert browser.find_element(By.CSS_SELECTOR, f"{cell} .run-error").text == (
        "stopped by the browser test"
    )
    assert not browser.find_elements(By.CSS_SELECTOR, f"{cell} progress")
    announced = _wait(browser).until(lambda d: "failed" in _announced(d) and _announced(d))
    assert announced == "Live progress: failed (stopped by the browser test).", announced

    # Then it was the same page all along, and the reader's focus stayed where it was
    assert browser.execute_script("return window.cddsSamePage === true")
    assert browser.switch_to.active_element.get_attribute("id") == "f-type"
    _shot(browser, "14-history-live-failed")
