"""The intake of integrations' ``RequestRun`` on the in-memory fakes (unit: no server): who may
ask, what is refused with which reason, and that the same request is one run."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cdds_gateway.usecases.intake import take_request
from cdds_shared.identity.integrations import Integration, IntegrationStore
from cdds_shared.messaging.messages import RunRequested
from cdds_shared.messaging.public import PublicRunAccepted, PublicRunRejected
from tests.fakes import FakeDocumentStore, RecordingPublisher
from tests.gateway.test_launch_unit import gateway_deps
from tests.unit_world import file_certificate

pytestmark = pytest.mark.unit


def body(**fields: Any) -> bytes:
    request = {
        "schema_version": 1,
        "request_id": "req-1",
        "tenant": "acme",
        "record_type": "interaction",
        "media_types": ["voice"],
        "timeframe": {"start": "2026-11-01T00:00:00Z", "end": "2026-11-02T00:00:00Z"},
        "split_size_bytes": None,
        "title": None,
    }
    return json.dumps(request | fields).encode()


async def world(*, certificate: bool = True) -> tuple[Any, RecordingPublisher, Integration]:
    documents, publish = FakeDocumentStore(), RecordingPublisher()
    deps = gateway_deps(documents, publish)
    await deps.identity.create_tenant("acme", 7001)
    await deps.identity.create_tenant("other", 7002)
    integration, _ = await IntegrationStore(documents, deps.identity).create("crm", "acme")
    if certificate:
        await file_certificate(documents, integration.user_id)
    return deps, publish, integration


async def test_a_request_starts_a_run_owned_by_the_integration() -> None:
    deps, publish, crm = await world()

    taken = await take_request(deps, body(), crm.broker_username)

    assert taken.dead_letter is None and isinstance(taken.answer, PublicRunAccepted)
    assert taken.answer.routing_key == "acme.run.accepted"
    run = await deps.runs.get(taken.answer.run_id)
    assert (run.owner, run.tenant, run.request_id) == (crm.user_id, "acme", "req-1")
    assert [m.run_id for m in publish.of(RunRequested)] == [run.id]
    events = await deps.audit.find(tenant="acme", action="run.start")
    assert [(e.actor, e.outcome) for e in events] == [("integration:crm", "success")]


async def test_the_same_request_again_is_the_same_run() -> None:
    deps, publish, crm = await world()

    first = await take_request(deps, body(), crm.broker_username)
    again = await take_request(deps, body(), crm.broker_username)
    other = await take_request(deps, body(request_id="req-2"), crm.broker_username)

    assert isinstance(first.answer, PublicRunAccepted)
    assert isinstance(again.answer, PublicRunAccepted)
    assert isinstance(other.answer, PublicRunAccepted)
    assert again.answer.run_id == first.answer.run_id != other.answer.run_id
    assert again.answer.message_id == first.answer.message_id
    assert len(publish.of(RunRequested)) == 2


@pytest.mark.parametrize("user_id", [None, "", "cdds-int.acme.nobody", "cdds-services"])
async def test_nobody_but_an_active_integration_is_heard(user_id: str | None) -> None:
    deps, publish, _ = await world()

    taken = await take_request(deps, body(), user_id)

    assert taken.answer is None and taken.dead_letter is not None
    assert taken.dead_letter.startswith("not_permitted: ")
    assert publish.messages == []


async def test_a_revoked_integration_is_not_heard() -> None:
    deps, publish, crm = await world()
    await deps.integrations.revoke("crm", "acme")

    taken = await take_request(deps, body(), crm.broker_username)

    assert taken.answer is None and publish.messages == []


@pytest.mark.parametrize(
    ("request_body", "code", "request_id"),
    [
        (b"{not json", "malformed", None),
        (b"[1, 2]", "malformed", None),
        (body(schema_version=2), "unsupported_schema_version", "req-1"),
        (body(tenant="other"), "tenant_mismatch", "req-1"),
        (
            body(timeframe={"start": "2026-11-02T00:00:00Z", "end": "2026-11-01T00:00:00Z"}),
            "invalid",
            "req-1",
        ),
        (body(record_type="contact", media_types=["voice"]), "invalid", "req-1"),
    ],
)
async def test_a_refused_request_is_answered_and_dead_lettered(
    request_body: bytes, code: str, request_id: str | None
) -> None:
    deps, publish, crm = await world()

    taken = await take_request(deps, request_body, crm.broker_username)

    assert isinstance(taken.answer, PublicRunRejected)
    assert (taken.answer.code, taken.answer.request_id) == (code, request_id)
    assert taken.answer.routing_key == "acme.run.rejected"  # the identity's tenant, always
    assert taken.dead_letter == taken.answer.reason and taken.dead_letter.startswith(f"{code}: ")
    assert publish.of(RunRequested) == []


async def test_without_a_certificate_nothing_runs() -> None:
    deps, publish, crm = await world(certificate=False)

    taken = await take_request(deps, body(), crm.broker_username)

    assert isinstance(taken.answer, PublicRunRejected)
    assert taken.answer.code == "certificate_required"
    assert publish.of(RunRequested) == []
