"""The public contract: a ``RequestRun`` is read strictly, every refusal has the reason the
integrator is answered with, and no public message carries an internal field."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel

from cdds_shared.messaging.messages import (
    ALL_MESSAGES,
    ExportPartition,
    PartSealed,
    PartStaged,
    RunRequested,
)
from cdds_shared.messaging.public import (
    ALL_PUBLIC_EVENTS,
    ALL_PUBLIC_MESSAGES,
    PublicFile,
    PublicRequestRun,
    PublicRunAccepted,
    PublicRunRejected,
    PublicTimeframe,
)
from cdds_shared.messaging.public_requests import RequestRefused, read_request
from cdds_shared.runs.model import Artifact, Run

pytestmark = pytest.mark.unit


def _body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schema_version": 1,
        "request_id": "crm-7f3a",
        "tenant": "acme",
        "record_type": "interaction",
        "media_types": ["voice", "email"],
        "timeframe": {"start": "2026-01-01T00:00:00Z", "end": "2026-02-01T00:00:00+01:00"},
        "split_size_bytes": 268435456,
        "title": "CRM archive, January",
    }
    body.update(changes)
    return body


def _refused(body: object) -> RequestRefused:
    raw = body if isinstance(body, (bytes, str)) else json.dumps(body)
    with pytest.raises(RequestRefused) as caught:
        read_request(raw)
    return caught.value


def test_a_valid_request_is_read_with_every_field() -> None:
    request = read_request(json.dumps(_body()))
    assert request.request_id == "crm-7f3a"
    assert request.media_types == ["voice", "email"]
    assert request.timeframe.end is not None and request.timeframe.end.utcoffset() is not None
    assert request.routing_key == "acme.run.request"


def test_the_nullable_fields_may_be_null_or_left_out() -> None:
    nulls = _body(media_types=None, timeframe={"start": None, "end": None})
    nulls |= {"split_size_bytes": None, "title": None}
    assert read_request(json.dumps(nulls)).timeframe == PublicTimeframe()
    minimal = {k: _body()[k] for k in ("schema_version", "request_id", "tenant", "record_type")}
    assert read_request(json.dumps(minimal)).split_size_bytes is None


@pytest.mark.parametrize(
    ("body", "code", "detail"),
    [
        (b"{not json", "malformed", "not JSON"),
        (b"\xff\xfe", "malformed", "not JSON"),
        ("[1, 2]", "malformed", "not a JSON object"),
        (_body(schema_version=2), "unsupported_schema_version", "schema_version 2"),
        (_body(schema_version="1"), "unsupported_schema_version", 'schema_version "1"'),
        (_body(schema_version=True), "unsupported_schema_version", "schema_version true"),
        ({"request_id": "x"}, "unsupported_schema_version", "schema_version null"),
        (_body(owner="someone-else"), "invalid", "owner: Extra inputs are not permitted"),
        (
            _body(timeframe={"start": "2026-02-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"}),
            "invalid",
            "timeframe.end: must be after timeframe.start",
        ),
        (
            _body(timeframe={"start": "2026-02-01T00:00:00Z", "end": "2026-02-01T00:00:00Z"}),
            "invalid",
            "timeframe.end: must be after timeframe.start",
        ),
        (
            _body(timeframe={"start": "2026-01-01T00:00:00", "end": None}),
            "invalid",
            "timeframe.start: Input should have timezone info",
        ),
        (_body(timeframe={"start": 1767225600, "end": None}), "invalid", "timeframe.start"),
        (_body(timeframe={"start": None, "end": None, "kind": "all"}), "invalid", "timeframe.kind"),
        (_body(record_type="call"), "invalid", "record_type"),
        (_body(record_type="contact"), "invalid", "media_types: media_types apply to interaction"),
        (_body(media_types=["voice mail"]), "invalid", "media_types: media types are names"),
        (_body(media_types=[]), "invalid", "media_types"),
        (_body(split_size_bytes="268435456"), "invalid", "split_size_bytes"),
        (_body(split_size_bytes=1024), "invalid", "split_size_bytes"),
        (_body(title="  "), "invalid", "title: title must not be blank"),
        (_body(tenant=""), "invalid", "tenant"),
        (_body(request_id="has spaces"), "invalid", "request_id"),
        ({k: v for k, v in _body().items() if k != "record_type"}, "invalid", "record_type"),
    ],
)
def test_a_refused_request_says_why(body: object, code: str, detail: str) -> None:
    refused = _refused(body)
    assert refused.code == code
    assert detail in refused.detail, refused.detail
    assert refused.reason == f"{code}: {refused.detail}"


def test_the_rejection_keeps_a_readable_request_id_only() -> None:
    assert _refused(_body(schema_version=9)).request_id == "crm-7f3a"
    assert _refused(_body(record_type="call")).request_id == "crm-7f3a"
    assert _refused(_body(request_id="x" * 500, record_type="call")).request_id is None
    assert _refused(b"{not json").request_id is None


def test_the_rejection_event_is_on_the_identitys_tenant() -> None:
    refused = _refused(_body(tenant="other", record_type="call"))
    event = refused.event("acme")
    assert isinstance(event, PublicRunRejected)
    assert event.routing_key == "acme.run.rejected"
    assert event.model_dump(mode="json")["reason"].startswith("invalid: record_type")


def test_every_event_has_the_envelope_and_a_tenant_routing_key() -> None:
    for event in ALL_PUBLIC_EVENTS:
        fields = set(event.model_fields)
        assert {"schema_version", "message_id", "occurred_at", "tenant"} <= fields, event
    accepted = PublicRunAccepted(tenant="acme", request_id="r", run_id="x")
    assert accepted.routing_key == "acme.run.accepted"
    keys = [e.EVENT for e in ALL_PUBLIC_EVENTS]
    assert keys == [
        "run.accepted",
        "run.rejected",
        "run.completed",
        "run.failed",
        "artifact.expired",
    ]


def test_public_json_names_are_the_contracts() -> None:
    titles = [m.model_json_schema()["title"] for m in ALL_PUBLIC_MESSAGES]
    assert titles == [
        "RequestRun",
        "RunAccepted",
        "RunRejected",
        "RunCompleted",
        "RunFailed",
        "ArtifactExpired",
    ]
    assert set(PublicFile.model_fields) == {
        "id",
        "name",
        "size",
        "sha256",
        "records",
        "content_url",
        "expires_at",
    }


def _field_names(model: type[BaseModel]) -> set[str]:
    return set(model.model_fields)


# Fields the internal messages and documents have and the contract shares by name are allowed.
INTERNAL_ONLY = (
    _field_names(PartStaged)
    | _field_names(PartSealed)
    | _field_names(Artifact)
    | _field_names(Run)
    | _field_names(RunRequested)
    | _field_names(ExportPartition)
) - {
    "records",
    "schema_version",
    "message_id",
    "occurred_at",
    "tenant",
    "run_id",
    "request_id",  # the run keeps the integration's idempotency key
    "artifact_id",
    "id",
    "name",
    "size",
    "sha256",
    "expires_at",
    "record_type",
    "media_types",
    "timeframe",
    "split_size_bytes",
    "status",
}


def _schema_properties(schema: dict[str, Any]) -> set[str]:
    names: set[str] = set(schema.get("properties", {}))
    for definition in schema.get("$defs", {}).values():
        names |= set(definition.get("properties", {}))
    return names


@pytest.mark.parametrize("model", ALL_PUBLIC_MESSAGES, ids=lambda m: m.__name__)
def test_no_public_message_carries_an_internal_field(model: type[BaseModel]) -> None:
    internal = {"staging_key", "wrapped_key", "partition", "object_key", "owner", "ucs_tenant_id"}
    assert internal <= INTERNAL_ONLY
    leaked = _schema_properties(model.model_json_schema()) & INTERNAL_ONLY
    assert not leaked, f"{model.__name__} carries internal fields {leaked}"


def test_the_public_classes_are_not_the_internal_ones() -> None:
    internal = {m.__name__ for m in ALL_MESSAGES}
    assert not internal & {m.__name__ for m in ALL_PUBLIC_MESSAGES}
    assert PublicRequestRun.model_config.get("extra") == "forbid"
