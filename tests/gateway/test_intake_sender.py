"""Who an integration's request is from, as the intake's subscriber decides (unit: no server)."""

from __future__ import annotations

from typing import Any

import pytest

from cdds_gateway.intake import IDENTITY_HEADER, sender

pytestmark = pytest.mark.unit


def test_a_first_delivery_is_from_its_user_id_and_keeps_it_for_retries() -> None:
    headers: dict[str, Any] = {IDENTITY_HEADER: "cdds-int.victim.crm"}  # forged by the publisher
    assert sender("cdds.integration.requests", "cdds-int.acme.crm", headers) == "cdds-int.acme.crm"
    assert headers[IDENTITY_HEADER] == "cdds-int.acme.crm"


def test_a_first_delivery_without_user_id_is_from_nobody_whatever_its_headers() -> None:
    headers: dict[str, Any] = {IDENTITY_HEADER: "cdds-int.acme.crm"}
    assert sender("cdds.integration.requests", None, headers) is None
    assert IDENTITY_HEADER not in headers


def test_a_retried_delivery_is_from_the_identity_the_first_one_proved() -> None:
    headers: dict[str, Any] = {IDENTITY_HEADER: "cdds-int.acme.crm"}
    assert sender("", "cdds-services", headers) == "cdds-int.acme.crm"
    assert sender("", None, {}) is None


@pytest.mark.parametrize("exchange", ["cdds.events", "cdds.integration.events", None])
def test_any_other_way_in_is_from_nobody(exchange: str | None) -> None:
    assert sender(exchange, "cdds-int.acme.crm", {IDENTITY_HEADER: "cdds-int.acme.crm"}) is None
