"""Contract snapshots: a change to any message's JSON schema must be deliberate.

Regenerate after an intended change with ``CDDS_UPDATE_SNAPSHOTS=1 make test-only``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cdds_shared.messaging import ALL_MESSAGES, Message, RunRequested

SNAPSHOTS = Path(__file__).parent / "snapshots"


@pytest.mark.parametrize("model", ALL_MESSAGES, ids=lambda m: m.__name__)
def test_schema_matches_snapshot(model: type[Message]) -> None:
    schema = json.dumps(model.model_json_schema(), indent=2, sort_keys=True) + "\n"
    path = SNAPSHOTS / f"{model.__name__}.json"
    if os.environ.get("CDDS_UPDATE_SNAPSHOTS") == "1":
        path.write_text(schema)
    assert path.exists(), f"no snapshot for {model.__name__}: run with CDDS_UPDATE_SNAPSHOTS=1"
    assert schema == path.read_text(), f"{model.__name__} schema changed: bump schema_version"


@pytest.mark.parametrize("model", ALL_MESSAGES, ids=lambda m: m.__name__)
def test_every_message_is_versioned_and_routed(model: type[Message]) -> None:
    fields = model.model_fields
    assert {"schema_version", "message_id", "correlation_id", "occurred_at"} <= set(fields)
    assert model.ROUTING_KEY.count(".") == 1
    assert all(f.description for name, f in fields.items() if name in Message.model_fields)


def test_round_trip_keeps_every_field() -> None:
    message = RunRequested(
        correlation_id="run-1",
        run_id="run-1",
        tenant="acme",
        ucs_tenant_id=101,
        owner="u1",
        record_type="interaction",
        media_types=["email"],
    )
    again = RunRequested.model_validate_json(message.model_dump_json())
    assert again == message


def test_routing_keys_are_unique() -> None:
    keys = [m.ROUTING_KEY for m in ALL_MESSAGES]
    assert len(keys) == len(set(keys))
