"""The request id middleware on a bare ASGI app (docs/operations.md, "Logs"): a sane
``X-Request-ID`` is kept, anything else replaced; the id is echoed, bound into every log line
and audit entry of the request and gone after it; one JSON access line per request."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from cdds_gateway.edge.request_id import RequestContext
from cdds_shared.audit import AuditEvent
from cdds_shared.logging import configure_logging, get_logger
from cdds_shared.request_context import current_request_id

pytestmark = pytest.mark.unit

seen: list[dict[str, Any]] = []


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """Records what the request sees, logs one line, answers 201 (or raises on /boom)."""
    event = AuditEvent(tenant="t", actor="a", action="session.create")
    seen.append({"current": current_request_id(), "audit": event.request_id})
    get_logger("cdds.test").info("inside the request")
    if scope["path"] == "/boom":
        raise RuntimeError("boom")
    await send({"type": "http.response.start", "status": 201, "headers": [(b"x-request-id", b"x")]})
    await send({"type": "http.response.body", "body": b"ok"})


def client(access_log: bool = True) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=RequestContext(app, access_log=access_log))
    return httpx.AsyncClient(transport=transport, base_url="http://gateway.test")


def lines(err: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in err.splitlines() if line.strip()]


@pytest.fixture(autouse=True)
def fresh() -> None:
    seen.clear()


def json_logs() -> None:
    configure_logging("INFO", json=True)  # onto the test's captured stderr (set up: another)


async def test_a_sane_request_id_is_kept_echoed_logged_and_audited(
    capsys: pytest.CaptureFixture[str],
) -> None:
    json_logs()
    offered = "req-42.A_b"
    async with client() as http:
        response = await http.get("/api/v1/me?secret=1", headers={"X-Request-ID": offered})

    assert response.status_code == 201
    assert response.headers.get_list("x-request-id") == [offered], "echoed once, the app's dropped"
    assert seen == [{"current": offered, "audit": offered}]
    inside, access = lines(capsys.readouterr().err)
    assert inside["event"] == "inside the request" and inside["request_id"] == offered
    assert access["logger"] == "cdds.gateway.access" and access["event"] == "request"
    assert access["request_id"] == offered
    assert (access["method"], access["path"], access["status"]) == ("GET", "/api/v1/me", 201)
    assert access["client"] == "127.0.0.1" and access["duration_ms"] >= 0
    assert current_request_id() is None, "nothing remains after the request"


@pytest.mark.parametrize(
    "offered",
    ["", "a" * 129, "has space", "semi;colon", "ünïcode", "../../etc", "a\tb"],
    ids=["empty", "129-chars", "space", "semicolon", "unicode", "slash", "tab"],
)
async def test_an_insane_request_id_is_replaced(offered: str) -> None:
    async with client() as http:
        response = await http.get("/", headers={"X-Request-ID": offered.encode()})

    made = response.headers["x-request-id"]
    assert made != offered and len(made) == 32 and int(made, 16) >= 0
    assert seen == [{"current": made, "audit": made}]


async def test_without_a_header_each_request_gets_its_own_id() -> None:
    async with client() as http:
        first = (await http.get("/")).headers["x-request-id"]
        second = (await http.get("/")).headers["x-request-id"]

    assert first != second
    assert [s["current"] for s in seen] == [first, second]


async def test_the_longest_sane_id_is_kept() -> None:
    offered = "a" * 128
    async with client() as http:
        assert (await http.get("/", headers={"X-Request-ID": offered})).headers[
            "x-request-id"
        ] == offered


async def test_an_escaping_exception_is_logged_as_a_500(
    capsys: pytest.CaptureFixture[str],
) -> None:
    json_logs()
    async with client() as http:
        with pytest.raises(RuntimeError):
            await http.get("/boom", headers={"X-Request-ID": "boom-1"})

    access = lines(capsys.readouterr().err)[-1]
    assert (access["path"], access["status"], access["request_id"]) == ("/boom", 500, "boom-1")


async def test_no_access_line_when_it_is_off(capsys: pytest.CaptureFixture[str]) -> None:
    json_logs()
    async with client(access_log=False) as http:
        await http.get("/", headers={"X-Request-ID": "quiet"})

    logged = lines(capsys.readouterr().err)
    assert [line["event"] for line in logged] == ["inside the request"]


def test_an_audit_entry_outside_a_request_has_no_request_id() -> None:
    assert AuditEvent(tenant=None, actor="janitor", action="artifact.expire").request_id is None
