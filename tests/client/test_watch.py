"""``cdds run watch``'s loop against an in-memory gateway: it polls until the run ends, rides
out a few 5xx answers, and a missing run is "not found". Exit codes end to end, and on the real
gateway, are in tests/client/test_cli_stack.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from cdds_client.api import Api
from cdds_client.commands.runs import TOLERATED_ERRORS, watch
from cdds_client.errors import Failure

pytestmark = pytest.mark.unit

RUN = "6650f1c2a9e4b1d2c3f4a5b6"


def view(status: str, percent: float, records: int) -> dict[str, Any]:
    progress = {"percent": percent, "records": records, "estimated_total": 1000}
    return {"id": RUN, "status": status, "progress": progress | {"eta_seconds": 3.0}}


def gateway(answers: list[httpx.Response]) -> Api:
    replies: Iterator[httpx.Response] = iter(answers)

    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url.path == f"/api/v1/runs/{RUN}"
        return next(replies)

    return Api("http://gateway", "tok", transport=httpx.MockTransport(answer))


def test_it_polls_until_the_run_ends_one_line_each(capsys: pytest.CaptureFixture[str]) -> None:
    answers = [
        httpx.Response(200, json=view("queued", 0, 0)),
        httpx.Response(503, json={"error": "service_unavailable", "detail": "MongoDB"}),
        httpx.Response(200, json=view("running", 42.0, 420)),
        httpx.Response(200, json=view("completed", 100.0, 1000)),
    ]
    with gateway(answers) as api:
        assert watch(api, RUN, 0.001)["status"] == "completed"
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3
    assert lines[1].startswith(f"run {RUN}: running 42.0% 420/1000 records, ")
    assert lines[1].endswith(" records/s, 3 s left")


def test_too_many_errors_in_a_row_end_it() -> None:
    down = httpx.Response(502, json={"error": "bad_gateway", "detail": "the gateway is down"})
    with (
        gateway([down] * (TOLERATED_ERRORS + 1)) as api,
        pytest.raises(Failure, match="the gateway is down"),
    ):
        watch(api, RUN, 0.001)


def test_a_missing_run_is_not_found() -> None:
    missing = httpx.Response(404, json={"error": "not_found", "detail": "no such run"})
    with gateway([missing]) as api, pytest.raises(Failure, match=f"^run {RUN} not found$"):
        watch(api, RUN, 0.001)
