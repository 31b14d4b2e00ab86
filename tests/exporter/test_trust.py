"""The exporter's trust check (``cdds_exporter.trust.refusal``) with plain objects: a
``RunRequested`` starts work only when everything it claims matches what the gateway stored."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from cdds_exporter.trust import Evidence, refusal
from cdds_shared.identity.model import Tenant, User
from cdds_shared.messaging.messages import Timeframe
from cdds_shared.runs.model import GATEWAY, Run, utcnow

START = dt.datetime(2024, 1, 1, 12, 0, 0, 123456, tzinfo=dt.UTC)


def genuine(**changes: Any) -> Evidence:
    run = Run(
        id="run-1",
        tenant="big",
        ucs_tenant_id=101,
        owner="u-big",
        record_type="interaction",
        media_types=["email"],
        timeframe=Timeframe(start=START.replace(microsecond=123000)),  # as read back: ms
        split_size_bytes=1 << 20,
        requested_at=utcnow(),
        created_by=GATEWAY,
    )
    tenant = Tenant(name="big", ucs_tenant_id=101, created_at=utcnow())
    owner = User(
        id="u-big", username="bob", tenant="big", roles=["exporter"], password_hash="x",
        created_at=utcnow(),
    )  # fmt: skip
    values: dict[str, Any] = {"run": run, "tenant": tenant, "owner": owner, **changes}
    return Evidence(**values)


def request_of(found: Evidence, **changes: Any) -> Any:
    assert found.run is not None
    request = found.run.request().model_copy(update={"timeframe": Timeframe(start=START)})
    return request.model_copy(update=changes)


def test_a_request_repeating_the_gateways_run_is_trusted() -> None:
    found = genuine()
    assert refusal(request_of(found), found) is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"ucs_tenant_id": 202}, "differs from run run-1 in ucs_tenant_id"),
        ({"tenant": "victim"}, "differs from run run-1 in tenant"),
        ({"owner": "u-other"}, "differs from run run-1 in owner"),
        ({"record_type": "contact"}, "in record_type"),
        ({"media_types": None}, "in media_types"),
        ({"split_size_bytes": 1 << 30}, "in split_size_bytes"),
        ({"timeframe": Timeframe()}, "in timeframe"),
        ({"tenant": "victim", "ucs_tenant_id": 202}, "in tenant, ucs_tenant_id"),
    ],
)
def test_a_request_that_differs_from_its_run_is_refused(
    change: dict[str, Any], reason: str
) -> None:
    found = genuine()
    assert reason in (refusal(request_of(found, **change), found) or "")


def test_a_request_without_a_run_document_is_refused() -> None:
    found = genuine()
    request = request_of(found)
    assert refusal(request, Evidence(None, None, None)) == (
        "no run run-1: the gateway never created it"
    )


def test_a_run_the_gateway_did_not_create_is_refused() -> None:
    found = genuine()
    assert found.run is not None
    made_from_a_message = genuine(run=found.run.model_copy(update={"created_by": None}))
    assert refusal(request_of(found), made_from_a_message) == (
        "run run-1 was not created by the gateway"
    )


def test_the_run_must_read_its_own_tenants_ucs_tenant() -> None:
    found = genuine(tenant=Tenant(name="big", ucs_tenant_id=202, created_at=utcnow()))
    assert refusal(request_of(found), found) == "UCS tenant 101 is not the one of tenant 'big'"
    assert refusal(request_of(found), genuine(tenant=None)) == (
        "tenant 'big' of run run-1 does not exist"
    )


@pytest.mark.parametrize(
    ("owner", "reason"),
    [
        (None, "owner u-big is not a user of tenant 'big'"),
        ({"tenant": "victim"}, "owner u-big is not a user of tenant 'big'"),
        ({"disabled": True}, "owner u-big is disabled"),
        ({"roles": ["admin"]}, "owner u-big does not have the exporter role"),
    ],
)
def test_the_owner_must_be_an_enabled_exporter_of_the_tenant(
    owner: dict[str, Any] | None, reason: str
) -> None:
    found = genuine()
    assert found.owner is not None
    changed = None if owner is None else found.owner.model_copy(update=owner)
    assert refusal(request_of(found), genuine(owner=changed)) == reason
