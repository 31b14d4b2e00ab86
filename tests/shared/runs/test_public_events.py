"""Internal runs, artifacts and events become the public events, with nothing internal in them
and the same message id for the same announcement."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cdds_shared.messaging.messages import ArtifactExpired, RunFailed
from cdds_shared.messaging.public import PublicRunCompleted
from cdds_shared.runs.model import Artifact, MemberCount, Run, RunStatus
from cdds_shared.runs.public_events import (
    content_url,
    public_artifact_expired,
    public_run_accepted,
    public_run_completed,
    public_run_failed,
)

pytestmark = pytest.mark.unit

AT = datetime(2026, 3, 2, 6, 5, 12, tzinfo=UTC)
GATEWAY = "https://cdds.example.com/"


def _run(status: RunStatus = "completed", run_id: str = "6650f1c2a9e4b1d2c3f4a5b6") -> Run:
    return Run.model_validate(
        {
            "_id": run_id,
            "tenant": "acme",
            "ucs_tenant_id": 101,
            "owner": "u-1",
            "record_type": "interaction",
            "split_size_bytes": 1 << 30,
            "status": status,
            "requested_at": AT,
            "finished_at": AT + timedelta(minutes=5),
        }
    )


def _artifact(partition: int, part: int, **changes: object) -> Artifact:
    run_id = "6650f1c2a9e4b1d2c3f4a5b6"
    doc = {
        "_id": f"{run_id}-{partition:03d}-{part:03d}",
        "run_id": run_id,
        "tenant": "acme",
        "owner": "u-1",
        "record_type": "interaction",
        "partition": partition,
        "part": part,
        "last_in_partition": True,
        "name": f"Interaction-{run_id}-{partition:03d}-{part:03d}.zip.p7m",
        "object_key": f"acme/{run_id}/{partition}-{part}.zip.p7m",
        "size": 1000 + part,
        "sha256": "ab" * 32,
        "members": [MemberCount(name=f"Interaction-{run_id}.jsonl", records=7)],
        "seal": "cms-authenveloped-aes256gcm-rsaoaep-sha256",
        "certificate_sha256": "cd" * 32,
        "created_at": AT,
        "expires_at": AT + timedelta(days=30),
        **changes,
    }
    return Artifact.model_validate(doc)


def test_content_url_is_the_gateways_download_route() -> None:
    assert content_url(GATEWAY, "r-000-001") == (
        "https://cdds.example.com/api/v1/artifacts/r-000-001/content"
    )
    assert content_url("http://127.0.0.1:8080", "a/b") == (
        "http://127.0.0.1:8080/api/v1/artifacts/a%2Fb/content"
    )


def test_a_completed_run_lists_every_available_file_in_part_order() -> None:
    artifacts = [
        _artifact(1, 0),
        _artifact(0, 1),
        _artifact(0, 0),
        _artifact(0, 2, status="deleted"),
        _artifact(0, 3, run_id="another-run"),
    ]
    event = public_run_completed(_run(), artifacts, gateway_url=GATEWAY, request_id="crm-1")
    assert [f.id.rsplit("-", 2)[1:] for f in event.files] == [
        ["000", "000"],
        ["000", "001"],
        ["001", "000"],
    ]
    first = event.model_dump(mode="json")["files"][0]
    assert first == {
        "id": "6650f1c2a9e4b1d2c3f4a5b6-000-000",
        "name": "Interaction-6650f1c2a9e4b1d2c3f4a5b6-000-000.zip.p7m",
        "size": 1000,
        "sha256": "ab" * 32,
        "records": {"Interaction-6650f1c2a9e4b1d2c3f4a5b6.jsonl": 7},
        "content_url": (
            "https://cdds.example.com/api/v1/artifacts/6650f1c2a9e4b1d2c3f4a5b6-000-000/content"
        ),
        "expires_at": "2026-04-01T06:05:12Z",
    }
    assert (event.tenant, event.request_id, event.status) == ("acme", "crm-1", "completed")
    assert event.routing_key == "acme.run.completed"
    assert event.occurred_at == AT + timedelta(minutes=5)


def test_a_run_without_data_completes_with_no_files() -> None:
    event = public_run_completed(_run("no_data"), [], gateway_url=GATEWAY, request_id=None)
    assert (event.status, event.files, event.request_id) == ("no_data", [], None)


@pytest.mark.parametrize("status", ["queued", "running", "failed", "cancelled"])
def test_an_unfinished_or_failed_run_is_not_announced_completed(status: RunStatus) -> None:
    with pytest.raises(ValueError, match="not completed"):
        public_run_completed(_run(status), [], gateway_url=GATEWAY, request_id=None)


def test_the_same_announcement_has_the_same_message_id() -> None:
    one = public_run_completed(_run(), [_artifact(0, 0)], gateway_url=GATEWAY, request_id="r")
    again = public_run_completed(_run(), [_artifact(0, 0)], gateway_url=GATEWAY, request_id="r")
    other = public_run_completed(_run(run_id="x"), [], gateway_url=GATEWAY, request_id="r")
    assert one.message_id == again.message_id != other.message_id
    assert (
        public_run_accepted(_run(), "r").message_id == public_run_accepted(_run(), "r").message_id
    )
    assert public_run_accepted(_run(), "r").message_id != one.message_id


def test_a_repeated_request_gets_the_same_run_accepted() -> None:
    first, second = public_run_accepted(_run(), "crm-1"), public_run_accepted(_run(), "crm-1")
    assert first == second
    assert first.model_dump(mode="json") | {"message_id": None, "occurred_at": None} == {
        "schema_version": 1,
        "message_id": None,
        "occurred_at": None,
        "tenant": "acme",
        "request_id": "crm-1",
        "run_id": "6650f1c2a9e4b1d2c3f4a5b6",
    }
    assert first.routing_key == "acme.run.accepted"


def test_an_internal_run_failed_becomes_public() -> None:
    internal = RunFailed(correlation_id="r1", run_id="r1", reason="no certificate", occurred_at=AT)
    event = public_run_failed(internal, tenant="acme", request_id="crm-1")
    assert event.model_dump(mode="json") | {"message_id": None} == {
        "schema_version": 1,
        "message_id": None,
        "occurred_at": "2026-03-02T06:05:12Z",
        "tenant": "acme",
        "run_id": "r1",
        "request_id": "crm-1",
        "reason": "no certificate",
    }
    assert event.routing_key == "acme.run.failed"


def test_an_internal_artifact_expired_becomes_public() -> None:
    deleted = AT + timedelta(days=30, seconds=3)
    internal = ArtifactExpired(
        correlation_id="r1", artifact_id="r1-000-000", run_id="r1", deleted_at=deleted
    )
    event = public_artifact_expired(internal, tenant="acme")
    assert (event.artifact_id, event.run_id, event.expired_at) == ("r1-000-000", "r1", deleted)
    assert event.routing_key == "acme.artifact.expired"
    assert "deleted_at" not in event.model_dump()


def test_the_public_completion_has_no_internal_field() -> None:
    event = public_run_completed(_run(), [_artifact(0, 0)], gateway_url=GATEWAY, request_id="r")
    text = event.model_dump_json()
    for internal in ("object_key", "partition", "owner", "certificate_sha256", "seal", "acme/"):
        assert internal not in text, internal
    assert PublicRunCompleted.model_validate_json(text) == event
