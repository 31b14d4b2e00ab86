"""The sample integrator (docs/examples/integrator.py) cannot drift from the contract: it imports
nothing but aio-pika, httpx and the standard library, its arguments parse as documented, and the
``RequestRun`` it builds is one the public model accepts."""

from __future__ import annotations

import ast
import importlib.util
import json
import sys
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from cdds_shared.messaging.public import (
    EVENTS_EXCHANGE,
    REQUESTS_EXCHANGE,
    PublicTimeframe,
    events_queue_prefix,
)
from cdds_shared.messaging.public_requests import read_request

pytestmark = pytest.mark.unit

SCRIPT = Path(__file__).resolve().parents[2] / "docs/examples/integrator.py"


@pytest.fixture(scope="module")
def integrator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cdds_sample_integrator", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _printed(tmp_path: Path, **amqp: str) -> Path:
    """What ``cdds-admin integration create`` prints (docs/integration.md)."""
    printed = {
        "id": "int-1",
        "name": "crm",
        "tenant": "acme",
        "token": "cdds_int_secret",
        "amqp": {
            "url": "amqp://127.0.0.1:5672/",
            "username": "cdds-int-acme-crm",
            "password": "p@ss/word",
            "vhost": "/",
            "requests_exchange": REQUESTS_EXCHANGE,
            "events_exchange": EVENTS_EXCHANGE,
            "routing_prefix": "acme.",
            **amqp,
        },
    }
    path = tmp_path / "integration.json"
    path.write_text(json.dumps(printed))
    return path


def test_it_imports_only_aio_pika_httpx_and_the_standard_library() -> None:
    tree = ast.parse(SCRIPT.read_text())
    imported = {
        (alias.name if isinstance(node, ast.Import) else node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    }
    foreign = imported - set(sys.stdlib_module_names) - {"__future__"}
    assert foreign == {"aio_pika", "httpx"}


def test_the_arguments_parse_with_their_defaults(integrator: ModuleType) -> None:
    args = integrator.parse_args(["integration.json"])
    assert (args.record_type, args.media_types, args.start, args.end) == (
        "interaction",
        None,
        None,
        None,
    )
    assert (args.out, args.timeout, args.request_id) == (Path("cdds-files"), 3600.0, None)


def test_every_option_parses(integrator: ModuleType) -> None:
    args = integrator.parse_args(
        ["i.json", "--record-type", "interaction", "--media-type", "voice", "--media-type",
         "email", "--start", "2026-01-01T00:00:00Z", "--end", "2026-02-01T01:00:00+01:00",
         "--split-size", "268435456", "--title", "January", "--request-id", "crm-7",
         "--out", "files", "--timeout", "60"]
    )  # fmt: skip
    assert args.media_types == ["voice", "email"]
    assert (args.start, args.end) == ("2026-01-01T00:00:00+00:00", "2026-02-01T01:00:00+01:00")
    assert (args.split_size, args.title, args.request_id) == (268435456, "January", "crm-7")


@pytest.mark.parametrize("moment", ["2026-01-01T00:00:00", "yesterday"])
def test_a_moment_without_a_time_zone_is_refused(integrator: ModuleType, moment: str) -> None:
    with pytest.raises(SystemExit) as exited:
        integrator.parse_args(["i.json", "--start", moment])
    assert exited.value.code == 2


def _request(integrator: ModuleType, tmp_path: Path, argv: list[str]) -> dict[str, Any]:
    integration = integrator.load_integration(_printed(tmp_path))
    body: dict[str, Any] = integrator.build_request(integrator.parse_args(argv), integration)
    return body


def test_its_request_is_a_request_run_of_the_contract(
    integrator: ModuleType, tmp_path: Path
) -> None:
    argv = ["i.json", "--media-type", "voice", "--start", "2026-01-01T00:00:00Z"]
    argv += ["--end", "2026-02-01T00:00:00Z", "--split-size", "1048576", "--title", "Jan"]
    argv += ["--request-id", "crm-7"]
    body = _request(integrator, tmp_path, argv)
    request = read_request(json.dumps(body))
    assert (request.request_id, request.tenant, request.media_types) == ("crm-7", "acme", ["voice"])
    assert request.split_size_bytes == 1048576 and request.title == "Jan"
    assert request.timeframe.end is not None and request.timeframe.end.isoformat().startswith(
        "2026-02-01T00:00:00"
    )
    assert request.routing_key == "acme.run.request"


def test_its_default_request_is_valid_and_new_each_time(
    integrator: ModuleType, tmp_path: Path
) -> None:
    first = read_request(json.dumps(_request(integrator, tmp_path, ["i.json"])))
    second = read_request(json.dumps(_request(integrator, tmp_path, ["i.json"])))
    assert first.timeframe == PublicTimeframe() and first.record_type == "interaction"
    assert uuid.UUID(first.request_id) and first.request_id != second.request_id


def test_its_queue_is_one_the_broker_lets_it_declare(
    integrator: ModuleType, tmp_path: Path
) -> None:
    integration = integrator.load_integration(_printed(tmp_path))
    assert integrator.events_queue(integration).startswith(events_queue_prefix("acme", "crm"))


def test_the_broker_url_carries_the_credentials_and_vhost(
    integrator: ModuleType, tmp_path: Path
) -> None:
    integration = integrator.load_integration(_printed(tmp_path, vhost="cdds/prod"))
    url = integrator.amqp_url(integration)
    assert url == "amqp://cdds-int-acme-crm:p%40ss%2Fword@127.0.0.1:5672/cdds%2Fprod"


def test_a_file_that_is_not_the_printed_json_stops_it_clearly(
    integrator: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"name": "crm", "tenant": "acme", "amqp": {"url": "x"}}))
    assert integrator.main([str(broken)]) == 2
    assert "no ['token', 'amqp.username'" in capsys.readouterr().err
    assert integrator.main([str(tmp_path / "missing.json")]) == 2


def test_an_unreachable_broker_stops_it_clearly(
    integrator: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _printed(tmp_path, url="amqp://127.0.0.1:1/")
    assert integrator.main([str(path), "--timeout", "20", "--out", str(tmp_path / "o")]) == 1
    assert "integrator: broker:" in capsys.readouterr().err
