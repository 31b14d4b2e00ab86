"""What integrations hear of a run, on the in-memory fakes (unit: no server): every run's ending
and every expired file becomes its tenant's public event; the run document, not the message,
says how a run ended; nothing is announced of a run that is gone."""

from __future__ import annotations

from typing import Any

import pytest

from cdds_gateway.usecases.announce import public_event_of
from cdds_shared.messaging.messages import ArtifactExpired, RunCompleted, RunFailed
from cdds_shared.messaging.public import (
    PublicArtifactExpired,
    PublicRunCompleted,
    PublicRunFailed,
)
from cdds_shared.runs.model import RunStatus
from cdds_shared.runs.store import RunStore
from tests.fakes import FakeDocumentStore
from tests.shared.runs.test_public_events import AT, _artifact, _run

pytestmark = pytest.mark.unit

RUN = "6650f1c2a9e4b1d2c3f4a5b6"
GATEWAY = "https://cdds.example.com"


async def world(status: RunStatus, **run: Any) -> RunStore:
    runs = RunStore(FakeDocumentStore())
    await runs.insert(_run(status).model_copy(update=run))
    for part in (2, 1):
        await runs.add_artifact(_artifact(0, part, last_in_partition=part == 2))
    return runs


def completed() -> RunCompleted:
    return RunCompleted(correlation_id=RUN, run_id=RUN, status="completed")


async def test_a_completed_web_run_is_told_to_its_tenant_with_every_file() -> None:
    runs = await world("completed")

    event = await public_event_of(runs, completed(), gateway_url=GATEWAY)

    assert isinstance(event, PublicRunCompleted)
    assert (event.routing_key, event.request_id, event.status) == (
        "acme.run.completed",
        None,
        "completed",
    )
    assert [f.id for f in event.files] == [f"{RUN}-000-001", f"{RUN}-000-002"]
    assert event.files[0].content_url == f"{GATEWAY}/api/v1/artifacts/{RUN}-000-001/content"
    assert "object_key" not in event.model_dump_json()


async def test_an_integrations_run_carries_its_request_id() -> None:
    runs = await world("completed", request_id="ticket-42")

    event = await public_event_of(runs, completed(), gateway_url=GATEWAY)

    assert isinstance(event, PublicRunCompleted) and event.request_id == "ticket-42"


async def test_a_failed_run_is_told_with_its_reason() -> None:
    runs = await world("failed", request_id="ticket-42")
    failed = RunFailed(correlation_id=RUN, run_id=RUN, reason="UCS unreachable")

    event = await public_event_of(runs, failed, gateway_url=GATEWAY)

    assert isinstance(event, PublicRunFailed)
    assert (event.routing_key, event.reason, event.request_id) == (
        "acme.run.failed",
        "UCS unreachable",
        "ticket-42",
    )


@pytest.mark.parametrize(
    ("status", "message"),
    [
        ("running", completed()),
        ("failed", completed()),
        ("completed", RunFailed(correlation_id=RUN, run_id=RUN, reason="forged")),
    ],
)
async def test_an_event_the_run_document_contradicts_is_not_told(
    status: RunStatus, message: RunCompleted | RunFailed
) -> None:
    runs = await world(status)

    assert await public_event_of(runs, message, gateway_url=GATEWAY) is None


async def test_nothing_is_told_of_a_run_that_is_gone() -> None:
    runs = RunStore(FakeDocumentStore())

    assert await public_event_of(runs, completed(), gateway_url=GATEWAY) is None


async def test_an_expired_file_is_told_to_the_tenant_of_the_file() -> None:
    runs = await world("completed")
    expired = ArtifactExpired(
        correlation_id=RUN, artifact_id=f"{RUN}-000-001", run_id=RUN, deleted_at=AT
    )

    event = await public_event_of(runs, expired, gateway_url=GATEWAY)

    assert isinstance(event, PublicArtifactExpired)
    assert (event.routing_key, event.artifact_id, event.expired_at) == (
        "acme.artifact.expired",
        f"{RUN}-000-001",
        AT,
    )
    gone = expired.model_copy(update={"artifact_id": "unknown"})
    assert await public_event_of(runs, gone, gateway_url=GATEWAY) is None
