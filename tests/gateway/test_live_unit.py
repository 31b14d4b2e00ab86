"""Live progress and labels in the templates, without a server (docs/web.md § Live progress,
§ Accessibility): a page with a live run gets the polite region and a <noscript> Refresh link,
never a reload timer; a page without one gets neither; every Artifacts checkbox is named."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import pytest

from cdds_gateway.principal import Principal
from cdds_gateway.web.formatting import POLL_SECONDS, live
from cdds_gateway.web.render import TEMPLATES

pytestmark = pytest.mark.unit

PRINCIPAL = Principal("u-ana", "ana", "acme", 7001, ("exporter",), csrf_token="t")


def _run(status: str) -> dict[str, Any]:
    return {
        "id": f"run-{status}",
        "status": status,
        "type": "interaction",
        "percent": 12.5,
        "eta_text": "1 min 0 s",
        "queue_position": None,
        "error": "why" if status == "failed" else None,
        "started_at": "",
        "requested_at": "",
        "files": 0,
        "job_title": "Nightly",
    }


def _history(*statuses: str) -> str:
    rows = [_run(s) for s in statuses]
    request = SimpleNamespace(url=SimpleNamespace(path="/history", query="type=interaction"))
    return TEMPLATES.env.get_template("history.html").render(
        principal=PRINCIPAL,
        flashes=[],
        runs=rows,
        live=live(rows),
        filters={"status": "", "type": "interaction", "sort": ""},
        paging=None,
        request=request,
    )


@pytest.mark.parametrize("status", ["queued", "running"])
def test_a_live_run_is_polled_with_a_refresh_link_for_no_javascript(status: str) -> None:
    assert live([_run("completed"), _run(status)]) == POLL_SECONDS
    page = _history("completed", status)
    assert "http-equiv" not in page
    assert re.search(r'<div id="live"[^>]*aria-live="polite"[^>]*data-poll-seconds="3"', page)
    fallback = re.search(r"<noscript>(.*?)</noscript>", page, re.S)
    assert fallback is not None
    assert '<a href="/history?type=interaction" id="refresh">Refresh</a>' in fallback.group(1)
    assert f'data-run-id="run-{status}" data-status="{status}" data-label="Nightly"' in page


def test_a_page_of_finished_runs_watches_nothing() -> None:
    assert live([_run("completed"), _run("failed"), None]) is None
    page = _history("completed", "failed", "no_data")
    assert 'id="live"' not in page and "<noscript>" not in page and "http-equiv" not in page
    assert '<div class="muted run-error">why</div>' in page


def test_every_artifacts_checkbox_has_a_name() -> None:
    artifacts = [
        {
            "id": f"a{i}",
            "name": f"Interaction-r-0-{i}.zip.p7m",
            "type": "interaction",
            "created_at": "",
            "size_text": "1.0 MB",
            "sha256": "ab" * 32,
            "remaining_days": 30,
        }
        for i in range(3)
    ]
    page = TEMPLATES.env.get_template("artifacts.html").render(
        principal=PRINCIPAL,
        flashes=[],
        artifacts=artifacts,
        retention_days=30,
        sort_links=dict.fromkeys(("name", "created", "size", "expires"), "/artifacts"),
        paging=None,
    )
    boxes = re.findall(r'<input type="checkbox"[^>]*>', page)
    assert len(boxes) == 4
    assert all(re.search(r'aria-label="[^"]+"', box) for box in boxes), boxes
    assert 'aria-label="Select Interaction-r-0-2.zip.p7m"' in page
