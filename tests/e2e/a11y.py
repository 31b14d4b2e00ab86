"""axe-core in the browser tests (docs/web.md § Accessibility): every page a test visits is checked
against the WCAG 2.0 and 2.1 A and AA rules, and a test fails listing each violation. axe-core is
fetched by ``scripts/axe-core.sh`` (run by ``make bootstrap``) at the version of
``tests/e2e/axe-core.env``; a missing copy fails the test, saying how to get it: never a skip."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.remote.webdriver import WebDriver

__all__ = ["WCAG_TAGS", "assert_accessible", "axe_script", "describe", "violations"]

HERE = Path(__file__).resolve().parent
CACHE_DIR = Path(os.environ.get("CDDS_CACHE_DIR") or Path.home() / ".cache" / "cdds")
WCAG_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")
# axe.run is asynchronous: the last argument of an async script is Selenium's callback. A failure
# inside axe comes back as {"error": ...} rather than a hung script.
RUN = """
const done = arguments[arguments.length - 1];
axe.run(document, {runOnly: {type: "tag", values: arguments[0]}, resultTypes: ["violations"]})
  .then((results) => done({violations: results.violations}))
  .catch((error) => done({error: String(error)}));
"""


def _version() -> str:
    for line in (HERE / "axe-core.env").read_text().splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "AXE_CORE_VERSION":
            return value.strip()
    raise AssertionError("tests/e2e/axe-core.env names no AXE_CORE_VERSION")


@cache
def axe_script() -> str:
    """The pinned axe.min.js; the test fails with how to fetch it when it is missing."""
    path = CACHE_DIR / f"axe-core-{_version()}" / "axe.min.js"
    if not path.is_file():
        pytest.fail(
            f"{path} is missing: run `make bootstrap` (or scripts/axe-core.sh) to fetch axe-core",
            pytrace=False,
        )
    return path.read_text(encoding="utf-8")


def violations(driver: WebDriver) -> list[dict[str, Any]]:
    """The WCAG 2 A/AA violations axe finds on the page the browser shows now."""
    # Injected through WebDriver, not a <script> tag: the pages' CSP allows only their own files,
    # and the tests must not need the application to serve axe.
    if not driver.execute_script("return typeof window.axe === 'object'"):
        driver.execute_script(axe_script())
    driver.set_script_timeout(30)
    answer: dict[str, Any] = driver.execute_async_script(RUN, list(WCAG_TAGS))
    if "error" in answer:
        raise AssertionError(f"axe-core could not run: {answer['error']}")
    found: list[dict[str, Any]] = answer["violations"]
    return found


def describe(found: list[dict[str, Any]]) -> str:
    """One line per violation: rule id, impact, help and link, then each node's target."""
    lines = []
    for v in found:
        lines.append(f"- {v['id']} ({v.get('impact')}): {v['help']} <{v.get('helpUrl', '')}>")
        for node in v.get("nodes", ()):
            target = " ".join(str(t) for t in node.get("target", ()))
            summary = (node.get("failureSummary") or "").replace("\n", " ")
            lines.append(f"    {target}  {summary}".rstrip())
    return "\n".join(lines)


def assert_accessible(driver: WebDriver, page: str) -> None:
    """Fail unless axe finds no WCAG 2 A/AA violation on ``page`` (its name, for the message)."""
    found = violations(driver)
    if found:
        count = sum(len(v.get("nodes", ())) for v in found)
        pytest.fail(
            f"axe-core: {len(found)} WCAG 2 A/AA rule(s) violated on {page} ({driver.current_url}),"
            f" {count} element(s):\n{describe(found)}",
            pytrace=False,
        )
