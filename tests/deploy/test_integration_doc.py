"""docs/integration.md keeps up with the public models: every reason code and every event is
explained, and its example request is one the contract accepts."""

from __future__ import annotations

import json
import re
from typing import get_args

import pytest

from cdds_shared.messaging.public import ALL_PUBLIC_EVENTS, RejectionCode
from cdds_shared.messaging.public_requests import read_request
from tests.deploy.conftest import REPO_ROOT

pytestmark = pytest.mark.unit

DOC = (REPO_ROOT / "docs/integration.md").read_text(encoding="utf-8")
JSON_BLOCKS = re.findall(r"```json\n(.*?)```", DOC, flags=re.DOTALL)


def test_every_reason_code_has_a_row() -> None:
    for code in get_args(RejectionCode):
        assert f"| `{code}` |" in DOC, code


def test_every_event_has_a_row() -> None:
    for event in ALL_PUBLIC_EVENTS:
        assert f"| `TENANT.{event.EVENT}` |" in DOC, event.EVENT


def test_the_example_request_is_accepted_by_the_contract() -> None:
    requests = [block for block in JSON_BLOCKS if '"record_type"' in block]
    assert len(requests) == 1
    request = read_request(requests[0])
    assert request.routing_key == "acme.run.request"


def test_the_printed_json_has_every_field_the_sample_reads() -> None:
    printed = json.loads(next(block for block in JSON_BLOCKS if '"token"' in block))
    assert set(printed) == {"id", "name", "tenant", "token", "amqp"}
    assert set(printed["amqp"]) == {
        "url",
        "username",
        "password",
        "vhost",
        "requests_exchange",
        "events_exchange",
        "routing_prefix",
    }
