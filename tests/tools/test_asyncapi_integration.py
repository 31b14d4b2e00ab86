"""The public contract's documents are what the code generates today, byte for byte:
docs/asyncapi-integration.yaml and the JSON Schemas in docs/schemas/integration/."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from cdds_shared.messaging.public import (
    ALL_PUBLIC_EVENTS,
    EVENTS_EXCHANGE,
    REQUESTS_EXCHANGE,
    PublicRunAccepted,
)
from cdds_tools.asyncapi_integration import write_schemas

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "docs/asyncapi-integration.yaml"
SCHEMAS = ROOT / "docs/schemas/integration"
REGENERATE = "run `make asyncapi` and commit"


def _generate(out: Path) -> str:
    faststream = Path(sys.executable).parent / "faststream"
    factory = "cdds_tools.asyncapi_integration:create_app"
    command = [str(faststream), "docs", "gen", "--factory", factory, "--yaml", "--out", str(out)]
    subprocess.run(command, check=True, capture_output=True, cwd=ROOT)
    return out.read_text()


def test_the_committed_document_is_the_generated_one_byte_for_byte(tmp_path: Path) -> None:
    """Byte for byte, and twice: the order of channels and components is stable."""
    first = _generate(tmp_path / "one.yaml")
    assert first == _generate(tmp_path / "two.yaml"), "the generated order is not stable"
    assert first == DOCUMENT.read_text(), REGENERATE


def test_the_document_is_the_public_contract_only() -> None:
    document = yaml.safe_load(DOCUMENT.read_text())
    channels = document["channels"]
    addresses = {c["address"] for c in channels.values()}
    assert addresses == {"{tenant}.run.request"} | {
        f"{{tenant}}.{e.EVENT}" for e in ALL_PUBLIC_EVENTS
    }
    exchanges = {
        c["bindings"]["amqp"]["exchange"]["name"]
        for c in channels.values()
        if c["bindings"]["amqp"]["is"] == "routingKey"
    }
    queues = {
        c["bindings"]["amqp"]["queue"]["name"]
        for c in channels.values()
        if c["bindings"]["amqp"]["is"] == "queue"
    }
    assert exchanges == {REQUESTS_EXCHANGE}
    assert queues == {"cdds.int.{tenant}.{name}.events"}
    assert EVENTS_EXCHANGE in document["info"]["description"]
    text = DOCUMENT.read_text()
    for internal in ("cdds.events", "RunRequested", "PartStaged", "staging_key", "wrapped_key"):
        assert internal not in text, internal


def test_the_committed_schemas_are_the_generated_ones(tmp_path: Path) -> None:
    written = write_schemas(tmp_path)
    assert sorted(p.name for p in written) == sorted(p.name for p in SCHEMAS.iterdir()), REGENERATE
    for path in written:
        assert path.read_text() == (SCHEMAS / path.name).read_text(), f"{path.name}: {REGENERATE}"


@pytest.mark.parametrize(
    "name",
    ["RequestRun", "RunAccepted", "RunRejected", "RunCompleted", "RunFailed", "ArtifactExpired"],
)
def test_every_schema_is_valid_json_schema(name: str) -> None:
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["title"] == name


def test_an_event_as_sent_validates_against_its_published_schema() -> None:
    schema = json.loads((SCHEMAS / "RunAccepted.schema.json").read_text())
    event = PublicRunAccepted(tenant="acme", request_id="crm-1", run_id="r1")
    jsonschema.validate(event.model_dump(mode="json"), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"tenant": "acme", "request_id": "crm-1"}, schema)
